"""The broker fault test: the whole pipeline on the local three-broker cluster (production
profile: replication 3, min.insync.replicas 2, acks=all) while referrals flow; the broker
leading the most referral and response partitions is SIGKILLed and restarted, then another
broker is SIGSTOPped for 30 s and continued.

`mash-bench brokers [--quick]` writes bench/results/<stamp>-brokers/report.md and
report.json; tests/integration/test_broker_faults.py runs the quick plan and asserts what
the report only states: nothing acknowledged is lost, and no case is assembled twice.

Figures: referrals sent, acknowledged by the cluster (the producer's delivery report, after
every in-sync replica has it), assembled (its case's version 1 on mash.cases.assembled),
told (its referrer's INFORMATION_GATHERED or DECISION); lost = acknowledged but never told;
assembled twice = cases whose version 1 appears more than once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from mash_common.settings import KafkaSettings, Profile
from mash_hub.bench.harness import (
    TOLD,
    Actors,
    Prepared,
    Run,
    Tracker,
    prepare_referrals,
    results_root,
)
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.processes import ROOT
from mash_sdk.simulated.agency import PROFILES

Say = Callable[[str], None]
CLUSTER_HOME = ROOT / "var" / "bench-kafka-cluster"
BROKERS = 3
STOP_S = 30.0  # how long the second broker is frozen (the figure)
PEOPLE = 20_000
# Far away: a fault must delay a case, never time it out into a partial assembly.
DUE_S = (900.0, 900.0, 900.0)
PRODUCTION = {"MASH_KAFKA_PROFILE": Profile.PRODUCTION.value}
# The drain gives up when no referral has been told for this long: the pipeline has stopped.
STALL_S = 120.0


@dataclass(frozen=True)
class Plan:
    rate: float  # referrals per second, open loop, throughout
    warm_s: float  # flowing before the first fault
    down_s: float  # the SIGKILLed broker stays down this long
    settle_s: float  # flowing between the restart (ISR full again) and the SIGSTOP
    tail_s: float  # flowing after the second fault is over
    drain_s: float  # longest wait for every acknowledged referral to be told
    stop_s: float = STOP_S


# 10/s backlogged a shared 2-core machine running three brokers: the drain then measured the
# machine, not the faults.
FULL = Plan(rate=6.0, warm_s=60.0, down_s=30.0, settle_s=30.0, tail_s=60.0, drain_s=900.0)
# Drains are bounded by STALL_S as well: a long one only lets a slow machine finish.
QUICK = Plan(rate=5.0, warm_s=15.0, down_s=10.0, settle_s=5.0, tail_s=10.0, drain_s=600.0)


def local_kafka() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_kafka", ROOT / "deploy" / "local_kafka.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("deploy/local_kafka.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_base_port(count: int = 2 * BROKERS) -> int:
    """A base port with `count` consecutive free ports after it (the cluster's layout)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count >= 65535:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise RuntimeError("no run of free ports for the cluster")


# the cluster's state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def partitions(admin: KafkaSettings) -> list[PartitionState]:
    """Every partition of the hub's prefix (its own topics and its services' internal ones)."""
    meta = AdminClient(admin.confluent_config()).list_topics(timeout=20)
    return [PartitionState(t.topic, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
            for t in meta.topics.values() if t.topic.startswith(admin.topic_prefix)
            for p in t.partitions.values()]


def _edge(admin: KafkaSettings, state: PartitionState) -> bool:
    """A referral or response partition (the records a fault must not lose first)."""
    names = admin.topics
    return (names.referral_sender(state.topic) is not None
            or names.response_sender(state.topic) is not None)


def busiest_leader(admin: KafkaSettings, exclude: frozenset[int] = frozenset()) -> tuple[int, int]:
    """The broker leading the most referral and response partitions, and how many."""
    counts: dict[int, int] = {}
    for state in partitions(admin):
        if _edge(admin, state) and state.leader >= 0 and state.leader not in exclude:
            counts[state.leader] = counts.get(state.leader, 0) + 1
    if not counts:
        raise RuntimeError("no referral or response partition has a leader")
    node = max(sorted(counts), key=lambda n: counts[n])
    return node, counts[node]


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float) -> float:
    """Poll `condition` until it holds; seconds it took. Raises after `timeout_s`."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except KafkaException:
            pass  # a metadata request to a broker that is down: ask again
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.5)  # polling the cluster's metadata


def led_by_none_of(admin: KafkaSettings, nodes: set[int]) -> bool:
    return all(s.leader not in nodes and s.leader >= 0 for s in partitions(admin))


def fully_replicated(admin: KafkaSettings) -> bool:
    found = partitions(admin)
    return bool(found) and all(len(s.isr) == len(s.replicas) for s in found)


# the load --------------------------------------------------------------------------------------


class Flow:
    """Referrals from each source system's producer (as its principal), open loop at a fixed
    rate, in a thread, until stopped; records which the cluster acknowledged."""

    def __init__(self, hub: SecuredHub, items: list[Prepared], rate: float) -> None:
        self.items = items
        self.rate = rate
        self.producers = {s: Producer(hub.source(s).producer_config(**{"linger.ms": 5}))
                          for s in sorted(hub.hub.source_systems)}
        self.topics = {s: hub.admin.topics.referrals(s) for s in self.producers}
        self.sent: list[str] = []
        self.acked: set[str] = set()
        self.failed: dict[str, str] = {}  # referral id -> error name (never the payload)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-fault-flow", daemon=True)

    def _delivered(self, referral_id: str) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            with self._lock:
                if error is None:
                    self.acked.add(referral_id)
                else:
                    self.failed[referral_id] = error.name()
        return report

    def _run(self) -> None:
        t0 = time.monotonic()
        for i, item in enumerate(self.items):
            due = t0 + i / self.rate
            while (pause := due - time.monotonic()) > 0 and not self._stop.is_set():
                self._poll(min(pause, 0.05))  # pacing the schedule, serving delivery reports
            if self._stop.is_set():
                break
            producer = self.producers[item.source_system]
            while True:
                try:
                    producer.produce(self.topics[item.source_system], key=item.key,
                                     value=item.value, on_delivery=self._delivered(item.referral_id))
                    break
                except BufferError:
                    producer.poll(0.05)
            self.sent.append(item.referral_id)
        self._stop.set()

    def _poll(self, timeout: float) -> None:
        for producer in self.producers.values():
            producer.poll(timeout / len(self.producers))

    def start(self) -> Flow:
        self._thread.start()
        return self

    def stop(self, flush_s: float = 300.0) -> None:
        """Stop sending; wait until every record sent has its delivery report."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + flush_s
        for producer in self.producers.values():
            producer.flush(max(1.0, deadline - time.monotonic()))

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            return len(self.sent), len(self.acked), len(self.failed)


# the run ---------------------------------------------------------------------------------------


@dataclass
class Events:
    started: float = field(default_factory=time.monotonic)
    log: list[dict[str, Any]] = field(default_factory=list)
    say: Say = print

    def note(self, what: str, **details: Any) -> None:
        at = round(time.monotonic() - self.started, 1)
        self.log.append({"t_s": at, "event": what, **details})
        extra = ", ".join(f"{k} {v}" for k, v in details.items())
        self.say(f"  [{at:7.1f} s] {what}" + (f" ({extra})" if extra else ""))


@contextlib.contextmanager
def cluster(home: Path, base_port: int, say: Say) -> Iterator[KafkaSettings]:
    """A fresh local cluster in `home` (jars kept), stopped at the end; the super user."""
    lk = local_kafka()
    lk.cluster_reset(home)
    _share_jars(home)
    try:
        lk.cluster_start(BROKERS, base_port, home, timeout=180, progress=say)
        yield KafkaSettings(client_config=lk.cluster_admin_config(home), profile=Profile.PRODUCTION)
    finally:
        lk.cluster_stop(home)


def _share_jars(home: Path) -> None:
    """Link the development broker's jars into the cluster's home (symbolic links, so any
    filesystem will do), so that no Maven run is needed; local_kafka fetches them otherwise."""
    jars, dev = home / "jars", ROOT / "var" / "kafka" / "jars"
    if (jars / ".kafka-version").is_file() or not (dev / ".kafka-version").is_file():
        return
    jars.mkdir(parents=True, exist_ok=True)
    for jar in dev.iterdir():
        target = jars / jar.name
        if not target.exists():
            target.symlink_to(jar)


def run(admin: KafkaSettings, home: Path, run_dir: Path, plan: Plan, say: Say,
        tag: str | None = None) -> dict[str, Any]:
    """The fault test on a running cluster (super user `admin`); returns the figures."""
    lk = local_kafka()
    tag = tag or f"faults{datetime.now().strftime('%H%M%S')}"
    events = Events(say=say)
    result: dict[str, Any] = {"plan": asdict(plan), "tag": tag, "events": events.log}
    hub = SecuredHub.create(admin.with_prefix(f"{tag}."), run_dir / "clients")
    placement = partitions(hub.admin)
    result["topics"] = {
        "partitions": len(placement),
        "replication_factors": sorted({len(s.replicas) for s in placement}),
    }
    events.note("hub provisioned", partitions=len(placement))
    pipeline = Run.create(hub, tag, run_dir, due_s=DUE_S,
                          extra_env={s: dict(PRODUCTION) for s in ("intake", "enrichment", "routing")})
    horizon = plan.warm_s + plan.down_s + plan.settle_s + plan.stop_s + plan.tail_s + 600.0
    items = prepare_referrals(tag, int(plan.rate * horizon), 0, PEOPLE)
    tracker = Tracker(hub.ops_reader)
    tracker.expect(items)
    actors: Actors | None = None
    flow: Flow | None = None
    try:
        pipeline.start(lambda m: say(f"  {m.strip()}"))
        agencies = {a: hub.agency(a) for a in sorted(hub.hub.agencies)}
        actors = Actors(agencies, hub.hub_system(), PROFILES["instant"], PEOPLE).start()
        tracker.start()
        # The services' internal topics (changelogs) are created by the services themselves,
        # with the production profile: replicated as the hub's own topics are.
        internal = [s for s in partitions(hub.admin) if "mash-" in s.topic]
        result["topics"]["internal_replication_factors"] = sorted({len(s.replicas) for s in internal})
        events.note("pipeline ready", internal_partitions=len(internal))

        flow = Flow(hub, items, plan.rate).start()
        events.note("referrals flowing", rate_per_s=plan.rate)
        _flowing(flow, plan.warm_s)

        victim, led = busiest_leader(hub.admin)
        pid = lk.cluster_status(home)[victim].pid
        os.kill(pid, signal.SIGKILL)
        events.note("SIGKILL", node=victim, pid=pid, referral_and_response_partitions_led=led)
        took = wait_until("new leaders elected", lambda: led_by_none_of(hub.admin, {victim}), 120)
        events.note("every partition led by another broker", after_s=round(took, 1))
        _flowing(flow, plan.down_s)
        new_pid = lk.cluster_start_node(victim, home, timeout=300, progress=lambda m: None)
        events.note("restarted", node=victim, pid=new_pid)
        took = wait_until("ISR full after the restart", lambda: fully_replicated(hub.admin), 300)
        events.note("every replica in sync again", after_s=round(took, 1))
        _flowing(flow, plan.settle_s)

        frozen, led = busiest_leader(hub.admin, exclude=frozenset({victim}))
        pid = lk.cluster_status(home)[frozen].pid
        os.kill(pid, signal.SIGSTOP)
        events.note("SIGSTOP", node=frozen, pid=pid, referral_and_response_partitions_led=led)
        _flowing(flow, plan.stop_s)  # the fault's duration (the 30 s), not a wait for a condition
        os.kill(pid, signal.SIGCONT)
        events.note("SIGCONT", node=frozen)
        took = wait_until("ISR full after the stop", lambda: fully_replicated(hub.admin), 300)
        events.note("every replica in sync again", after_s=round(took, 1))
        _flowing(flow, plan.tail_s)

        flow.stop()
        sent, acked, failed = flow.counts()
        events.note("sending stopped", sent=sent, acknowledged=acked, failed=failed)
        acked_ids = sorted(flow.acked)
        told, drained = _drain(tracker, acked_ids, plan.drain_s)
        events.note("drained" if drained else "stopped waiting", told=told)
        with tracker.lock:
            assembled = sum(1 for r in acked_ids if r in tracker.assembled_ts)
            twice = sorted(c.case_id for c in tracker.cases.values() if c.v1_count > 1)
        alive = {name: w.proc is not None and w.proc.poll() is None
                 for name, w in pipeline.pipeline.workers.items()}
        result["figures"] = {
            "sent": sent, "acknowledged": acked, "not_acknowledged": failed,
            "assembled": assembled, "told": told, "lost": acked - told,
            "assembled_twice": len(twice),
        }
        # False: the wait ended with referrals untold (no progress for STALL_S, or the
        # plan's longest drain), so "lost" counts them whether lost or only late.
        result["drained"] = drained
        result["not_acknowledged_errors"] = sorted(set(flow.failed.values()))
        result["services_alive_at_end"] = alive
        result["faults"] = {"sigkill_node": victim, "sigstop_node": frozen}
        return result
    finally:
        if flow is not None:
            flow.stop(flush_s=30)
        tracker.stop()
        if actors is not None:
            actors.stop()
        pipeline.stop()
        hub.teardown()


def _drain(tracker: Tracker, referral_ids: list[str], timeout_s: float) -> tuple[int, bool]:
    """Wait until every referral is told, the count stops moving for STALL_S, or timeout_s."""
    deadline = time.monotonic() + timeout_s
    told, moved_at = -1, time.monotonic()
    while True:
        now_told = tracker.done(referral_ids, TOLD)
        if now_told != told:
            told, moved_at = now_told, time.monotonic()
        if told == len(referral_ids):
            return told, True
        if time.monotonic() - moved_at > STALL_S or time.monotonic() > deadline:
            return told, False
        time.sleep(0.5)  # polling the tracker's counts


def _flowing(flow: Flow, seconds: float) -> None:
    """Let referrals flow for a while (the plan's phases are durations by design)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if flow._stop.is_set():
            raise RuntimeError("the plan ran out of referrals before its faults were over")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def markdown(report: dict[str, Any]) -> str:
    f = report.get("figures", {})
    lines = [
        "# Broker fault test",
        "",
        f"Run {report.get('run')}{' (quick)' if report.get('quick') else ''}: the whole pipeline on "
        f"a local {BROKERS}-broker KRaft cluster (production profile: replication 3, "
        "min.insync.replicas 2, acks=all, idempotent librdkafka producers), referrals flowing "
        f"at {report['plan']['rate']:.0f}/s throughout. The broker leading the most referral and "
        "response partitions was SIGKILLed and restarted; then the busiest other broker was "
        f"SIGSTOPped for {report['plan']['stop_s']:.0f} s and continued.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for key, label in (("sent", "referrals sent"), ("acknowledged", "acknowledged by the cluster"),
                       ("not_acknowledged", "not acknowledged (the sender would resend)"),
                       ("assembled", "assembled (acknowledged ones)"),
                       ("told", "told (referrer heard the outcome)"), ("lost", "**lost**"),
                       ("assembled_twice", "**assembled twice**")):
        lines.append(f"| {label} | {f.get(key, 'n/a')} |")
    topics = report.get("topics", {})
    lines += [
        "",
        f"Partitions of the hub: {topics.get('partitions')}, replication factors "
        f"{topics.get('replication_factors')} (services' internal topics "
        f"{topics.get('internal_replication_factors')}). Services alive at the end: "
        f"{report.get('services_alive_at_end')}.",
        "",
        "## Timeline",
        "",
        "| t (s) | event | details |",
        "|---|---|---|",
    ]
    for e in report.get("events", []):
        details = ", ".join(f"{k} {v}" for k, v in e.items() if k not in ("t_s", "event"))
        lines.append(f"| {e['t_s']} | {e['event']} | {details} |")
    if "drained" in report and not report["drained"]:
        lines += ["", "**The wait for outcomes ended before every acknowledged referral was told** "
                  "(no progress for 120 s, or the plan's longest wait): `lost` counts the late ones too."]
    if report.get("error"):
        lines += ["", f"**The run stopped early:** {report['error']}"]
    return "\n".join(lines) + "\n"


def cli(argv: list[str]) -> int:
    """`mash-bench brokers [--quick]`."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(prog="mash-bench brokers", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the integration test's short plan")
    parser.add_argument("--home", type=Path, default=CLUSTER_HOME,
                        help=f"the cluster's home (default {CLUSTER_HOME.relative_to(ROOT)}; reset first)")
    parser.add_argument("--port", type=int, default=None,
                        help="the cluster's base port (default $MASH_KAFKA_CLUSTER_PORT, else free ports)")
    parser.add_argument("--latest", action="store_true",
                        help="also copy the report to bench/results/brokers-latest/ (full runs that "
                             "completed only)")
    args = parser.parse_args(argv)
    if args.latest and args.quick:
        parser.error("--latest takes a full run, not --quick")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The clients' own lines about brokers going away are what the test provokes; the
    # report's timeline says what happened.
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    out_dir = results_root() / f"{stamp}-brokers"
    run_dir = ROOT / "var" / "bench" / f"{stamp}-brokers"
    plan = QUICK if args.quick else FULL
    env_port = os.environ.get("MASH_KAFKA_CLUSTER_PORT")
    base = args.port or (int(env_port) if env_port else free_base_port())
    report: dict[str, Any] = {"run": stamp, "quick": args.quick, "plan": asdict(plan)}
    status = 0
    started = time.monotonic()
    try:
        with cluster(args.home, base, print) as admin:
            report.update(run(admin, args.home, run_dir, plan, print, tag=f"bench{stamp}brokers"))
    except (RuntimeError, TimeoutError, KafkaException) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    except KeyboardInterrupt:
        report["error"] = "interrupted"
        status = 130
    report["duration_s"] = round(time.monotonic() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    print(f"report: {out_dir / 'report.md'}")
    if args.latest and status == 0:
        latest = results_root() / "brokers-latest"
        latest.mkdir(parents=True, exist_ok=True)
        for name in ("report.md", "report.json"):
            shutil.copy(out_dir / name, latest / name)
        print(f"copied to {latest}")
    figures = report.get("figures", {})
    if figures and (figures["lost"] or figures["assembled_twice"]):
        status = status or 2
    return status


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
