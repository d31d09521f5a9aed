"""What every benchmark shares: a pipeline on fresh topics, the agencies and hub in their own
process, referrals about distinct children, senders (burst and open-loop), a tracker that
reads outputs with their Kafka timestamps, offsets, CPU and memory of each process.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psutil
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from mash_common.contracts import (
    AssembledCase,
    InformationRequest,
    NotificationKind,
    OutcomeNotification,
    Subject,
    TriagedReferral,
)
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.bench.machine import free_port
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.background import BackgroundLoop
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.processes import ROOT
from mash_hub.demo.synthetic import referral_stream
from mash_sdk.errors import DropRequest
from mash_sdk.simulated.agency import Profile, build_agencies
from mash_sdk.simulated.population import population

Say = Callable[[str], None]
POPULATION_SEED = 1
# The simulated hub decides this long after it reads an assembled case. With 0, under a
# backlog its decision can reach routing before routing has read the assembled case, and
# routing dead-letters it (UNKNOWN_CASE): see the report's findings.
HUB_DECISION_DELAY_S = 1.0
GATHERED = NotificationKind.INFORMATION_GATHERED.value
DECISION = NotificationKind.DECISION.value
RECEIVED = NotificationKind.RECEIVED.value
# The referrer heard that its referral was gathered: INFORMATION_GATHERED, or, for a
# referrer whose recipient policy does not send that (members of the public hear only
# RECEIVED and DECISION), the DECISION.
TOLD = "TOLD"


# referrals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    referral_id: str
    source_system: str
    key: bytes
    value: bytes


def prepare_referrals(run_tag: str, count: int, first_person: int, people_total: int) -> list[Prepared]:
    """`count` valid referrals, each about a different child (people first_person...), so each
    opens its own case: no linking, no rejections, and every figure is per referral = per case."""
    people = population(POPULATION_SEED, people_total)
    serde = AvroSerde()
    out = []
    for n, item in enumerate(referral_stream(count, seed=11, run_tag=run_tag, repeat_share=0.0,
                                             reject_share=0.0)):
        assert item.referral is not None
        p = people[first_person + n]
        subject = Subject(given_name=p.given_name, family_name=p.family_name,
                          date_of_birth=p.date_of_birth, nhs_number=p.nhs_number, postcode=p.postcode)
        r = item.referral.model_copy(update={"subject": subject})
        out.append(Prepared(r.referral_id, r.source_system, r.referral_id.encode(), serde.encode(r)))
    return out


class Sender(Protocol):
    """Where a sender's items go: one or several producers."""

    def produce(self, item: Prepared) -> None: ...  # raises BufferError when the queue is full
    def poll(self, timeout: float) -> None: ...
    def flush(self, timeout: float) -> None: ...


class SourceSystems:
    """The load generator as the source systems: each referral is written by its own source
    system's producer, as that system's principal, to that system's own topic."""

    def __init__(self, sources: Mapping[str, KafkaSettings], linger_ms: float) -> None:
        self.producers = {s: Producer(k.producer_config(**{"linger.ms": linger_ms})) for s, k in sources.items()}
        self.topics = {s: k.topics.referrals(s) for s, k in sources.items()}

    def produce(self, item: Prepared) -> None:
        self.producers[item.source_system].produce(self.topics[item.source_system], key=item.key,
                                                   value=item.value)

    def poll(self, timeout: float) -> None:
        for producer in self.producers.values():
            producer.poll(timeout)

    def flush(self, timeout: float) -> None:
        for producer in self.producers.values():
            producer.flush(timeout)


class OneTopic:
    """A plain producer to one topic (the probe and baseline loops)."""

    def __init__(self, kafka: KafkaSettings, topic: str, linger_ms: float) -> None:
        self.producer = Producer(kafka.producer_config(**{"linger.ms": linger_ms}))
        self.topic = topic

    def produce(self, item: Prepared) -> None:
        self.producer.produce(self.topic, key=item.key, value=item.value)

    def poll(self, timeout: float) -> None:
        self.producer.poll(timeout)

    def flush(self, timeout: float) -> None:
        self.producer.flush(timeout)


