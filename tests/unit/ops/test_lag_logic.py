"""Lag arithmetic and stall detection, with a hand-moved clock."""

from __future__ import annotations

import pytest

from mash_ops.lag import StallTracker, message_lag, time_lag_seconds, topic_labels


@pytest.mark.parametrize(("topic", "prefix", "expected"), [
    ("mash.requests.police.red", "", ("police", "red")),
    ("t1.mash.requests.social-care.amber", "t1.", ("social-care", "amber")),
    ("mash.requests.youth-offending.green", "", ("youth-offending", "green")),
    ("mash.requests.police.purple", "", ("", "")),
    ("mash.requests.red", "", ("", "")),
    ("mash.referrals", "", ("", "")),
    ("mash.responses", "", ("", "")),
])
def test_topic_labels(topic: str, prefix: str, expected: tuple[str, str]) -> None:
    assert topic_labels(topic, prefix) == expected


@pytest.mark.parametrize(("committed", "end", "lag"), [(0, 0, 0), (4, 10, 6), (10, 10, 0), (12, 10, 0)])
def test_message_lag(committed: int, end: int, lag: int) -> None:
    assert message_lag(committed, end) == lag


def test_time_lag() -> None:
    assert time_lag_seconds(0, None, 5000) == 0.0
    assert time_lag_seconds(3, 1000, 5000) == 4.0
    assert time_lag_seconds(3, None, 5000) is None
    assert time_lag_seconds(3, 9000, 5000) == 0.0  # producer clock ahead of ours


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


KEY = ("g", "t", 0)


def test_stalled_only_while_messages_wait_and_offset_stands_still() -> None:
    clock = Clock()
    tracker = StallTracker(stall_after_s=60, clock=clock)
    assert tracker.observe(KEY, committed=5, lag_messages=3) is False
    clock.now = 59
    assert tracker.observe(KEY, 5, 3) is False
    clock.now = 60
    assert tracker.observe(KEY, 5, 3) is True
    # It moves: the window starts again.
    assert tracker.observe(KEY, 6, 2) is False
    clock.now = 119
    assert tracker.observe(KEY, 6, 2) is False
    clock.now = 120
    assert tracker.observe(KEY, 6, 2) is True


def test_idle_consumer_is_never_stalled() -> None:
    clock = Clock()
    tracker = StallTracker(stall_after_s=60, clock=clock)
    for t in (0, 100, 10_000):
        clock.now = t
        assert tracker.observe(KEY, committed=7, lag_messages=0) is False


def test_wait_after_long_idle_starts_a_fresh_window() -> None:
    # Idle for hours, then a message arrives: the consumer has had no time to take it yet.
    clock = Clock()
    tracker = StallTracker(stall_after_s=60, clock=clock)
    tracker.observe(KEY, 7, 0)
    clock.now = 10_000
    assert tracker.observe(KEY, 7, 1) is False
    clock.now = 10_059
    assert tracker.observe(KEY, 7, 1) is False
    clock.now = 10_060
    assert tracker.observe(KEY, 7, 1) is True


def test_forget_except() -> None:
    clock = Clock()
    tracker = StallTracker(stall_after_s=0, clock=clock)
    tracker.observe(KEY, 1, 1)
    tracker.forget_except(set())
    assert tracker.observe(KEY, 1, 1) is False  # a fresh watch
