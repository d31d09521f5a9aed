"""Decisions that overtake their case: held once, released or expired by the grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mash_hub.services.routing.logic import ParkedDecision, ParkedDecisions, expire, park

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def held(offset: int, at: datetime = T0) -> ParkedDecision:
    return ParkedDecision(value_hex="c301", topic="mash.decisions", partition=2, offset=offset,
                          parked_at=at)


def test_park_starts_a_record_on_the_decision_partition() -> None:
    parked = park(None, held(10))
    assert parked.partition == 2 and [d.offset for d in parked.decisions] == [10]


def test_redelivery_is_held_once_and_a_revision_is_added() -> None:
    parked = park(park(None, held(10)), held(10))
    assert [d.offset for d in parked.decisions] == [10]
    assert [d.offset for d in park(parked, held(11)).decisions] == [10, 11]


@pytest.mark.parametrize(("now", "expired", "kept"), [
    (T0, [], [10, 11]),
    (T0 + GRACE - timedelta(milliseconds=1), [], [10, 11]),  # never early
    (T0 + GRACE, [10], [11]),
    (T0 + GRACE + timedelta(minutes=1), [10, 11], None),
])
def test_expire_after_the_grace(now: datetime, expired: list[int], kept: list[int] | None) -> None:
    parked = park(park(None, held(10)), held(11, T0 + timedelta(minutes=1)))
    gone, rest = expire(parked, now, GRACE)
    assert [d.offset for d in gone] == expired
    assert (None if rest is None else [d.offset for d in rest.decisions]) == kept


def test_state_round_trips_with_original_bytes() -> None:
    parked = park(None, held(10))
    again = ParkedDecisions.from_bytes(parked.to_bytes())
    assert again == parked and again.decisions[0].value == b"\xc3\x01"
