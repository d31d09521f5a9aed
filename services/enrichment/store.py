"""Enrichment's case state: one compact copy per case, and an index of when each is due.

The changelog-backed table holds each case's state once, as zlib-compressed JSON (about a
third of the JSON's size); a case is decoded only when an event or its own deadline needs
it. Beside it, a deadline index: a heap of (next wake-up, case) for cases still gathering,
and one of (forget time, case) for assembled cases, so the sweeper looks only at what is
due instead of scanning every case, and assembled cases are out of its way.

The table's data changes behind the store's back when faust recovers a partition from its
changelog (a restart, a rebalance): `reindex` rebuilds the index from the table then, and
the sweeper calls it whenever the set of partitions this worker owns changes. Heap entries
are never removed in place; an entry that no longer matches the case's current wake-up is
skipped when it comes up.
"""

from __future__ import annotations

import heapq
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mash_common.contracts import Rag
from mash_hub.services.enrichment.logic import GatherState, Phase

# zlib level 1: most of the saving at a small cost (a few tens of microseconds a case).
COMPRESSION_LEVEL = 1

# Writes the table and its changelog partition: (partition, key, value or None for a delete).
WriteFn = Callable[[int, bytes, bytes | None], None]


def encode_state(state: GatherState) -> bytes:
    return zlib.compress(state.model_dump_json().encode("utf-8"), COMPRESSION_LEVEL)


def decode_state(raw: bytes) -> GatherState:
    # States written before compression are plain JSON: they start with "{".
    data = raw if raw[:1] == b"{" else zlib.decompress(raw)
    return GatherState.model_validate_json(data)


@dataclass(frozen=True)
class CaseMeta:
    """What the sweeper and the gauges need of a case without decoding it."""

    partition: int
    rag: Rag
    due_at: datetime
    gathering: bool
    wake_at: datetime | None  # next chase point or deadline; None once assembled
    forget_at: datetime | None  # when an assembled case is forgotten


@dataclass(frozen=True)
class OpenCases:
    by_rag: Counter[Rag]
    next_due_s: dict[Rag, float]
    overdue: int


class CaseStore:
    """The gather table (case_id -> compressed state) with its deadline index.

    `write(partition, key, value)` writes the table and its changelog partition; the app
    passes mash_common.streams.write_table bound to its table.
    """

    def __init__(self, data: MutableMapping[bytes, bytes], write: WriteFn,
                 chase_points: tuple[float, ...], keep_for: timedelta) -> None:
        self._data = data
        self._write = write
        self._points = chase_points
        self._keep_for = keep_for
        self._meta: dict[bytes, CaseMeta] = {}
        self._wake: list[tuple[datetime, bytes]] = []
        self._forget: list[tuple[datetime, bytes]] = []

    @staticmethod
    def key(case_id: str) -> bytes:
        return case_id.encode("utf-8")

    # reading and writing ----------------------------------------------------------------

    def get(self, case_id: str) -> GatherState | None:
        raw = self._data.get(self.key(case_id))
        return None if raw is None else decode_state(raw)

    def put(self, state: GatherState) -> None:
        key = self.key(state.case_id)
        self._write(state.partition, key, encode_state(state))
        self._index(key, state)

    def delete(self, state: GatherState) -> None:
        key = self.key(state.case_id)
        self._write(state.partition, key, None)  # a changelog tombstone
        self._meta.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    # the index --------------------------------------------------------------------------

    def _index(self, key: bytes, state: GatherState) -> None:
        wake = state.next_wakeup(self._points)
        gathering = state.phase is Phase.GATHERING
        forget = None if gathering else state.due_at + self._keep_for
        meta = CaseMeta(state.partition, state.rag, state.due_at, gathering, wake, forget)
        old = self._meta.get(key)
        self._meta[key] = meta
        if wake is not None and (old is None or old.wake_at != wake):
            heapq.heappush(self._wake, (wake, key))
        if forget is not None and (old is None or old.forget_at != forget):
            heapq.heappush(self._forget, (forget, key))

    def reindex(self) -> int:
        """Rebuild the index from the table (after faust recovered partitions into it)."""
        self._meta.clear()
        self._wake.clear()
        self._forget.clear()
        for key, raw in list(self._data.items()):
            self._index(key, decode_state(raw))
        return len(self._meta)

    def _pop_due(self, heap: list[tuple[datetime, bytes]], now: datetime, owned: set[int],
                 current: str) -> list[str]:
        due: list[str] = []
        kept: list[tuple[datetime, bytes]] = []
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            meta = self._meta.get(key)
            if meta is None or getattr(meta, current) != at:
                continue  # stale: the case moved on, or is gone
            if meta.partition not in owned:
                kept.append((at, key))  # not ours now; keep it for when it is again
                continue
            due.append(key.decode("utf-8"))
        for item in kept:
            heapq.heappush(heap, item)
        return due

    def due(self, now: datetime, owned: set[int]) -> list[str]:
        """Cases on owned partitions whose next chase or deadline is at or before now, in
        due order. Each is returned once; put() indexes its next wake-up."""
        return self._pop_due(self._wake, now, owned, "wake_at")

    def forgettable(self, now: datetime, owned: set[int]) -> list[str]:
        """Assembled cases on owned partitions whose retention after the deadline is over."""
        return self._pop_due(self._forget, now, owned, "forget_at")

    def requeue(self, case_id: str) -> None:
        """Look at a case again on the next sweep (its step could not run now)."""
        key = self.key(case_id)
        meta = self._meta.get(key)
        if meta is not None and meta.wake_at is not None:
            heapq.heappush(self._wake, (meta.wake_at, key))

    def refresh(self, state: GatherState) -> None:
        """Index a case whose state the caller did not change (its wake-up moves on)."""
        key = self.key(state.case_id)
        self._meta.pop(key, None)
        self._index(key, state)

    def open_cases(self, now: datetime, owned: Iterable[int]) -> OpenCases:
        """Open cases by RAG, time to the next deadline by RAG, and how many are overdue."""
        mine = set(owned)
        by_rag: Counter[Rag] = Counter()
        next_due: dict[Rag, float] = {}
        overdue = 0
        for meta in self._meta.values():
            if not meta.gathering or meta.partition not in mine:
                continue
            by_rag[meta.rag] += 1
            overdue += now >= meta.due_at
            left = (meta.due_at - now).total_seconds()
            next_due[meta.rag] = min(next_due.get(meta.rag, left), left)
        return OpenCases(by_rag, next_due, overdue)
