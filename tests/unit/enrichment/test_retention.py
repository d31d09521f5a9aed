"""When an assembled case's state may be forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mash_hub.services.enrichment.logic import GatherState, Phase, forgettable

DUE = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
KEEP = timedelta(days=35)


def state(phase: Phase) -> GatherState:
    # Only the fields forgettable() reads; the rest are not needed to decide retention.
    return GatherState.model_construct(case_id="C", partition=0, phase=phase, due_at=DUE)  # type: ignore[call-arg]


@pytest.mark.parametrize(("phase", "now", "expected"), [
    (Phase.GATHERING, DUE + KEEP * 2, False),  # still gathering: never forgotten
    (Phase.ASSEMBLED, DUE, False),
    (Phase.ASSEMBLED, DUE + KEEP - timedelta(seconds=1), False),  # never early
    (Phase.ASSEMBLED, DUE + KEEP, True),
    (Phase.ASSEMBLED, DUE + KEEP * 2, True),
])
def test_forgettable(phase: Phase, now: datetime, expected: bool) -> None:
    assert forgettable(state(phase), now, KEEP) is expected
