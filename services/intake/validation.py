"""Business rules a referral must pass beyond its Avro contract; every problem is collected.

Problem messages go back to the sending system and into dead letters, so they name fields
and what is wrong with them in words a source system's team can act on, and never repeat a
value: the values are personal data.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from mash_common.codes import is_source_of_referral
from mash_common.contracts import ConsentStatus, Referral


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Rules:
    """The parameters of validation, from settings and the roster."""

    known_sources: Collection[str]
    max_age_years: int | None = 25  # None: no upper limit (hubs that take adults at risk)
    clock_skew: timedelta = timedelta(minutes=5)


def nhs_number_valid(value: str) -> bool:
    """10 digits whose last is the modulus-11 check digit of the first nine (NHS Data Dictionary)."""
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def validate(referral: Referral, key: bytes | None, rules: Rules, now: datetime) -> list[Problem]:
    """Every business-rule problem with the referral; an empty list means it is acceptable."""
    problems: list[Problem] = []

    def add(code: str, message: str) -> None:
        problems.append(Problem(code, message))

    if not referral.referral_id.strip():
        add("REFERRAL_ID_EMPTY", "referral_id is empty; give every referral a unique id")
    elif key is None or key.decode("utf-8", errors="replace") != referral.referral_id:
        add("KEY_MISMATCH", "the Kafka message key must equal the referral_id")
    if referral.source_system not in rules.known_sources:
        add("UNKNOWN_SOURCE_SYSTEM",
            "source_system is not a system this hub has registered; use the id the hub gave you")
    if not referral.concerns:
        add("NO_CONCERNS", "concerns is empty; name at least one concern")
    if not referral.narrative.strip():
        add("NARRATIVE_EMPTY", "narrative is empty; describe what happened and why you are worried")
    if referral.received_at > now + rules.clock_skew:
        add("RECEIVED_AT_IN_FUTURE", "received_at is in the future; check the sending system's clock")

    dob = referral.subject.date_of_birth
    today = now.date()
    if dob is not None:
        if dob > today:
            add("DOB_IN_FUTURE",
                "subject.date_of_birth is in the future; for an unborn child leave it empty "
                "and set the PREGNANCY_OR_UNBORN indicator")
        elif rules.max_age_years is not None and dob < _years_before(today, rules.max_age_years):
            add("DOB_TOO_OLD",
                f"subject.date_of_birth makes the subject older than {rules.max_age_years}; "
                "this hub takes referrals about children and young people")

    nhs = referral.subject.nhs_number
    if nhs is not None and not nhs_number_valid(nhs.replace(" ", "")):
        add("NHS_NUMBER_INVALID",
            "subject.nhs_number is not a valid NHS number (10 digits with a correct check "
            "digit); correct it or leave it empty")

    consent = referral.consent
    if consent.status is ConsentStatus.OVERRIDDEN_CHILD_PROTECTION:
        missing = [name for name, value in (
            ("override_reason", consent.override_reason),
            ("override_authorised_by", consent.override_authorised_by),
        ) if not (value and value.strip())]
        if missing:
            add("CONSENT_OVERRIDE_INCOMPLETE",
                "consent.status is OVERRIDDEN_CHILD_PROTECTION but "
                + " and ".join(f"consent.{m}" for m in missing)
                + (" is" if len(missing) == 1 else " are") + " missing; record why consent was "
                "overridden and who authorised it")
    elif consent.override_reason or consent.override_authorised_by:
        add("CONSENT_INCONSISTENT",
            "consent has an override reason or authoriser but its status is not "
            "OVERRIDDEN_CHILD_PROTECTION; set the status or remove the override details")

    source = referral.cin_referral_source
    if source is not None and not is_source_of_referral(source):
        add("CIN_SOURCE_INVALID",
            "cin_referral_source is not a DfE Children in Need census source-of-referral code "
            "(1A-1D, 2A-2B, 3A-3F, 4, 5A-5D, 6, 7, 8, 9, 10)")
    return problems
