"""Answers, Red-first scheduling decisions, backoff and NHS test numbers: no broker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mash_common.contracts import AgencyRecord, Rag, ResponseStatus
from mash_sdk import Answer
from mash_sdk.priority import backoff_s, next_rag, rags_to_pause
from mash_sdk.testing import is_valid_nhs_number, synthetic_nhs_number

R, A, G = Rag.RED, Rag.AMBER, Rag.GREEN
REC = AgencyRecord(category="c", summary="s", reference="r")


@pytest.mark.parametrize(("buffered", "red_pending", "expected"), [
    ({}, False, None),
    ({G: 5}, False, G),
    ({G: 5, A: 1}, False, A),
    ({G: 5, A: 1, R: 1}, False, R),
    ({G: 5}, True, None),          # Red on the broker, not yet fetched: wait for it
    ({A: 2}, True, None),
    ({R: 1, G: 3}, True, R),
])
def test_next_rag(buffered: dict[Rag, int], red_pending: bool, expected: Rag | None) -> None:
    assert next_rag(buffered, red_pending) is expected


@pytest.mark.parametrize(("buffered", "limit", "expected"), [
    ({}, 8, set()),
    ({G: 8}, 8, {G}),              # Green buffer full
    ({G: 3}, 8, set()),
    ({R: 1}, 8, {A, G}),           # Red has work: nothing else fetched
    ({A: 1}, 8, {G}),
    ({A: 8, G: 2}, 8, {A, G}),
    ({R: 100}, 8, {A, G}),         # Red is never paused
])
def test_rags_to_pause(buffered: dict[Rag, int], limit: int, expected: set[Rag]) -> None:
    assert rags_to_pause(buffered, limit) == expected


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_s(n, 0.2, 1.0) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


@pytest.mark.parametrize(("kwargs", "ok"), [
    ({"status": ResponseStatus.FOUND, "records": [REC]}, True),
    ({"status": ResponseStatus.FOUND}, False),
    ({"status": ResponseStatus.NOT_KNOWN}, True),
    ({"status": ResponseStatus.NOT_KNOWN, "records": [REC]}, False),
    ({"status": ResponseStatus.DECLINED}, False),
    ({"status": ResponseStatus.DECLINED, "reason": "no consent recorded"}, True),
    ({"status": ResponseStatus.ERROR}, False),
])
def test_answer_consistency(kwargs: dict[str, object], ok: bool) -> None:
    if ok:
        Answer(**kwargs)
    else:
        with pytest.raises(ValidationError):
            Answer(**kwargs)


def test_from_records() -> None:
    assert Answer.from_records([]).status is ResponseStatus.NOT_KNOWN
    assert Answer.from_records([REC]).status is ResponseStatus.FOUND


def test_nhs_numbers() -> None:
    assert is_valid_nhs_number("9434765919")  # the NHS's published example
    assert not is_valid_nhs_number("9434765918")
    numbers = [synthetic_nhs_number(2 * i) for i in range(2000)]
    assert len(set(numbers)) == 2000
    assert all(n.startswith("999") and is_valid_nhs_number(n) for n in numbers)
