"""Finding the open case a referral's child already has: by NHS number, else name+DOB+postcode.

State is grouped by a blocking key both match paths share (the child's date of birth; see
services/intake/README.md for why, and what it costs), so one partition holds every case a
referral could join.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from mash_common.contracts import LinkMatch, Rag, Subject, UtcDatetime

_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def normalise_name(given: str, family: str) -> str:
    """Case, accents, spaces, hyphens and apostrophes do not tell two children apart."""
    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
        return _NOT_LETTER.sub("", text)

    return f"{fold(given)}|{fold(family)}"


def normalise_postcode(postcode: str) -> str:
    return _NOT_ALNUM.sub("", postcode.upper())


def normalise_nhs(nhs: str) -> str:
    return nhs.replace(" ", "")


def block_key(subject: Subject, referral_id: str) -> str:
    """The repartition key: date of birth; without one, the NHS number; else the referral."""
    if subject.date_of_birth is not None:
        return f"dob:{subject.date_of_birth.isoformat()}"
    if subject.nhs_number:
        return f"nhs:{normalise_nhs(subject.nhs_number)}"
    return f"ref:{referral_id}"


class OpenCase(BaseModel):
    """What intake remembers about a case to link later referrals to it. Internal state."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: str
    opened_at: UtcDatetime
    due_at: UtcDatetime
    rag: Rag
    nhs_number: str | None = None
    name_key: str
    date_of_birth: date | None = None
    postcode_key: str | None = None
    referral_ids: list[str] = Field(default_factory=list)

    def is_open(self, now: datetime, window: timedelta) -> bool:
        return now < self.opened_at + window


class Block(BaseModel):
    """Every case remembered under one blocking key. Internal state (a table value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cases: list[OpenCase] = Field(default_factory=list)

    def prune(self, now: datetime, window: timedelta) -> Block:
        return Block(cases=[c for c in self.cases if c.is_open(now, window)])

    def upsert(self, case: OpenCase) -> Block:
        others = [c for c in self.cases if c.case_id != case.case_id]
        return Block(cases=[*others, case])


@dataclass(frozen=True)
class Match:
    case: OpenCase
    match: LinkMatch
    reason: str


def identity_of(subject: Subject) -> tuple[str | None, str, date | None, str | None]:
    nhs = normalise_nhs(subject.nhs_number) if subject.nhs_number else None
    postcode = normalise_postcode(subject.postcode) if subject.postcode else None
    return nhs, normalise_name(subject.given_name, subject.family_name), subject.date_of_birth, postcode


def find_open_case(block: Block, subject: Subject, now: datetime, window: timedelta) -> Match | None:
    """The open case this child already has, if any; the most recently opened wins."""
    nhs, name_key, dob, postcode = identity_of(subject)
    candidates = sorted(
        (c for c in block.cases if c.is_open(now, window)), key=lambda c: c.opened_at, reverse=True
    )
    if nhs is not None:
        for case in candidates:
            if case.nhs_number == nhs:
                return Match(case, LinkMatch.NHS_NUMBER, "same NHS number as the open case")
    if dob is None or postcode is None:
        return None
    for case in candidates:
        # Two different NHS numbers are two different children, whatever else agrees.
        if nhs is not None and case.nhs_number is not None and case.nhs_number != nhs:
            continue
        if case.name_key == name_key and case.date_of_birth == dob and case.postcode_key == postcode:
            return Match(case, LinkMatch.NAME_DOB_POSTCODE,
                         "same normalised name, date of birth and postcode as the open case")
    return None
