"""Watches every topic of a run and keeps the picture the live view and the summary show.

It reads with its own consumer group and commits nothing, so it changes nothing in the
pipeline. It tracks ids, states and timings only: no personal data.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, KafkaError

from mash_common.contracts import (
    AssembledCase,
    Completeness,
    DeadLetter,
    InformationRequest,
    InformationResponse,
    NotificationKind,
    OutcomeNotification,
    Rag,
    TriagedReferral,
)
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.background import BackgroundLoop

logger = logging.getLogger(__name__)


@dataclass
class CaseView:
    case_id: str
    rag: Rag
    opened_at: datetime
    due_at: datetime
    referral_ids: set[str] = field(default_factory=set)
    first_assembled_at: datetime | None = None
    first_assembled_seen: float | None = None  # monotonic, when the observer saw it
    completeness: Completeness | None = None
    missing: list[str] = field(default_factory=list)
    version: int = 0


@dataclass
class Snapshot:
    """A consistent copy of the counts for display."""

    counts: Counter[str]
    rag: Counter[str]
    requests_by_agency: Counter[str]
    responses_by_status: Counter[str]
    outcomes_by_kind: Counter[str]
    deadletters_by_reason: Counter[str]
    recent: list[str]
    open_cases: int
    cases: int
    complete: int
    partial: int


class Observer(BackgroundLoop):
    """Consumes every `<prefix>mash.*` topic of the run from the beginning."""

    thread_name = "observer"

    def __init__(self, kafka: KafkaSettings) -> None:
        super().__init__()
        self._kafka = kafka
        self._serde = AvroSerde()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests_by_agency: Counter[str] = Counter()
        self.responses_by_status: Counter[str] = Counter()
        self.outcomes_by_kind: Counter[str] = Counter()
        self.deadletters_by_reason: Counter[str] = Counter()
        self.recent: deque[str] = deque(maxlen=12)
        self.cases: dict[str, CaseView] = {}
        self.case_of_referral: dict[str, str] = {}
        self.sent_at: dict[str, float] = {}  # referral_id -> monotonic send time
        self.source_of: dict[str, str] = {}  # referral_id -> source system
        # (case_id, recipient) with a DECISION; referral_ids with a REJECTED; timings
        self.decided: dict[tuple[str, str], float] = {}
        self.rejected: set[str] = set()
        self.gathered: set[tuple[str, str]] = set()

    def note_sent(self, referral_id: str, source_system: str) -> None:
        with self._lock:
            self.sent_at[referral_id] = time.monotonic()
            self.source_of[referral_id] = source_system

    # reading ---------------------------------------------------------------------------

    def _run(self) -> None:
        prefix = re.escape(self._kafka.topic_prefix)
        consumer = Consumer(self._kafka.confluent_config(**{
            "group.id": f"{self._kafka.topic_prefix}mash-ops-observer-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 2000,
        }))
        consumer.subscribe([f"^{prefix}mash\\..*"])
        try:
            while not self.stopping:
                for msg in consumer.consume(500, 0.2):
                    if msg.error():
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            logger.debug("observer: %s", msg.error())
                        continue
                    self._handle(msg.value())
        finally:
            consumer.close()

    def _handle(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = self._serde.decode_any(value)
        except SerdeError:
            self.counts["undecodable"] += 1  # e.g. the garbage the demo sends on purpose
            return
        with self._lock:
            self.counts[record.avro_name] += 1
            if isinstance(record, TriagedReferral):
                self._on_triaged(record)
            elif isinstance(record, InformationRequest):
                self.requests_by_agency[record.agency] += 1
                self.counts["chases" if record.is_chase else "requests_first"] += 1
            elif isinstance(record, InformationResponse):
                self.responses_by_status[record.status.value] += 1
            elif isinstance(record, AssembledCase):
                self._on_assembled(record)
            elif isinstance(record, OutcomeNotification):
                self._on_outcome(record)
            elif isinstance(record, DeadLetter):
                self.deadletters_by_reason[record.reason_code] += 1

    def _case(self, case_id: str, rag: Rag, opened_at: datetime, due_at: datetime) -> CaseView:
        # Topics are read side by side, so a case's assembly can be seen before its triage.
        case = self.cases.get(case_id)
        if case is None:
            case = self.cases[case_id] = CaseView(case_id, rag, opened_at, due_at)
            self.recent.append(f"case {case_id} opened {rag.value}")
        return case

    def _on_triaged(self, t: TriagedReferral) -> None:
        self.case_of_referral[t.referral.referral_id] = t.case_id
        known = t.case_id in self.cases
        case = self._case(t.case_id, t.rag, t.opened_at, t.due_at)
        if known and t.linked_case is not None:
            self.recent.append(f"referral linked to {t.case_id} ({t.rag.value})")
            case.rag, case.due_at = t.rag, t.due_at
        case.referral_ids.add(t.referral.referral_id)

    def _on_assembled(self, a: AssembledCase) -> None:
        case = self._case(a.case_id, a.rag, a.opened_at, a.due_at)
        case.referral_ids.update(a.referral_ids)
        if a.version <= case.version:
            return
        case.version = a.version
        case.rag = a.rag
        case.completeness = a.completeness
        case.missing = list(a.missing_agencies)
        if case.first_assembled_at is None:
            case.first_assembled_at = a.assembled_at
            case.first_assembled_seen = time.monotonic()
        label = "amended" if a.version > 1 else a.completeness.value.lower()
        missing = f" (missing {', '.join(a.missing_agencies)})" if a.missing_agencies else ""
        self.recent.append(f"case {a.case_id} v{a.version} {label}{missing}")

    def _on_outcome(self, o: OutcomeNotification) -> None:
        self.outcomes_by_kind[o.kind.value] += 1
        # The recipient policy may withhold the case id (the public's view); the observer,
        # which reads the triaged topic, maps the referral back to its case.
        case_id = o.case_id or self.case_of_referral.get(o.referral_id or "")
        if o.kind is NotificationKind.DECISION and case_id:
            self.decided.setdefault((case_id, o.recipient), time.monotonic())
            outcome = o.decision_outcome.value if o.decision_outcome else "acted on"
            self.recent.append(f"{o.recipient} told: {case_id} {outcome}")
        elif o.kind is NotificationKind.REJECTED and o.referral_id:
            self.rejected.add(o.referral_id)
            self.recent.append(f"{o.recipient} told: referral {o.referral_id} rejected")
        elif o.kind is NotificationKind.INFORMATION_GATHERED and case_id:
            self.gathered.add((case_id, o.recipient))

    # questions -------------------------------------------------------------------------

    def referral_done(self, referral_id: str, expect_rejected: bool) -> bool:
        """Rejected and told so; or assembled and its referrer told the decision."""
        if expect_rejected:
            return referral_id in self.rejected
        case_id = self.case_of_referral.get(referral_id)
        if case_id is None:
            return False
        case = self.cases.get(case_id)
        source = self.source_of.get(referral_id)
        return (
            case is not None and case.first_assembled_at is not None
            and (case_id, source or "") in self.decided
        )

    def outstanding(self, expected: dict[str, bool]) -> list[str]:
        with self._lock:
            return [r for r, rej in expected.items() if not self.referral_done(r, rej)]

    def snapshot(self) -> Snapshot:
        with self._lock:
            assembled = [c for c in self.cases.values() if c.completeness is not None]
            return Snapshot(
                counts=Counter(self.counts), rag=Counter(c.rag.value for c in self.cases.values()),
                requests_by_agency=Counter(self.requests_by_agency),
                responses_by_status=Counter(self.responses_by_status),
                outcomes_by_kind=Counter(self.outcomes_by_kind),
                deadletters_by_reason=Counter(self.deadletters_by_reason),
                recent=list(self.recent),
                open_cases=len(self.cases) - len(assembled),
                cases=len(self.cases),
                complete=sum(1 for c in assembled if c.completeness is Completeness.COMPLETE),
                partial=sum(1 for c in assembled if c.completeness is Completeness.PARTIAL),
            )

    def assembly_times(self) -> dict[str, list[float]]:
        """Seconds from case opened to first assembly, by RAG."""
        with self._lock:
            times: dict[str, list[float]] = {}
            for case in self.cases.values():
                if case.first_assembled_at is not None:
                    seconds = (case.first_assembled_at - case.opened_at).total_seconds()
                    times.setdefault(case.rag.value, []).append(seconds)
            return times
