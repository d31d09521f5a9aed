"""A referral as a source system posts it to the gateway (synthetic, no real person)."""

from __future__ import annotations

from typing import Any

GIVEN_NAME = "Zephyrine"
FAMILY_NAME = "Quillfeather"
NARRATIVE = "Synthetic narrative: Zephyrine said she was afraid to go home."


def referral_body(referral_id: str | None = "r-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "referrer": {"name": "Test Teacher", "role": "DSL", "organisation": "Example Primary",
                     "agency_type": "EDUCATION"},
        "subject": {"given_name": GIVEN_NAME, "family_name": FAMILY_NAME,
                    "date_of_birth": "2016-04-02", "postcode": "EX1 2AB"},
        "concerns": ["PHYSICAL_ABUSE"],
        "indicators": ["INJURY"],
        "narrative": NARRATIVE,
        "consent": {"status": "GIVEN"},
    }
    if referral_id is not None:
        body["referral_id"] = referral_id
    body.update(changes)
    return body
