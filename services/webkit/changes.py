"""A change signal from Kafka reader threads to the asyncio handlers waiting on it."""

from __future__ import annotations

import asyncio
import contextlib


class Changes:
    """A counter that reader threads bump and event-loop coroutines wait on.

    `bump()` may be called from any thread; `wait(seen, timeout)` returns as soon as the
    counter has moved past `seen` (or at the timeout), on the loop the signal was bound to.
    """

    def __init__(self) -> None:
        self.version = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1  # an int store: atomic under the GIL, read by wait()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._event is not None:
            event, self._event = self._event, asyncio.Event()
            event.set()

    async def wait(self, seen: int, timeout_s: float) -> int:
        """The version once it differs from `seen`, or the same one after `timeout_s`."""
        if self.version != seen or self._event is None:
            return self.version
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return self.version
