"""`mash-report`: the hub's monitoring report, and the national roll-up.

    mash-report hub --from 2026-11-01 --to 2026-11-30 --out var/report/nov
        [--client-config ops-reader.properties] [--unsuppressed-json restricted.json]
    mash-report national hub-a.json hub-b.json --out var/report/national
    mash-report render restricted.json --out var/report/nov

`hub` reads the hub's topics as the read-only operations principal and writes report.html,
its PNG plots, report.json (schema-v1, suppressed) and csv/. `national` merges hubs'
unsuppressed reports of one period into one comparison, suppressed the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.contracts import NotificationKind, Rag
from mash_common.errors import MashError
from mash_common.hubconfig import default_config_dir, load_hub_config
from mash_common.logs import configure_logging
from mash_common.recipients import load_recipient_policy
from mash_hub.services.intake.policy import load_policy, parse_duration
from mash_ops.report.document import (
    Report,
    ReportFormatError,
    from_json,
    national,
    to_json,
    validate,
    write_csv,
)
from mash_ops.report.events import EventSource, KafkaEventSource
from mash_ops.report.figures import ReportOptions, compute
from mash_ops.report.render import HUB_PLOTS, NATIONAL_PLOTS, write_html
from mash_ops.report.tables import check_parts

logger = logging.getLogger(__name__)

# Role titles an override's authoriser is reported as when the referral names one of them
# (case-insensitive). Anything else in that free-text field may be a person's name.
DEFAULT_AUTHORISER_ROLES = (
    "MASH team manager", "MASH manager", "Team manager", "Service manager", "Head of service",
    "Designated safeguarding lead", "Police sergeant", "Police inspector",
    "Named nurse for safeguarding", "Designated doctor for safeguarding",
)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_moment(text: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A date (the start of that day, or with end_of_day the start of the next, in the
    hub's time zone) or an ISO date-time (as given; UTC if it names no zone)."""
    if len(text) == 10:
        day = date.fromisoformat(text) + (timedelta(days=1) if end_of_day else timedelta(0))
        return datetime.combine(day, time(0), zone).astimezone(UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _timescale(text: str) -> tuple[Rag, timedelta]:
    rag, _, duration = text.partition("=")
    try:
        return Rag(rag.strip().upper()), parse_duration(duration)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: RAG=DURATION, e.g. RED=4h ({exc})") from None


def hub_options(args: argparse.Namespace, now: datetime) -> tuple[ReportOptions, dict[str, Any]]:
    hub = load_hub_config(args.hub_config)
    policy = load_policy(args.policy)
    recipients = load_recipient_policy(args.recipient_policy)
    zone = ZoneInfo(policy.display_timezone)
    timescales = {rag: policy.timescales.of(rag) for rag in Rag}
    timescales.update(dict(args.timescale or []))
    calendar = None if args.no_working_hours else policy.working_hours
    told = frozenset(s for s, entry in hub.source_systems.items()
                     if recipients.rule_for(entry.kind).hears_of(NotificationKind.DECISION))
    name = args.hub_name or hub.hub_name
    roles = tuple(args.authoriser_role or DEFAULT_AUTHORISER_ROLES)
    options = ReportOptions(
        hub_name=name,
        start=parse_moment(args.date_from, zone, end_of_day=False),
        end=parse_moment(args.date_to, zone, end_of_day=True),
        as_of=parse_moment(args.as_of, zone, end_of_day=False) if args.as_of else now,
        timescales=timescales, calendar=calendar,
        contributor_statuses=recipients.contributor_statuses, referrers_told=told,
        authoriser_roles=frozenset(roles), source_systems=tuple(sorted(hub.source_systems)),
        agencies=tuple(sorted(hub.agencies)))
    settings = {
        "hub": name,
        "policy_version": policy.version,
        "timescales_s": {rag.value: timescales[rag].total_seconds() for rag in Rag},
        "working_hours": None if calendar is None else {
            "timezone": calendar.timezone,
            "days": [d.value for d in calendar.days],
            "start": calendar.start.isoformat(timespec="minutes"),
            "end": calendar.end.isoformat(timespec="minutes"),
            "applies_to": [r.value for r in calendar.applies_to],
            "bank_holidays": [d.isoformat() for d in calendar.bank_holidays],
        },
        "authoriser_roles": list(roles),
    }
    return options, settings


def build_hub_report(source: EventSource, options: ReportOptions, settings: dict[str, Any],
                     now: datetime) -> Report:
    """Read the events, compute the figures: the whole hub report, in memory."""
    events = source.load()
    tables = compute(events, options)
    problems = check_parts(tables)
    if problems:  # a bug in a figure: never publish sums that do not add up
        raise AssertionError("; ".join(problems))
    earliest = events.earliest()
    described = {"hub": options.hub_name, **source.describe(),
                 "earliest_event": None if earliest is None else
                 earliest.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                 "unreadable": events.unreadable}
    return Report("hub", [options.hub_name], options.start, options.end, options.as_of, now,
                  [settings], [described], tables)


def write_report(report: Report, out: Path, unsuppressed: Path | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    document = to_json(report, suppress=True)
    validate(document)
    (out / "report.json").write_text(json.dumps(document, indent=1) + "\n")
    say(f"  wrote {out / 'report.json'} (published: suppressed)")
    if unsuppressed is not None:
        restricted = to_json(report, suppress=False)
        validate(restricted)
        unsuppressed.parent.mkdir(parents=True, exist_ok=True)
        unsuppressed.write_text(json.dumps(restricted, indent=1) + "\n")
        say(f"  wrote {unsuppressed} (RESTRICTED: unsuppressed, for the national roll-up only)")
    csvs = write_csv(report, out / "csv")
    say(f"  wrote {len(csvs)} CSV files in {out / 'csv'}")
    plots = []
    kinds = NATIONAL_PLOTS if report.scope == "national" else HUB_PLOTS
    for n, plot in enumerate(kinds, start=1):
        plots.append(plot(report, out))
        say(f"  plot {n}/{len(kinds)}: {plots[-1].name}")
    page = write_html(report, out, plots, document)
    say(f"  wrote {page}")
    return document


def _hub(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    options, settings = hub_options(args, now)
    kafka = kafka_from_args(args)
    say(f"Report for {options.hub_name}, {options.start.isoformat()} to {options.end.isoformat()}"
        f" (exclusive), reading topics under prefix '{kafka.topic_prefix}' as {kafka.principal}")
    report = build_hub_report(KafkaEventSource(kafka, progress=say), options, settings, now)
    write_report(report, args.out, args.unsuppressed_json)
    return 0


def _national(args: argparse.Namespace) -> int:
    reports = []
    for path in args.reports:
        say(f"reading {path}")
        reports.append(from_json(json.loads(Path(path).read_text())))
    merged = national(reports, datetime.now(UTC))
    say(f"National roll-up of {len(merged.hubs)} hubs: {', '.join(merged.hubs)}")
    write_report(merged, args.out, args.unsuppressed_json)
    return 0


def _render(args: argparse.Namespace) -> int:
    report = from_json(json.loads(Path(args.report).read_text()))
    say(f"Rendering the {report.scope} report of {', '.join(report.hubs)} again from {args.report}")
    write_report(report, args.out)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mash-report",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--log-level", default="WARNING")
    sub = top.add_subparsers(dest="command", required=True)
    config = default_config_dir()
    hub = sub.add_parser("hub", help="one hub's report, from its topics")
    add_kafka_options(hub)
    hub.add_argument("--from", dest="date_from", required=True, metavar="DATE",
                     help="first day (YYYY-MM-DD, hub's time zone) or an ISO date-time")
    hub.add_argument("--to", dest="date_to", required=True, metavar="DATE",
                     help="last day, included (YYYY-MM-DD), or an ISO date-time (excluded)")
    hub.add_argument("--as-of", default=None, metavar="DATE",
                     help="count events up to this moment (default: now)")
    hub.add_argument("--out", type=Path, required=True, help="folder to write the report to")
    hub.add_argument("--unsuppressed-json", type=Path, default=None, metavar="FILE",
                     help="also write the RESTRICTED unsuppressed JSON the national roll-up "
                          "merges (share it only under the data-sharing agreement)")
    hub.add_argument("--hub-name", default=None, help="default: hub.yaml's hub_name")
    hub.add_argument("--hub-config", type=Path, default=config / "hub.yaml")
    hub.add_argument("--policy", type=Path, default=config / "threshold-policy.yaml",
                     help="the threshold policy whose timescales and calendar apply")
    hub.add_argument("--recipient-policy", type=Path, default=config / "recipient-policy.yaml")
    hub.add_argument("--timescale", type=_timescale, action="append", metavar="RAG=DURATION",
                     help="override a timescale, e.g. RED=20s (the demo's), repeatable")
    hub.add_argument("--no-working-hours", action="store_true",
                     help="count every timescale in elapsed time (as the demo pipeline runs)")
    hub.add_argument("--authoriser-role", action="append", metavar="ROLE",
                     help="a role an override's authoriser may be reported as (repeatable; "
                          "default: a list of common MASH roles)")
    hub.set_defaults(run=_hub)
    nat = sub.add_parser("national", help="merge hubs' unsuppressed reports into one comparison")
    nat.add_argument("reports", nargs="+", metavar="FILE",
                     help="each hub's unsuppressed JSON (from hub --unsuppressed-json)")
    nat.add_argument("--out", type=Path, required=True)
    nat.add_argument("--unsuppressed-json", type=Path, default=None, metavar="FILE")
    nat.set_defaults(run=_national)
    again = sub.add_parser("render", help="write a report's files again from its unsuppressed "
                                          "JSON (same figures, e.g. after a change of plots)")
    again.add_argument("report", metavar="FILE")
    again.add_argument("--out", type=Path, required=True)
    again.set_defaults(run=_render)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        code: int = args.run(args)
    except (MashError, ReportFormatError) as exc:
        say(f"error: {exc}")
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
