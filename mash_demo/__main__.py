"""`mash-demo` (the README's `make run`): the whole pipeline, live.

Starts Kafka (if it is not running), creates a fresh set of topics for this run, starts
intake, enrichment and routing as worker processes, six simulated agencies and a simulated
hub case system, sends a stream of synthetic referrals, shows cases assembling and
outcomes arriving, and ends with a summary. Everything it started is stopped on exit,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from confluent_kafka import Consumer, Producer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mash_common.access import Kind
from mash_common.serde import AvroSerde
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.observer import Observer, Snapshot
from mash_hub.demo.pipeline import Broker, Pipeline, PipelineOptions
from mash_hub.demo.processes import ROOT
from mash_hub.demo.synthetic import SyntheticReferral, referral_stream
from mash_hub.demo.web import WebFront
from mash_sdk.simulated.agency import Behaviour, Latency, Profile, run_agencies

console = Console(highlight=False)


def say(message: str) -> None:
    console.print(message)


# The demo's agencies: a fraction of a second per search (each adapter serves one request at
# a time), the odd error and refusal; probation is often silent, so some cases are chased
# and then assembled PARTIAL at their deadline.
DEMO_PROFILE = Profile(
    default=Behaviour(latency=Latency(distribution="lognormal", median_s=0.1, sigma=0.6, max_s=1.0),
                      error_rate=0.02, decline_rate=0.03),
    agencies={"probation": Behaviour(latency=Latency(distribution="uniform", min_s=0.2, max_s=1.0),
                                     silence_rate=0.4)},
)


@dataclass
class RunResult:
    sent: int
    expected: dict[str, bool]
    elapsed_s: float
    outstanding: list[str]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _counts_table(s: Snapshot, sent: int, total: int) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("referrals sent", f"{sent}/{total}")
    t.add_row("cases", f"{s.cases}  (now RED {s.rag['RED']}, AMBER {s.rag['AMBER']}, GREEN {s.rag['GREEN']})")
    t.add_row("requests to agencies", f"{s.counts['requests_first']} first, {s.counts['chases']} chases  "
              + " ".join(f"{a}:{n}" for a, n in sorted(s.requests_by_agency.items())))
    t.add_row("agency responses", " ".join(f"{k}:{v}" for k, v in sorted(s.responses_by_status.items())) or "-")
    t.add_row("cases assembled", f"{s.complete} complete, {s.partial} partial, {s.open_cases} still gathering")
    t.add_row("outcomes delivered", " ".join(f"{k}:{v}" for k, v in sorted(s.outcomes_by_kind.items())) or "-")
    t.add_row("dead letters", " ".join(f"{k}:{v}" for k, v in sorted(s.deadletters_by_reason.items())) or "none")
    t.add_row("audit events", str(s.counts["AuditEvent"]))
    return t


def _view(observer: Observer, sent: int, total: int) -> Panel:
    s = observer.snapshot()
    recent = "\n".join(s.recent[-10:]) or "waiting for the first case..."
    return Panel(Group(_counts_table(s, sent, total), Panel(recent, title="latest", border_style="dim")),
                 title="mash-hub: live", border_style="cyan")


def run(args: argparse.Namespace) -> int:
    run_tag = datetime.now().strftime("demo%Y%m%d%H%M%S")
    run_dir = ROOT / "var" / "demo" / run_tag
    run_dir.mkdir(parents=True, exist_ok=True)
    # The console is for the live view; this process's own log (the simulated agencies'
    # deliberate failures among it) goes beside the services' logs.
    logging.basicConfig(level=logging.INFO, filename=run_dir / "demo.log",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    say(f"[bold]mash-hub demo[/bold]  run {run_tag}  (logs: {run_dir})")
    say("[1/6] Kafka (SASL_SSL with SCRAM-SHA-512; the broker denies what no ACL allows)")
    broker = Broker.ensure(say)
    admin = broker.admin.with_prefix(f"{run_tag}.")
    agencies = hub = observer = pipeline = web = None
    try:
        say("[2/6] Topics and principals")
        secured = SecuredHub.create(admin, run_dir / "clients")
        say(f"  {len(secured.topics.created)} topics under prefix '{admin.topic_prefix}'; "
            f"{len(secured.principals)} principals, each with only its own ACLs "
            f"(client configs in {secured.clients_dir})")
        audit_db = f"sqlite:///{run_dir / 'auditstore' / 'audit.db'}"
        pipeline = Pipeline(secured, PipelineOptions(
            run_dir=run_dir, due_red_s=args.red_s, due_amber_s=args.amber_s,
            due_green_s=args.green_s, audit_store_url=audit_db))
        say("[3/6] Services: intake, enrichment, routing and the audit store (metrics on :9101 "
            ":9102 :9103 :9104)")
        pipeline.start(say)
        web = WebFront(secured, run_dir).start()
        say(f"  web: case board {web.board_url}  (log in as {web.logins['staff'].user} / "
            f"{web.logins['staff'].password}; wall screen {web.logins['wall'].user} / "
            f"{web.logins['wall'].password}; education answers as "
            f"{web.logins['agency:education'].user} / {web.logins['agency:education'].password})")
        say(f"  web: referral gateway {web.gateway_url}/docs  (this run's API keys, one per source "
            f"system: {web.write_keys()})")
        say("[4/6] Six simulated agencies (synthetic records) and a simulated hub case system, "
            "each as its own principal")
        agencies = run_agencies({a: secured.agency(a) for a in sorted(secured.hub.agencies)},
                                profile=DEMO_PROFILE)
        hub = HubSystem(secured.hub_system(), decision_delay_s=args.decision_delay_s).start()
        observer = Observer(secured.ops_reader).start()
        say(f"[5/6] Sending {args.referrals} synthetic referrals at {args.rate}/s, each source "
            f"system on its own topic (deadlines: Red {args.red_s:g}s, Amber {args.amber_s:g}s, "
            f"Green {args.green_s:g}s)")
        result = _feed_and_watch(secured, observer, args, run_tag)
        say("[6/6] Summary")
        _summary(observer, result)
        _evidence(pipeline.options)
        if args.hold and web is not None:
            say(f"Holding: the board is still at {web.board_url}; Ctrl-C to stop everything")
            while True:
                time.sleep(1)  # until Ctrl-C
        return 0 if not result.outstanding else 1
    except KeyboardInterrupt:
        say("\nInterrupted: stopping everything this run started")
        return 130
    finally:
        for part in (observer, hub, agencies):
            if part is not None:
                part.stop()
        # Let the clients go (and close their connections) before the broker does.
        observer = hub = agencies = None
        gc.collect()
        if web is not None:
            web.stop()
        if pipeline is not None:
            pipeline.stop()
        broker.stop(say)


def _feed_and_watch(secured: SecuredHub, observer: Observer, args: argparse.Namespace,
                    run_tag: str) -> RunResult:
    serde = AvroSerde()
    names = secured.admin.topics
    # Each source system writes its own topic with its own credentials, as it would live.
    producers = {s: Producer(secured.source(s).producer_config())
                 for s in sorted(secured.hub.source_systems)}
    items: list[SyntheticReferral] = list(referral_stream(args.referrals, seed=args.seed, run_tag=run_tag))
    expected: dict[str, bool] = {}
    interval = 1.0 / args.rate
    started = time.monotonic()
    live_view = console.is_terminal and not args.plain
    progress = Progress(TextColumn("  sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=False)
    task = progress.add_task("send", total=len(items))
    sent = 0
    # One garbage message (the public portal's form broke): dead-lettered; it cannot be read,
    # so there is no referral id to tell the sender about.
    producers["public-portal"].produce(names.referrals("public-portal"), key=b"not-a-referral",
                                       value=b"\x00garbage\xff")
    with progress:
        for item in items:
            assert item.referral is not None
            r = item.referral
            observer.note_sent(r.referral_id, r.source_system)
            producer = producers[r.source_system]
            producer.produce(names.referrals(r.source_system), key=r.referral_id.encode(),
                             value=serde.encode(r))
            producer.poll(0)
            expected[r.referral_id] = item.expect_rejected
            sent += 1
            progress.advance(task)
            next_at = started + sent * interval
            while (pause := next_at - time.monotonic()) > 0:
                time.sleep(min(pause, 0.05))  # pacing the send rate, not waiting for a result
    forged = _forge(secured, producers, items[0], run_tag)
    observer.note_sent(forged, "police-niche")
    expected[forged] = True  # dead-lettered SENDER_MISMATCH, and the police system told why
    for producer in producers.values():
        producer.flush(30)
    refusal = _refused_read(secured)
    say(f"  trust boundary: the police system wrote one referral in the school portal's name "
        f"(it must be dead-lettered SENDER_MISMATCH); the public portal tried to read assembled "
        f"cases: {refusal}")
    deadline = time.monotonic() + args.timeout
    last_line = 0.0
    with Live(_view(observer, sent, len(items)), console=console, refresh_per_second=4,
              transient=False) if live_view else _NullLive() as live:
        while (outstanding := observer.outstanding(expected)) and time.monotonic() < deadline:
            if live_view:
                live.update(_view(observer, sent, len(items)))
            elif time.monotonic() - last_line > 5:
                s = observer.snapshot()
                say(f"  waiting: {len(outstanding)} referrals not yet through; cases "
                    f"{s.complete} complete, {s.partial} partial, {s.open_cases} gathering; outcomes "
                    + " ".join(f"{k}:{v}" for k, v in sorted(s.outcomes_by_kind.items())))
                last_line = time.monotonic()
            time.sleep(0.25)  # refresh period of the view; completion is checked each time
        if live_view:
            live.update(_view(observer, sent, len(items)))
    return RunResult(sent, expected, time.monotonic() - started, observer.outstanding(expected))


def _forge(secured: SecuredHub, producers: dict[str, Producer], item: SyntheticReferral,
           run_tag: str) -> str:
    """The police system, on its own topic (the only one it may write), sends a referral
    that claims to come from the school portal."""
    assert item.referral is not None
    forged = item.referral.model_copy(update={"referral_id": f"{run_tag}-forged",
                                              "source_system": "school-portal"})
    producers["police-niche"].produce(secured.admin.topics.referrals("police-niche"),
                                      key=forged.referral_id.encode(),
                                      value=AvroSerde().encode(forged))
    return forged.referral_id


def _refused_read(secured: SecuredHub) -> str:
    """What the broker says when the public portal asks for the assembled cases."""
    source = secured.principal(Kind.SOURCE, "public-portal")
    consumer = Consumer(secured.source("public-portal").confluent_config(**{
        "group.id": f"{source.group_prefix}-demo-probe", "auto.offset.reset": "earliest"}))
    consumer.subscribe([secured.admin.topics.assembled])
    try:
        for _ in range(100):  # at most ~20 s, each poll waiting on the broker
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                return f"refused by the broker ({msg.error().name()})"
            return "[red]NOT REFUSED: the ACLs are wrong[/red]"
    finally:
        consumer.close()
    return "[red]no answer from the broker[/red]"


class _NullLive:
    def __enter__(self) -> _NullLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object) -> None:
        return None


def _evidence(options: PipelineOptions) -> None:
    """What the audit store holds now, and whether every chain verifies."""
    from mash_common.audittrail import AuditKeys, AuditKeySettings
    from mash_ops.auditdb import AuditStore, open_engine

    keys = AuditKeys.load(AuditKeySettings(keys_file=options.audit_keys_file))
    if keys is None or options.audit_store_url is None:
        return
    engine = open_engine(options.audit_store_url)
    try:
        reports = AuditStore(engine, keys).verify_all()
    finally:
        engine.dispose()
    broken = sum(not r.ok for r in reports)
    say(f"evidence: {sum(r.events for r in reports)} audit events in {len(reports)} hash chains, "
        + ("every chain verifies" if not broken else f"[red]{broken} chains broken[/red]")
        + f" (export a case: MASH_AUDIT_KEYS_FILE={options.audit_keys_file} "
          f"MASH_AUDITSTORE_DATABASE_URL={options.audit_store_url} "
          "mash-evidence export --case ID --out case.zip)")


def _summary(observer: Observer, result: RunResult) -> None:
    s = observer.snapshot()
    if not console.is_terminal:
        console.print(_counts_table(s, result.sent, result.sent))
    table = Table(title="time from case opened to first assembly", show_lines=False)
    for column in ("RAG", "cases", "p50 s", "max s"):
        table.add_column(column, justify="right")
    for rag, seconds in sorted(observer.assembly_times().items()):
        table.add_row(rag, str(len(seconds)), f"{statistics.median(seconds):.1f}", f"{max(seconds):.1f}")
    console.print(table)
    rejected = sum(1 for r in result.expected.values() if r)
    valid = len(result.expected) - rejected
    notified = valid - sum(1 for r in result.outstanding if not result.expected[r])
    say(f"cases: {s.cases} ({s.complete} complete, {s.partial} partial at their deadline)")
    say(f"referrals: {len(result.expected)} sent, {valid} valid and {rejected} rejected, one of them "
        "forged (each rejection told to its sender)")
    say(f"referrers told the decision: {notified}/{valid}")
    say("outcomes delivered: " + ", ".join(f"{v} {k}" for k, v in sorted(s.outcomes_by_kind.items())))
    say("dead letters: " + (", ".join(f"{v} {k}" for k, v in sorted(s.deadletters_by_reason.items())) or "none"))
    say(f"took {result.elapsed_s:.0f} s")
    if result.outstanding:
        say(f"[red]NOT DONE: {len(result.outstanding)} referrals did not get all the way through "
            f"(first: {', '.join(result.outstanding[:5])})[/red]")
    else:
        say("[green]Every referral assembled and every referrer notified.[/green]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=60, help="how many referrals (default 60)")
    parser.add_argument("--rate", type=float, default=4.0, help="referrals per second (default 4)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic data seed (default 7)")
    parser.add_argument("--red-s", type=float, default=20.0, help="Red deadline in seconds (default 20)")
    parser.add_argument("--amber-s", type=float, default=30.0, help="Amber deadline in seconds (default 30)")
    parser.add_argument("--green-s", type=float, default=40.0, help="Green deadline in seconds (default 40)")
    parser.add_argument("--decision-delay-s", type=float, default=2.0,
                        help="how long the simulated hub takes to decide (default 2)")
    parser.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds (default 240)")
    parser.add_argument("--plain", action="store_true", help="progress lines instead of the live view")
    parser.add_argument("--hold", action="store_true",
                        help="keep the board and the pipeline running after the summary (Ctrl-C ends)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