def send_burst(sender: Sender, items: list[Prepared]) -> float:
    """Produce everything as fast as the clients take it (linger 5 ms); returns the wall time
    it started."""
    started = time.time()
    for p in items:
        while True:
            try:
                sender.produce(p)
                break
            except BufferError:
                sender.poll(0.01)
        sender.poll(0)
    sender.flush(60)
    return started


def send_open_loop(sender: Sender, items: list[Prepared], rate: float,
                   on_progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """Open loop: item i is due at start + i/rate whatever happened before. Returns each
    referral's *intended* send time (epoch seconds): latency is measured from it, so a sender
    or broker stall shows up in the figures instead of hiding (coordinated omission).
    The sender's producers should linger 0."""
    intended: dict[str, float] = {}
    t0 = time.time() + 0.2
    for i, p in enumerate(items):
        due = t0 + i / rate
        while (pause := due - time.time()) > 0:
            time.sleep(min(pause, 0.05))  # pacing the schedule
        intended[p.referral_id] = due
        sender.produce(p)
        sender.poll(0)
        if on_progress is not None and i % 20 == 0:
            on_progress(i)
    sender.flush(60)
    return intended


# agencies and the hub system, in a process of their own ----------------------------------------


class CaseSilence:
    """Wraps an agency's handler: silent for a fixed share of *cases*, chases included (the SDK
    simulator draws silence afresh per chase, so a silent agency would usually answer a chase
    and no deadline would ever fire)."""

    def __init__(self, inner: Callable[[InformationRequest], Any], rate: float) -> None:
        self.inner = inner
        self.rate = rate

    def __call__(self, request: InformationRequest) -> Any:
        if random.Random(f"silence:{request.case_id}").random() < self.rate:
            raise DropRequest("benchmark: agency silent for this case")
        return self.inner(request)


def _actors_main(agency_settings: dict[str, KafkaSettings], hub_settings: KafkaSettings, profile: Profile,
                 people: int, silent: dict[str, float], ready: Any, stop: Any) -> None:
    agencies = build_agencies(agency_settings, sorted(agency_settings), profile=profile,
                              population_size=people)
    for adapter in agencies.adapters:
        rate = silent.get(adapter.settings.agency)
        if rate:
            adapter.handler = CaseSilence(adapter.handler, rate)
    agencies.start()
    agencies.wait_ready(120)
    hub = HubSystem(hub_settings, decision_delay_s=HUB_DECISION_DELAY_S).start()
    ready.set()
    stop.wait()
    hub.stop()
    agencies.stop(30)


@dataclass
class Actors:
    """The simulated agencies and the simulated hub case system in one child process, each
    connecting as its own principal."""

    agencies: dict[str, KafkaSettings]
    hub: KafkaSettings
    profile: Profile
    people: int
    silent: dict[str, float] = field(default_factory=dict)
    proc: Any = None
    _stop: Any = None

    def start(self) -> Actors:
        ctx = mp.get_context("spawn")
        ready, self._stop = ctx.Event(), ctx.Event()
        self.proc = ctx.Process(target=_actors_main, name="bench-actors", daemon=True, args=(
            self.agencies, self.hub, self.profile, self.people, self.silent, ready, self._stop))
        self.proc.start()
        if not ready.wait(180):
            raise RuntimeError("simulated agencies did not get ready in 180 s")
        return self

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self._stop.set()
            self.proc.join(60)
            if self.proc.is_alive():
                self.proc.kill()


# the pipeline ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One pipeline on a provisioned hub prefix, with free metrics ports."""

    tag: str
    hub: SecuredHub
    pipeline: Pipeline
    ports: dict[str, int]

    @classmethod
    def create(cls, hub: SecuredHub, tag: str, run_dir: Path, *, due_s: tuple[float, float, float],
               extra_env: dict[str, dict[str, str]] | None = None) -> Run:
        ports = {s: free_port() for s in ("intake", "enrichment", "routing")}
        env: dict[str, dict[str, str]] = {"intake": {"MASH_INTAKE_LOG_LEVEL": "WARNING"}}
        for service, extra in (extra_env or {}).items():
            env.setdefault(service, {}).update(extra)
        options = PipelineOptions(run_dir=run_dir / tag, due_red_s=due_s[0], due_amber_s=due_s[1],
                                  due_green_s=due_s[2], metrics_ports=ports, log_level="info",
                                  extra_env=env)
        return cls(tag, hub, Pipeline(hub, options), ports)

    def start(self, say: Say) -> Run:
        # The hub's topics are provisioned; each service creates its own internal topics.
        self.pipeline.start(say)
        return self

    def pids(self) -> dict[str, int]:
        return {name: w.proc.pid for name, w in self.pipeline.workers.items() if w.proc is not None}

    def metric(self, service: str, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[service]}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        # Sum over every series of the metric (a gauge may be labelled, e.g. by RAG).
        values = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
        return sum(float(v) for v in values) if values else None

    def stop(self) -> None:
        self.pipeline.stop()


# offsets ---------------------------------------------------------------------------------------


def consumer_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    config = kafka.confluent_config(**extra)
    config.pop("partitioner", None)  # a producer property; consumers warn about it
    return config


def topic_partitions(kafka: KafkaSettings, prefix: str | None = None) -> list[TopicPartition]:
    admin = AdminClient(kafka.confluent_config())
    meta = admin.list_topics(timeout=20)
    want = prefix if prefix is not None else kafka.topic_prefix
    return [TopicPartition(t.topic, p) for t in meta.topics.values() if t.topic.startswith(want)
            for p in t.partitions]


def end_offsets(kafka: KafkaSettings, prefix: str | None = None) -> dict[str, int]:
    """Messages produced so far on each topic under the prefix (sum of its end offsets)."""
    tps = topic_partitions(kafka, prefix)
    if not tps:
        return {}
    admin = AdminClient(kafka.confluent_config())
    futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=30)
    out: dict[str, int] = {}
    for tp, fut in futures.items():
        out[tp.topic] = out.get(tp.topic, 0) + fut.result().offset
    return out


