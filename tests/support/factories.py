"""Synthetic contract records for tests. Invented people only; never real data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from mash_common.contracts import (
    Concern,
    Consent,
    ConsentStatus,
    Indicator,
    Referral,
    Referrer,
    ReferrerType,
    Subject,
)


def referral(referral_id: str = "REF-1", **overrides: Any) -> Referral:
    fields: dict[str, Any] = {
        "referral_id": referral_id,
        "source_system": "school-portal",
        "received_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "referrer": Referrer(
            name="Ada Teacher", role="Designated safeguarding lead",
            organisation="Example Primary School", agency_type=ReferrerType.EDUCATION,
        ),
        "subject": Subject(
            given_name="Sam", family_name="Example", date_of_birth=date(2016, 4, 1),
            nhs_number="9434765919", postcode="EX1 1AA",
        ),
        "concerns": [Concern.NEGLECT],
        "indicators": [Indicator.REPEAT_INCIDENT],
        "narrative": "Synthetic narrative for testing.",
        "consent": Consent(status=ConsentStatus.GIVEN),
        "cin_referral_source": "2A",
    }
    fields.update(overrides)
    return Referral(**fields)
