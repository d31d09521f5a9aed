"""Where the report's events come from, behind one small interface.

`EventSource.load()` returns every decoded contract record the report needs. Today the
source is the hub's topics, read as the read-only operations principal with a consumer that
never commits (`KafkaEventSource`); the audit store can become another source by
implementing the same method. `Events` itself is a plain container, so tests build one from
records they make.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from mash_common.contracts import (
    AssembledCase,
    AuditEvent,
    Contract,
    DeadLetter,
    Decision,
    InformationRequest,
    InformationResponse,
    OutcomeNotification,
    TriagedReferral,
)
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_ops.reading import Record, list_topics, read_topics

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Contract)


@dataclass
class Events:
    """Every record the report reads, decoded. Order does not matter to the figures."""

    triaged: list[TriagedReferral] = field(default_factory=list)
    assembled: list[AssembledCase] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    requests: list[InformationRequest] = field(default_factory=list)
    responses: list[InformationResponse] = field(default_factory=list)
    outcomes: list[OutcomeNotification] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    # Records a source could not decode, by where they were (topic or table).
    unreadable: dict[str, int] = field(default_factory=dict)

    def earliest(self) -> datetime | None:
        """The oldest moment any record speaks of: how far back the source reaches."""
        moments = ([t.referral.received_at for t in self.triaged]
                   + [a.at for a in self.audit] + [d.at for d in self.deadletters])
        return min(moments, default=None)


class EventSource(Protocol):
    def load(self) -> Events:
        """Every record the source holds now."""
        ...

    def describe(self) -> dict[str, Any]:
        """What was read, for the report's provenance (no personal data)."""
        ...


def _decode(records: Iterable[Record], model: type[M], serde: AvroSerde,
            unreadable: Counter[str], seen: Counter[str]) -> list[M]:
    out = []
    for r in records:
        if r.value is None:
            continue  # a tombstone on a compacted topic
        seen[r.topic] += 1
        try:
            out.append(serde.decode(r.value, model))
        except SerdeError:
            # Position only: the bytes may hold personal data.
            logger.warning("skipped an unreadable record at %s[%s]@%s", r.topic, r.partition,
                           r.offset)
            unreadable[r.topic] += 1
    return out


class KafkaEventSource:
    """The hub's topics, from their beginning to their current end."""

    def __init__(self, kafka: KafkaSettings, *, progress: Callable[[str], None] = lambda _: None,
                 timeout_s: float = 300.0) -> None:
        self.kafka = kafka
        self.progress = progress
        self.timeout_s = timeout_s
        self.read: Counter[str] = Counter()

    def _topics(self, head: str) -> list[str]:
        prefix = f"{self.kafka.topic_prefix}{head}"
        return sorted(t for t in list_topics(self.kafka) if t.startswith(prefix))

    def load(self) -> Events:
        names = self.kafka.topics
        serde = AvroSerde()
        unreadable: Counter[str] = Counter()
        steps = 8

        def read(step: int, what: str, topics: list[str], model: type[M]) -> list[M]:
            self.progress(f"[{step}/{steps}] reading {what} from {len(topics)} topic(s)")
            records = _decode(read_topics(self.kafka, topics, timeout_s=self.timeout_s), model,
                              serde, unreadable, self.read)
            self.progress(f"      {len(records)} read")
            return records

        events = Events(
            triaged=read(1, "triaged referrals", list(names.triaged_lanes), TriagedReferral),
            assembled=read(2, "assembled cases", [names.assembled], AssembledCase),
            decisions=read(3, "decisions", [names.decisions], Decision),
            requests=read(4, "information requests", self._topics("mash.requests."),
                          InformationRequest),
            responses=read(5, "information responses", self._topics("mash.responses."),
                           InformationResponse),
            outcomes=read(6, "outcome notifications", self._topics("mash.outcomes."),
                          OutcomeNotification),
            deadletters=read(7, "dead letters", [names.deadletter], DeadLetter),
            audit=read(8, "audit events", [names.audit], AuditEvent),
        )
        events.unreadable = dict(unreadable)
        return events

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "kafka",
            "topic_prefix": self.kafka.topic_prefix,
            "principal": self.kafka.principal,
            "records_read": sum(self.read.values()),
        }
