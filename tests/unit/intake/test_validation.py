"""Validation rules, one row per rule, and that every problem is reported at once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from mash_common.contracts import Consent, ConsentStatus, Subject
from mash_hub.services.intake.validation import Rules, nhs_number_valid, validate
from tests.support.factories import referral
from tests.unit.intake.support import NOW

RULES = Rules(known_sources={"school-portal", "police-niche"})
SUBJECT = dict(given_name="Sam", family_name="Example", date_of_birth=date(2016, 4, 1),
               nhs_number="9434765919", postcode="EX1 1AA")


def subject(**overrides: Any) -> Subject:
    return Subject(**{**SUBJECT, **overrides})


@pytest.mark.parametrize(("overrides", "key", "expected"), [
    ({}, b"R1", []),
    ({"referral_id": " "}, b" ", ["REFERRAL_ID_EMPTY"]),
    ({}, b"R2", ["KEY_MISMATCH"]),
    ({}, None, ["KEY_MISMATCH"]),
    ({"source_system": "fax-machine"}, b"R1", ["UNKNOWN_SOURCE_SYSTEM"]),
    ({"concerns": []}, b"R1", ["NO_CONCERNS"]),
    ({"narrative": "  \n"}, b"R1", ["NARRATIVE_EMPTY"]),
    ({"received_at": NOW + timedelta(minutes=4)}, b"R1", []),
    ({"received_at": NOW + timedelta(minutes=6)}, b"R1", ["RECEIVED_AT_IN_FUTURE"]),
    ({"subject": subject(date_of_birth=date(2026, 11, 5))}, b"R1", ["DOB_IN_FUTURE"]),
    ({"subject": subject(date_of_birth=date(2026, 11, 4))}, b"R1", []),
    ({"subject": subject(date_of_birth=date(2001, 11, 4))}, b"R1", []),
    ({"subject": subject(date_of_birth=date(2001, 11, 3))}, b"R1", ["DOB_TOO_OLD"]),
    ({"subject": subject(date_of_birth=None)}, b"R1", []),
    ({"subject": subject(nhs_number=None)}, b"R1", []),
    ({"subject": subject(nhs_number="943 476 5919")}, b"R1", []),
    ({"subject": subject(nhs_number="9434765918")}, b"R1", ["NHS_NUMBER_INVALID"]),
    ({"subject": subject(nhs_number="94347659")}, b"R1", ["NHS_NUMBER_INVALID"]),
    ({"consent": Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                         override_reason="risk", override_authorised_by="Team manager")}, b"R1", []),
    ({"consent": Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                         override_reason="risk")}, b"R1", ["CONSENT_OVERRIDE_INCOMPLETE"]),
    ({"consent": Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION)}, b"R1",
     ["CONSENT_OVERRIDE_INCOMPLETE"]),
    ({"consent": Consent(status=ConsentStatus.GIVEN, override_reason="x")}, b"R1",
     ["CONSENT_INCONSISTENT"]),
    ({"cin_referral_source": "10"}, b"R1", []),
    ({"cin_referral_source": "5D"}, b"R1", []),
    ({"cin_referral_source": "2C"}, b"R1", ["CIN_SOURCE_INVALID"]),
    ({"cin_referral_source": None}, b"R1", []),
])
def test_each_rule(overrides: dict[str, Any], key: bytes | None, expected: list[str]) -> None:
    problems = validate(referral(**{"referral_id": "R1", "received_at": NOW, **overrides}), key, RULES, NOW)
    assert [p.code for p in problems] == expected


def test_every_problem_is_reported_at_once_without_personal_data() -> None:
    bad = referral(
        "R9", received_at=NOW, source_system="unknown-system", concerns=[], narrative="",
        subject=subject(nhs_number="1234567890", date_of_birth=date(1950, 1, 2)),
        consent=Consent(status=ConsentStatus.REFUSED, override_authorised_by="Ann Manager"),
        cin_referral_source="ZZ",
    )
    problems = validate(bad, b"R9", RULES, NOW)
    assert {p.code for p in problems} == {
        "UNKNOWN_SOURCE_SYSTEM", "NO_CONCERNS", "NARRATIVE_EMPTY", "DOB_TOO_OLD",
        "NHS_NUMBER_INVALID", "CONSENT_INCONSISTENT", "CIN_SOURCE_INVALID",
    }
    text = " ".join(str(p) for p in problems)
    for personal in ("1234567890", "1950", "Sam", "Example", "EX1", "Ann Manager", "ZZ"):
        assert personal not in text


def test_adults_at_risk_hub_has_no_upper_age() -> None:
    old = referral("R1", received_at=NOW, subject=subject(date_of_birth=date(1940, 1, 1)))
    assert validate(old, b"R1", Rules(known_sources={"school-portal"}, max_age_years=None), NOW) == []


@pytest.mark.parametrize(("value", "valid"), [
    ("9434765919", True),   # the NHS's own example number
    ("4010232137", True),
    ("4010232138", False),  # wrong check digit
    ("1000000010", False),  # check digit would be 10: never issued
    ("123456789", False),
    ("12345678901", False),
    ("94347659I9", False),
    ("９４３４７６５９１９", False),  # full-width digits are not ASCII digits
])
def test_nhs_number_check_digit(value: str, valid: bool) -> None:
    assert nhs_number_valid(value) is valid
