"""Hides personal data in decoded records before an operator sees them.

Field names, not values, decide: the contracts name every field that can carry personal data
(names, dates of birth, NHS numbers, addresses, contacts, narratives, records' summaries and
other free text). Unknown shapes are redacted whole rather than guessed at.
"""

from __future__ import annotations

from typing import Any

REDACTED = "[redacted]"

PERSONAL_FIELDS = frozenset({
    # people
    "name", "given_name", "family_name", "date_of_birth", "nhs_number", "sex",
    # where they live, how to reach them
    "postcode", "address", "contact", "lead_contact",
    # free text that describes them
    "narrative", "summary", "rationale", "message", "reason", "reasons", "override_reason",
    "override_authorised_by", "description", "detail",
})


def redact(value: Any) -> Any:
    """A copy of a decoded record with every personal field's value replaced."""
    if isinstance(value, dict):
        return {k: _redact_field(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_field(key: str, value: Any) -> Any:
    if key in PERSONAL_FIELDS and value not in (None, [], ""):
        return [REDACTED] * len(value) if isinstance(value, list) else REDACTED
    if isinstance(value, bytes):
        return f"[{len(value)} bytes]"
    return redact(value)
