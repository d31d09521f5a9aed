"""Rectification of a subject's personal details: the corrections an operator may make, and
the header that tells each service a record is one (mash_ops.erasure writes them).

Pure: parsing and checking `subject.FIELD=VALUE` corrections, and applying them to a
Subject or to the identifiers a request carries. Errors name the field, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mash_common.contracts import Rag, Subject, SubjectIdentifiers, UtcDatetime
from mash_common.errors import MashError

# On a record written by a rectification: the case it corrects. On intake's link topic
# it comes with a tombstone (the case leaves its old blocking key) or with the corrected
# referral (the case joins its corrected key); on a referral topic and a triaged lane, with
# the corrected record itself.
RECTIFY_HEADER = "mash-rectify-case"
# On the corrected referral on intake's link topic: the case as intake remembers it
# (LinkedCase JSON), since its old block may be on another partition.
RECTIFY_CASE_HEADER = "mash-rectify-linked"

# The subject's personal details that may be corrected (schemas/avro/Subject.avsc).
FIELDS = ("given_name", "family_name", "date_of_birth", "nhs_number", "postcode", "address",
          "sex")
REQUIRED = frozenset({"given_name", "family_name"})
_NHS = re.compile(r"^[0-9]{10}$")
_SEX = frozenset({"F", "M", "U"})


class RectificationError(MashError):
    """A correction that cannot be made: an unknown field or an invalid value."""


class LinkedCase(BaseModel):
    """What intake needs to remember a moved case under its corrected blocking key."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: str
    opened_at: UtcDatetime
    due_at: UtcDatetime
    rag: Rag
    referral_ids: list[str]


def _value(name: str, raw: str, today: date) -> Any:
    text = raw.strip()
    if text == "":
        if name in REQUIRED:
            raise RectificationError(f"subject.{name} cannot be empty")
        return None  # clears an optional detail
    if name == "date_of_birth":
        try:
            born = date.fromisoformat(text)
        except ValueError:
            raise RectificationError("subject.date_of_birth must be a date, YYYY-MM-DD") from None
        if born > today:
            raise RectificationError("subject.date_of_birth cannot be in the future")
        return born
    if name == "nhs_number":
        digits = text.replace(" ", "")
        if not _NHS.match(digits):
            raise RectificationError("subject.nhs_number must be 10 digits")
        return digits
    if name == "sex" and text not in _SEX:
        raise RectificationError("subject.sex must be F, M or U")
    return text


def parse_corrections(items: Sequence[str], today: date) -> dict[str, Any]:
    """`subject.FIELD=VALUE` items -> {field: value}; an empty VALUE clears an optional
    field; `today` bounds a date of birth. Unknown fields, repeated fields and values the contract refuses raise
    RectificationError naming the field only."""
    if not items:
        raise RectificationError("nothing to correct: give at least one --set subject.FIELD=VALUE")
    out: dict[str, Any] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        if not sep or not target.startswith("subject."):
            raise RectificationError("a correction is subject.FIELD=VALUE")
        name = target.removeprefix("subject.")
        if name not in FIELDS:
            raise RectificationError(f"subject.{name} is not a field that can be corrected "
                                     f"(one of: {', '.join(FIELDS)})")
        if name in out:
            raise RectificationError(f"subject.{name} is given twice")
        out[name] = _value(name, raw, today)
    # The contract's own limits (lengths, forbidden characters) on the corrected values.
    probe = {"given_name": "x", "family_name": "x", **out}
    try:
        Subject.model_validate(probe)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise RectificationError(
            f"the contract refuses the value of subject.{', subject.'.join(fields) or '?'}"
        ) from None
    return out


def corrected(subject: Subject, corrections: Mapping[str, Any]) -> Subject:
    return subject.model_copy(update=dict(corrections))


def corrected_identifiers(ids: SubjectIdentifiers,
                          corrections: Mapping[str, Any]) -> SubjectIdentifiers:
    """The identifiers a request carries, corrected: only those the sharing agreement let
    it carry (those it has), so a correction never adds what was not shared."""
    update = {k: v for k, v in corrections.items()
              if k in SubjectIdentifiers.model_fields and getattr(ids, k) is not None}
    return ids.model_copy(update=update)


def changed_fields(before: Subject, after: Subject) -> list[str]:
    return [f for f in FIELDS if getattr(before, f) != getattr(after, f)]
