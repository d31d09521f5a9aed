"""Pure lag arithmetic and stall detection: no Kafka, no clock reads (the clock is passed in).

Lag in messages is log-end minus committed. Lag in time is the age of the oldest unconsumed
message (the one at the committed offset), 0 when caught up. A consumer is stalled when its
committed offset has stayed put, while messages wait, for longer than the stall window; one
with nothing to read is idle, never stalled, however long it has not committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

REQUEST_TOPIC = "mash.requests."


def topic_labels(topic: str, prefix: str = "") -> tuple[str, str]:
    """(agency, rag) of a request topic <prefix>mash.requests.<agency>.<rag>; ("", "") otherwise."""
    name = topic[len(prefix):] if prefix and topic.startswith(prefix) else topic
    if not name.startswith(REQUEST_TOPIC):
        return "", ""
    agency, _, rag = name[len(REQUEST_TOPIC):].rpartition(".")
    if not agency or rag not in ("red", "amber", "green"):
        return "", ""
    return agency, rag


def message_lag(committed: int, log_end: int) -> int:
    """Messages waiting: log-end minus committed, never negative."""
    return max(0, log_end - committed)


def time_lag_seconds(lag_messages: int, oldest_timestamp_ms: int | None, now_ms: int) -> float | None:
    """Age of the oldest unconsumed message; 0 when caught up, None when it could not be read."""
    if lag_messages == 0:
        return 0.0
    if oldest_timestamp_ms is None or oldest_timestamp_ms < 0:
        return None
    return max(0.0, (now_ms - oldest_timestamp_ms) / 1000.0)


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    log_end: int
    lag_messages: int
    lag_seconds: float | None
    agency: str = ""
    rag: str = ""
    stalled: bool = False


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total_messages(self) -> int:
        return sum(p.lag_messages for p in self.partitions)

    @property
    def max_seconds(self) -> float:
        return max((p.lag_seconds or 0.0 for p in self.partitions), default=0.0)

    @property
    def stalled_partitions(self) -> int:
        return sum(1 for p in self.partitions if p.stalled)


@dataclass(frozen=True)
class LagSnapshot:
    taken_at_ms: int
    groups: tuple[GroupLag, ...]
    reachable: bool = True
    error: str | None = None

    def partitions(self) -> Iterable[PartitionLag]:
        for group in self.groups:
            yield from group.partitions


Key = tuple[str, str, int]


@dataclass
class _Watch:
    committed: int
    since: float  # clock reading when this committed offset was first seen with messages waiting


@dataclass
class StallTracker:
    """Remembers, per group/topic/partition, since when the committed offset has not moved
    while messages waited. The clock is injected so tests move time without sleeping."""

    stall_after_s: float
    clock: Callable[[], float]
    _watches: dict[Key, _Watch] = field(default_factory=dict)

    def observe(self, key: Key, committed: int, lag_messages: int) -> bool:
        """Record one sample; True when the partition is stalled."""
        now = self.clock()
        if lag_messages <= 0:
            # Nothing to read: idle, not stalled. The next wait starts its own window.
            self._watches.pop(key, None)
            return False
        watch = self._watches.get(key)
        if watch is None or watch.committed != committed:
            self._watches[key] = _Watch(committed, now)
            return False
        return now - watch.since >= self.stall_after_s

    def forget_except(self, keys: set[Key]) -> None:
        """Drop partitions no longer reported (group deleted, topic gone)."""
        for key in list(self._watches):
            if key not in keys:
                del self._watches[key]
