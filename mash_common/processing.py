"""The consume loop every service shares: a message is handled, or the worker stops.

Faust acks a message when the agent's `async for` lets go of it, even when the body raised,
and an orderly stop commits acked offsets; an agent that logs and carries on, or that faust
restarts, has skipped the message for good. So an unexpected exception (a bug, or a
transient failure that outlived its retries) stops the process at once, before anything is
acked or committed: the message is redelivered to whichever worker takes the partition next.
Poison messages never get here: each service dead-letters what it cannot read before that.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from faust.types import EventT

from mash_common.streams import Position, position_of

logger = logging.getLogger(__name__)

# EX_SOFTWARE: the worker stopped itself on an unexpected error.
EXIT_ON_ERROR = 70

ExitProcess = Callable[[int], object]
T = TypeVar("T")


def stop_worker(position: Position | str, exc: BaseException,
                exit_process: ExitProcess = os._exit) -> NoReturn:
    """Stop at once without acking or committing the message (or timer tick) that failed.

    os._exit stops before faust can ack or commit anything. Exception text can hold values,
    so only the type and the frames (file, line, function; no source text, no locals) are
    logged, never the message.
    """
    logger.critical("unexpected %s handling %s; stopping the worker without committing it",
                    type(exc).__name__, position)
    frames = traceback.extract_tb(exc.__traceback__)
    logger.critical("where: %s", " <- ".join(
        f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames)))
    for handler in logging.getLogger().handlers:
        handler.flush()
    exit_process(EXIT_ON_ERROR)
    raise SystemExit(EXIT_ON_ERROR)  # only reached when a test replaces exit_process


async def consume_events(events: AsyncIterator[EventT], handle: Callable[[EventT], Awaitable[None]],
                         exit_process: ExitProcess = os._exit) -> None:
    """Handle each event in turn; stop the worker on anything the handler did not expect."""
    async for event in events:
        try:
            await handle(event)
        except Exception as exc:  # a bug or an exhausted retry: never skip the message
            stop_worker(position_of(event), exc, exit_process)


async def consume_batches(batches: AsyncIterator[Sequence[EventT]],
                          handle: Callable[[Sequence[EventT]], Awaitable[None]],
                          exit_process: ExitProcess = os._exit) -> None:
    """Handle batches of events; on an unexpected error stop, naming the batch's first event
    (none of the batch is acked: faust acks a batch only once `take_events` moves on)."""
    async for batch in batches:
        try:
            await handle(batch)
        except Exception as exc:  # a bug or an exhausted retry: never skip the batch
            where = position_of(batch[0]) if batch else "an empty batch"
            stop_worker(where, exc, exit_process)


def guarded(what: str, work: Callable[[], Awaitable[T]],
            exit_process: ExitProcess = os._exit) -> Callable[[], Awaitable[T]]:
    """A timer's body that stops the worker on an unexpected error instead of being retried
    on the next tick with whatever it half did."""

    async def run() -> T:
        try:
            return await work()
        except Exception as exc:
            stop_worker(what, exc, exit_process)

    run.__name__ = getattr(work, "__name__", what)
    run.__qualname__ = run.__name__
    return run
