"""WorkerProbes asks the worker's own event loop: a loop that does not answer in time means
the worker is not alive; a worker without partitions is alive but not ready."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import faust
import pytest

from mash_common.worker import WorkerProbes


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def attached(app: faust.App, loop: asyncio.AbstractEventLoop, timeout: float) -> WorkerProbes:
    probes = WorkerProbes(app, timeout=timeout)
    # What faust does with the task at worker start: run it on the worker's loop.
    asyncio.run_coroutine_threadsafe(probes._attach(), loop).result(5)
    return probes


def test_before_the_worker_runs_it_is_alive_but_not_ready() -> None:
    probes = WorkerProbes(faust.App("probe-test-1", broker="kafka://127.0.0.1:1"))
    assert probes.alive() == (True, {"worker": "starting"})
    assert probes.ready() == (False, {"worker": "starting"})


def test_no_partitions_is_not_ready(loop: asyncio.AbstractEventLoop) -> None:
    probes = attached(faust.App("probe-test-2", broker="kafka://127.0.0.1:1"), loop, 5.0)
    ok, detail = probes.ready()
    assert ok is False and detail["partitions_assigned"] == 0
    assert probes.alive() == (True, {"crashed": False})


def test_a_blocked_event_loop_is_not_alive(loop: asyncio.AbstractEventLoop) -> None:
    probes = attached(faust.App("probe-test-3", broker="kafka://127.0.0.1:1"), loop, 0.3)
    release = threading.Event()
    loop.call_soon_threadsafe(lambda: release.wait(5))  # blocks the loop, as a stuck agent would
    try:
        started = time.monotonic()
        ok, detail = probes.alive()
        assert ok is False and "no answer within 0.3 s" in str(detail["event_loop"])
        assert time.monotonic() - started < 3
        assert probes.ready()[0] is False
    finally:
        release.set()
    assert probes.alive()[0] is True  # the loop answers again
