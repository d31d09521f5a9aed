"""The shared consume loop: a handled message moves on, a bug stops the worker at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from unittest.mock import MagicMock

import pytest
from faust.types import EventT

from mash_common.processing import EXIT_ON_ERROR, consume_batches, consume_events, guarded


def event(topic: str, partition: int, offset: int) -> EventT:
    ev = MagicMock(spec_set=["message", "key", "value"])
    ev.message = MagicMock(spec_set=["topic", "partition", "offset", "timestamp", "headers"])
    ev.message.topic, ev.message.partition, ev.message.offset = topic, partition, offset
    ev.message.timestamp, ev.message.headers = 1_790_000_000.0, []
    return ev


async def aiter_of(items: Sequence[object]) -> AsyncIterator[object]:
    for item in items:
        yield item


def test_each_event_is_handled_in_order() -> None:
    seen: list[int] = []

    async def handle(ev: EventT) -> None:
        seen.append(ev.message.offset)

    exit_process = MagicMock(spec_set=lambda code: None)
    asyncio.run(consume_events(aiter_of([event("t", 0, i) for i in range(3)]), handle,  # type: ignore[arg-type]
                               exit_process))
    assert seen == [0, 1, 2] and not exit_process.called


def test_a_bug_stops_the_worker_at_the_message_and_handles_nothing_after_it(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    async def handle(ev: EventT) -> None:
        if ev.message.offset == 1:
            raise KeyError("Sam Example 9434765919")  # values in the text must not be logged
        seen.append(ev.message.offset)

    exit_process = MagicMock(spec_set=lambda code: None)
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
        asyncio.run(consume_events(aiter_of([event("mash.responses.police", 4, i) for i in range(3)]),  # type: ignore[arg-type]
                                   handle, exit_process))
    exit_process.assert_called_once_with(EXIT_ON_ERROR)
    assert seen == [0]
    assert "mash.responses.police[4]@1" in caplog.text and "KeyError" in caplog.text
    assert "9434765919" not in caplog.text and "Sam" not in caplog.text


def test_a_bug_in_a_batch_names_its_first_message() -> None:
    async def handle(batch: Sequence[EventT]) -> None:
        raise RuntimeError("boom")

    exit_process = MagicMock(spec_set=lambda code: None)
    batches = [[event("mash.referrals.triaged", 2, 10), event("mash.referrals.triaged", 2, 11)]]
    with pytest.raises(SystemExit):
        asyncio.run(consume_batches(aiter_of(batches), handle, exit_process))  # type: ignore[arg-type]
    exit_process.assert_called_once_with(EXIT_ON_ERROR)


def test_a_timer_that_fails_stops_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    async def sweep() -> None:
        raise ValueError("half done")

    exit_process = MagicMock(spec_set=lambda code: None)
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
        asyncio.run(guarded("the deadline sweeper", sweep, exit_process)())  # type: ignore[arg-type]
    exit_process.assert_called_once_with(EXIT_ON_ERROR)
    assert "the deadline sweeper" in caplog.text
