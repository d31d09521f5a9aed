"""Who hears about a case: referrers' source systems and agencies that answered."""

from __future__ import annotations

import pytest

from mash_common.contracts import ResponseStatus
from mash_hub.services.routing.logic import Roster, _merge_case, recipients
from mash_hub.services.routing.policy import RecipientPolicy, Role
from tests.unit.routing.conftest import case, ref

FOUND, NOT_KNOWN, DECLINED, ERROR = (
    ResponseStatus.FOUND, ResponseStatus.NOT_KNOWN, ResponseStatus.DECLINED, ResponseStatus.ERROR,
)
R, C = Role.REFERRER, Role.CONTRIBUTOR

CASES = [
    pytest.param(
        [("REF-1", "school-portal")],
        {"police": FOUND, "health": NOT_KNOWN, "housing": DECLINED, "probation": ERROR},
        {"school-portal": {R}, "police": {C}, "health": {C}, "housing": {C}},
        (),
        id="answered-agencies-contribute-error-does-not",
    ),
    pytest.param(
        [("REF-1", "police-niche")],
        {"police": FOUND, "health": FOUND},
        # One organisation, two systems: each hears on its own topic, in its own role.
        {"police-niche": {R}, "police": {C}, "health": {C}},
        (),
        id="agency-system-that-referred-and-answered-hears-once",
    ),
    pytest.param(
        [("REF-1", "public-portal"), ("REF-2", "fax-machine", 5)],
        {},
        {"public-portal": {R}},
        ("fax-machine",),
        id="source-system-not-in-roster-is-reported-not-notified",
    ),
    pytest.param(
        [("REF-1", "lado-system")],
        {"youth-offending": FOUND},
        {"lado-system": {R}},
        ("youth-offending",),
        id="agency-not-in-roster-is-reported",
    ),
    pytest.param(
        [],
        {"police": FOUND},
        {"police": {C}},
        (),
        id="no-referrals-only-contributors",
    ),
]


@pytest.mark.parametrize(("referrals", "answers", "expected", "unknown"), CASES)
def test_who_is_told(
    referrals: list[tuple[str, ...]],
    answers: dict[str, ResponseStatus],
    expected: dict[str, set[Role]],
    unknown: tuple[str, ...],
    roster: Roster,
    policy: RecipientPolicy,
) -> None:
    state = _merge_case(None, case([ref(*r) for r in referrals], answers))  # type: ignore[arg-type]  # table rows
    got = recipients(state, roster, policy)
    assert {r.id: set(r.roles) for r in got.known} == expected
    assert got.unknown == unknown


def test_one_system_with_two_referrals_is_one_recipient_naming_both_earliest_first(
    roster: Roster, policy: RecipientPolicy
) -> None:
    state = _merge_case(None, case([ref("REF-B", "school-portal", 30),
                                    ref("REF-A", "school-portal", 0)]))
    (school,) = recipients(state, roster, policy).known
    assert school.referral_ids == ("REF-A", "REF-B")


def test_contributor_statuses_come_from_the_policy(
    roster: Roster, policy: RecipientPolicy
) -> None:
    strict = policy.model_copy(update={"contributor_statuses": frozenset({FOUND})})
    state = _merge_case(None, case([], {"police": FOUND, "housing": DECLINED}))
    assert [r.id for r in recipients(state, roster, strict).known] == ["police"]


def test_a_late_answer_makes_an_agency_a_contributor(
    roster: Roster, policy: RecipientPolicy
) -> None:
    first = _merge_case(None, case([], {"police": ERROR}))
    assert recipients(first, roster, policy).known == ()
    amended = _merge_case(first, case([], {"police": FOUND}, version=2))
    assert [r.id for r in recipients(amended, roster, policy).known] == ["police"]