def mean_record_size(kafka: KafkaSettings, counts: dict[str, int], per_topic: int = 200) -> float:
    """Mean value+key size over the run's topics, sampled from each topic's head and weighted
    by its message count. Needs the administrator: services' internal topics are only theirs."""
    consumer = Consumer(consumer_config(kafka, **{"group.id": f"{kafka.topic_prefix}mash-ops-bench-size",
                                                  "enable.auto.commit": False,
                                                  "enable.partition.eof": True}))
    total_bytes = 0.0
    total_n = 0
    try:
        for topic, n in counts.items():
            if n == 0:
                continue
            tps = [tp for tp in topic_partitions(kafka, topic) if tp.topic == topic]
            consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in tps])
            sizes: list[int] = []
            eofs = 0
            deadline = time.monotonic() + 10
            while len(sizes) < per_topic and eofs < len(tps) and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    eofs += msg.error().code() == KafkaError._PARTITION_EOF
                    continue
                sizes.append(len(msg.value() or b"") + len(msg.key() or b""))
            if sizes:
                total_bytes += n * sum(sizes) / len(sizes)
                total_n += n
    finally:
        consumer.close()
    return total_bytes / total_n if total_n else 0.0


# the tracker -----------------------------------------------------------------------------------


@dataclass
class CaseRecord:
    case_id: str
    referral_ids: list[str]
    rag: str
    opened_at: float
    due_at: float
    first_assembled_at: float | None = None  # AssembledCase.assembled_at of version 1
    first_ts: float | None = None  # Kafka timestamp of version 1
    completeness: str | None = None
    v1_count: int = 0


