"""Which request to serve next: pure decisions, no Kafka.

Red overtakes Amber and Green everywhere it queues. The runtime keeps a small local buffer
per RAG; these functions say which buffer to serve from and which RAGs' partitions to pause
so that the broker keeps delivering Red while Amber and Green wait.
"""

from __future__ import annotations

from collections.abc import Mapping

from mash_common.contracts import Rag

BY_URGENCY: tuple[Rag, ...] = tuple(sorted(Rag, key=lambda r: r.rank))


def next_rag(buffered: Mapping[Rag, int], red_pending_on_broker: bool) -> Rag | None:
    """The RAG to serve now, or None to poll again first.

    A lower-priority request is not started while Red requests are known to be on the
    broker but not yet fetched: the next poll brings them, and they go first.
    """
    for rag in BY_URGENCY:
        if buffered.get(rag, 0) > 0:
            if rag is not Rag.RED and red_pending_on_broker:
                return None
            return rag
    return None


def rags_to_pause(buffered: Mapping[Rag, int], limit: int) -> set[Rag]:
    """Stop fetching a RAG while a more urgent one has work, or its own buffer is full.

    Red is never paused. Pausing bounds the local buffer, so a backlog of hundreds of Green
    requests stays on the broker instead of in front of the next Red one.
    """
    paused: set[Rag] = set()
    for rag in BY_URGENCY:
        if rag is Rag.RED:
            continue
        more_urgent_busy = any(buffered.get(r, 0) > 0 for r in BY_URGENCY if r.rank < rag.rank)
        if more_urgent_busy or buffered.get(rag, 0) >= limit:
            paused.add(rag)
    return paused


def backoff_s(attempt: int, initial_s: float, max_s: float) -> float:
    """Exponential backoff before retry number `attempt` (1-based): initial, 2x, 4x ... capped."""
    return min(max_s, initial_s * (2 ** (attempt - 1)))
