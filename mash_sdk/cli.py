"""Running adapters from a command line: threads, SIGTERM/SIGINT, exit status."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from mash_sdk.runtime import Adapter

logger = logging.getLogger(__name__)


def run_until_signalled(adapters: Sequence[Adapter]) -> int:
    """Run every adapter in its own thread until SIGTERM/SIGINT or one of them fails.

    Returns 0 after a clean shutdown, 1 if an adapter stopped on an error. Each adapter
    finishes, answers and commits the request in hand before it leaves its group.
    """
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping %d adapter(s)", signum, len(adapters))
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [a.start_in_thread() for a in adapters]
    while not done.is_set():
        if any(a.stopped.is_set() for a in adapters):
            break
        done.wait(0.5)
    for adapter in adapters:
        adapter.stop()
    for thread in threads:
        thread.join(60)
    failed = [a.settings.agency for a in adapters if a.failure is not None]
    if failed:
        logger.error("adapter(s) failed: %s", ", ".join(failed))
        return 1
    logger.info("stopped cleanly")
    return 0