class Tracker(BackgroundLoop):
    """Reads the run's triaged, assembled and outcome topics from the beginning, in a thread
    (as ops.reader: it only observes), and keeps per referral and per case the Kafka timestamps (CreateTime: when the producing
    stage sent it) of what matters. Times are epoch seconds."""

    thread_name = "bench-tracker"

    def __init__(self, kafka: KafkaSettings, *, triaged: bool = False) -> None:
        super().__init__()
        self.kafka = kafka
        self.triaged = triaged
        self.lock = threading.Lock()
        self.source_of: dict[str, str] = {}
        self.outcome_ts: dict[tuple[str, str], float] = {}  # (referral_id, kind) -> ts
        self.assembled_ts: dict[str, float] = {}  # referral_id -> ts of its case's v1
        self.cases: dict[str, CaseRecord] = {}
        self.decisions = 0

    def expect(self, items: list[Prepared]) -> None:
        with self.lock:
            for p in items:
                self.source_of[p.referral_id] = p.source_system

    def _run(self) -> None:
        t = self.kafka.topics
        prefix = self.kafka.topic_prefix
        wanted = {t.assembled} | (set(t.triaged_lanes) if self.triaged else set())
        tps = [tp for tp in topic_partitions(self.kafka)
               if tp.topic in wanted or tp.topic.startswith(f"{prefix}mash.outcomes.")]
        consumer = Consumer(consumer_config(self.kafka, **{
            "group.id": f"{prefix}mash-ops-bench-tracker", "enable.auto.commit": False}))
        consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in tps])
        serde = AvroSerde()
        try:
            while not self.stopping:
                for msg in consumer.consume(500, 0.2):
                    if msg.error() or msg.value() is None:
                        continue
                    try:
                        record = serde.decode_any(msg.value())
                    except SerdeError:
                        continue
                    ts = msg.timestamp()[1] / 1000.0
                    with self.lock:
                        self._handle(record, ts)
        finally:
            consumer.close()

    def _handle(self, record: Any, ts: float) -> None:
        if isinstance(record, OutcomeNotification):
            rid = record.referral_id
            if rid and self.source_of.get(rid) == record.recipient:
                self.outcome_ts.setdefault((rid, record.kind.value), ts)
                if record.kind.value in (GATHERED, DECISION):
                    self.outcome_ts.setdefault((rid, TOLD), ts)
        elif isinstance(record, AssembledCase):
            case = self._case(record.case_id, record.referral_ids, record.rag.value,
                              record.opened_at, record.due_at)
            if record.version == 1:
                case.v1_count += 1
                if case.first_ts is None:
                    case.first_ts = ts
                    case.first_assembled_at = record.assembled_at.timestamp()
                    case.completeness = record.completeness.value
                    for rid in record.referral_ids:
                        self.assembled_ts.setdefault(rid, ts)
        elif isinstance(record, TriagedReferral):
            self._case(record.case_id, [record.referral.referral_id], record.rag.value,
                       record.opened_at, record.due_at)

    def _case(self, case_id: str, rids: list[str], rag: str, opened: datetime, due: datetime) -> CaseRecord:
        case = self.cases.get(case_id)
        if case is None:
            case = self.cases[case_id] = CaseRecord(case_id, list(rids), rag, opened.timestamp(),
                                                    due.timestamp())
        return case

    def done(self, referral_ids: list[str], kind: str) -> int:
        """How many of these referrals' referrers have had an outcome of this kind."""
        with self.lock:
            return sum(1 for r in referral_ids if (r, kind) in self.outcome_ts)

    def wait_done(self, referral_ids: list[str], kind: str, timeout_s: float,
                  on_progress: Callable[[int], None] | None = None) -> int:
        deadline = time.monotonic() + timeout_s
        while (n := self.done(referral_ids, kind)) < len(referral_ids) and time.monotonic() < deadline:
            if on_progress is not None:
                on_progress(n)
            time.sleep(0.2)  # polling the tracker's counts
        if on_progress is not None:
            on_progress(n)
        return n

    def times(self, referral_ids: list[str], kind: str) -> dict[str, float]:
        """referral_id -> Kafka timestamp of the first outcome of this kind to its referrer."""
        with self.lock:
            return {r: self.outcome_ts[(r, kind)] for r in referral_ids if (r, kind) in self.outcome_ts}


# processes' CPU and memory ---------------------------------------------------------------------


class ProcessSet:
    """The processes a benchmark accounts for: workers, agencies+hub, the broker JVM, this one."""

    def __init__(self, pids: dict[str, int], broker: int | None) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        if broker is not None:
            self.procs["broker"] = psutil.Process(broker)
        self.procs["bench driver"] = psutil.Process()

    def cpu_s(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            try:
                t = p.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = float("nan")
        return out

    def rss(self) -> dict[str, int]:
        out = {}
        for name, p in self.procs.items():
            try:
                out[name] = p.memory_info().rss
            except psutil.Error:
                out[name] = -1
        return out


@contextmanager
def started(run: Run, say: Say) -> Iterator[Run]:
    try:
        yield run.start(say)
    finally:
        run.stop()


def pctl(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def results_root() -> Path:
    return ROOT / "bench" / "results"
