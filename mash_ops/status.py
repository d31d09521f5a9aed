"""One screen of the hub's health: `mash-status [--watch N] [--json]`.

Broker health, lag per consumer group, open cases by RAG against their deadlines, overdue
cases, each agency's response times and no-response rate, dead letters by reason. Reads the
topics with a throwaway consumer that never commits. Shows case ids and counts only.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.contracts import (
    AssembledCase,
    Contract,
    DeadLetter,
    InformationRequest,
    InformationResponse,
    TriagedReferral,
)
from mash_common.errors import MashError, SerdeError
from mash_common.logs import configure_logging
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_ops.casework import (
    AgencyPerformance,
    DeadLetterCounts,
    OpenCase,
    RagSummary,
    agency_performance,
    count_deadletters,
    open_cases,
    summarise_cases,
)
from mash_ops.lag import LagSnapshot
from mash_ops.reading import Record, list_topics, read_topics
from mash_ops.sampler import LagSampler
from mash_ops.settings import OpsSettings

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Contract)


@dataclass(frozen=True)
class BrokerHealth:
    reachable: bool
    brokers: int = 0
    controller_id: int | None = None
    error: str | None = None


@dataclass
class StatusReport:
    at: datetime
    broker: BrokerHealth
    lag: LagSnapshot | None = None
    cases: list[OpenCase] = field(default_factory=list)
    case_summary: list[RagSummary] = field(default_factory=list)
    agencies: list[AgencyPerformance] = field(default_factory=list)
    deadletters: DeadLetterCounts | None = None
    unreadable: dict[str, int] = field(default_factory=dict)  # topic -> undecodable messages
    error: str | None = None
    # False until the topics were read: cases, agencies and dead letters are then unknown,
    # never zero (an empty list would say "no open cases" while the broker is down).
    known: bool = False


def broker_health(kafka: KafkaSettings, timeout_s: float = 5.0) -> BrokerHealth:
    admin = AdminClient(kafka.confluent_config())
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return BrokerHealth(False, error=str(exc.args[0]))
    controller = metadata.controller_id if metadata.controller_id >= 0 else None
    return BrokerHealth(True, len(metadata.brokers), controller)


def _decode(records: Iterable[Record], model: type[M], serde: AvroSerde,
            unreadable: Counter[str]) -> list[M]:
    out = []
    for r in records:
        if r.value is None:
            continue  # a tombstone on a compacted topic
        try:
            out.append(serde.decode(r.value, model))
        except SerdeError:
            unreadable[r.topic] += 1
    return out


def collect_status(
    settings: OpsSettings,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sampler: LagSampler | None = None,
    serde: AvroSerde | None = None,
) -> StatusReport:
    kafka = settings.kafka
    report = StatusReport(at=now(), broker=broker_health(kafka, settings.request_timeout_s))
    if not report.broker.reachable:
        return report
    serde = serde or AvroSerde()
    names = kafka.topics
    unreadable: Counter[str] = Counter()
    try:
        own_sampler = sampler is None
        sampler = sampler or LagSampler(settings)
        try:
            report.lag = sampler.sample()
        finally:
            if own_sampler:
                sampler.close()
        triaged = _decode(read_topics(kafka, list(names.triaged_lanes)), TriagedReferral, serde,
                          unreadable)
        assembled = _decode(read_topics(kafka, [names.assembled]), AssembledCase, serde,
                            unreadable)
        request_prefix = f"{kafka.topic_prefix}mash.requests."
        request_topics = sorted(t for t in list_topics(kafka) if t.startswith(request_prefix))
        requests = _decode(read_topics(kafka, request_topics), InformationRequest, serde,
                           unreadable)
        response_prefix = f"{kafka.topic_prefix}mash.responses."
        response_topics = sorted(t for t in list_topics(kafka) if t.startswith(response_prefix))
        responses = _decode(read_topics(kafka, response_topics), InformationResponse, serde,
                            unreadable)
        letters = _decode(read_topics(kafka, [names.deadletter]), DeadLetter, serde, unreadable)
    except MashError as exc:
        report.error = str(exc)
        return report
    report.at = now()
    report.cases = open_cases(triaged, (a.case_id for a in assembled))
    report.case_summary = summarise_cases(report.cases, report.at)
    report.agencies = agency_performance(requests, responses, report.at)
    report.deadletters = count_deadletters(letters)
    report.unreadable = dict(unreadable)
    report.known = True
    return report


# -- output ---------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def to_json(report: StatusReport, limit: int = 20) -> dict[str, Any]:
    """Plain data for scripts: ids, counts, seconds. No personal data."""
    out: dict[str, Any] = {
        "at": _iso(report.at),
        "broker": {
            "reachable": report.broker.reachable,
            "brokers": report.broker.brokers,
            "controller_id": report.broker.controller_id,
            "error": report.broker.error,
        },
        "error": report.error,
    }
    if report.lag is not None:
        out["consumer_groups"] = [
            {
                "group": g.group,
                "state": g.state,
                "lag_messages": g.total_messages,
                "max_lag_seconds": g.max_seconds,
                "stalled_partitions": g.stalled_partitions,
            }
            for g in report.lag.groups
        ]
    if not report.known:
        # Not read (broker down, or an error above): unknown, which is not zero.
        out.update(cases=None, agencies=None, deadletters=None, unreadable=None)
        return out
    out["cases"] = {
        "by_rag": {
            s.rag.value: {"open": s.open, "overdue": s.overdue,
                          "soonest_seconds_left": s.soonest_seconds_left}
            for s in report.case_summary
        },
        "open_total": len(report.cases),
        "overdue_total": sum(1 for c in report.cases if c.seconds_left(report.at) < 0),
        "most_urgent": [
            {"case_id": c.case_id, "rag": c.rag.value, "due_at": _iso(c.due_at),
             "seconds_left": c.seconds_left(report.at)}
            for c in report.cases[:limit]
        ],
    }
    out["agencies"] = [
        {
            "agency": a.agency,
            "requests": a.requests,
            "answered": a.answered,
            "answered_late": a.answered_late,
            "pending": a.pending,
            "no_response": a.no_response,
            "no_response_rate": a.no_response_rate,
            "p50_seconds": a.p50_seconds,
            "p90_seconds": a.p90_seconds,
        }
        for a in report.agencies
    ]
    if report.deadletters is not None:
        out["deadletters"] = {
            "total": report.deadletters.total,
            "by_reason": report.deadletters.by_reason,
            "by_stage": report.deadletters.by_stage,
        }
    out["unreadable"] = report.unreadable
    return out


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


RAG_STYLE = {"RED": "bold red", "AMBER": "yellow", "GREEN": "green"}


def render(report: StatusReport, limit: int = 10) -> Group:
    b = report.broker
    head = (f"[green]broker up[/] {b.brokers} broker(s), controller {b.controller_id}"
            if b.reachable else f"[bold red]broker unreachable[/] {b.error or ''}")
    parts: list[Any] = [Panel(head, title=f"mash-hub status {_iso(report.at)}")]
    if report.error:
        parts.append(Panel(f"[red]{report.error}[/]", title="error"))

    if report.lag is not None:
        lag = Table(title="Consumer lag", expand=True)
        for col in ("group", "state", "messages", "oldest waiting", "stalled"):
            lag.add_column(col, justify="left" if col in ("group", "state") else "right")
        for g in report.lag.groups:
            stalled = f"[bold red]{g.stalled_partitions}[/]" if g.stalled_partitions else "0"
            lag.add_row(g.group, g.state, str(g.total_messages), human_duration(g.max_seconds),
                        stalled)
        parts.append(lag)

    if not report.known:
        parts.append(Panel("[bold yellow]unknown[/]: the topics could not be read, so open cases, "
                           "agency responses and dead letters are not shown (not zero)",
                           title="Open cases, agencies, dead letters"))
        return Group(*parts)

    cases = Table(title="Open cases by RAG", expand=True)
    for col in ("RAG", "open", "overdue", "soonest deadline"):
        cases.add_column(col, justify="left" if col == "RAG" else "right")
    for s in report.case_summary:
        overdue = f"[bold red]{s.overdue}[/]" if s.overdue else "0"
        cases.add_row(f"[{RAG_STYLE[s.rag.value]}]{s.rag.value}[/]", str(s.open), overdue,
                      human_duration(s.soonest_seconds_left))
    parts.append(cases)

    if report.cases:
        urgent = Table(title=f"Most urgent open cases (first {limit})", expand=True)
        for col in ("case id", "RAG", "due", "time left"):
            urgent.add_column(col)
        for c in report.cases[:limit]:
            left = c.seconds_left(report.at)
            shown = f"[bold red]OVERDUE {human_duration(-left)}[/]" if left < 0 else human_duration(left)
            urgent.add_row(c.case_id, f"[{RAG_STYLE[c.rag.value]}]{c.rag.value}[/]",
                           _iso(c.due_at), shown)
        parts.append(urgent)

    agencies = Table(title="Agency responses", expand=True)
    for col in ("agency", "requests", "answered", "late", "pending", "no response",
                "no-response rate", "p50", "p90"):
        agencies.add_column(col, justify="left" if col == "agency" else "right")
    for a in report.agencies:
        rate = "-" if a.no_response_rate is None else f"{a.no_response_rate:.0%}"
        agencies.add_row(a.agency, str(a.requests), str(a.answered), str(a.answered_late),
                         str(a.pending), str(a.no_response), rate,
                         human_duration(a.p50_seconds), human_duration(a.p90_seconds))
    parts.append(agencies)

    if report.deadletters is not None:
        dl = Table(title=f"Dead letters: {report.deadletters.total}", expand=True)
        dl.add_column("reason")
        dl.add_column("count", justify="right")
        for reason, n in report.deadletters.by_reason.items():
            dl.add_row(reason, str(n))
        parts.append(dl)
    if report.unreadable:
        parts.append(Panel(", ".join(f"{t}: {n}" for t, n in report.unreadable.items()),
                           title="[yellow]unreadable messages skipped[/]"))
    return Group(*parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-status", description=__doc__.splitlines()[0])
    add_kafka_options(parser)
    parser.add_argument("--watch", type=float, nargs="?", const=5.0, default=None,
                        metavar="SECONDS", help="refresh every SECONDS (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--limit", type=int, default=10, help="open cases listed (default 10)")
    parser.add_argument("--stall-after", type=float, default=300.0,
                        help="with --watch: seconds before a standing consumer counts as stalled (default 300)")
    parser.add_argument("--log-level", default="WARNING", help="default WARNING")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    settings = OpsSettings(kafka=kafka_from_args(args), stall_after_s=args.stall_after)
    if args.json and args.watch is None:
        report = collect_status(settings)
        print(json.dumps(to_json(report, args.limit), indent=2))
        return 0 if report.broker.reachable and report.error is None else 1
    console = Console()
    if args.watch is None:
        report = collect_status(settings)
        console.print(render(report, args.limit))
        return 0 if report.broker.reachable and report.error is None else 1
    # One sampler across refreshes, so stall detection sees offsets standing still.
    sampler = LagSampler(settings)
    try:
        if args.json:
            while True:
                print(json.dumps(to_json(collect_status(settings, sampler=sampler), args.limit)),
                      flush=True)
                time.sleep(args.watch)
        with Live(console=console, screen=True, auto_refresh=False) as live:
            while True:
                live.update(render(collect_status(settings, sampler=sampler), args.limit),
                            refresh=True)
                time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    finally:
        sampler.close()


if __name__ == "__main__":
    raise SystemExit(main())
