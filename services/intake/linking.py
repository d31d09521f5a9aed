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

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")

# Scripts whose accents data entry routinely loses (Siân / Sian, Seán / Sean, Νίκος /
# ΝΙΚΟΣ: Greek capitals drop the tonos): their combining marks do not tell children apart.
# In other scripts a combining mark can be part of the letter (Cyrillic й is not и, a
# Devanagari virama changes the syllable), so marks are kept there.
_ACCENT_FOLDING_SCRIPTS = ("LATIN", "GREEK")
# Arabic short-vowel marks (harakat), superscript alef and the tatweel are optional in
# writing: one form of a name is often written with them, another without.
_ARABIC_OPTIONAL = {*map(chr, range(0x064B, 0x0660)), "\u0670", "\u0640"}
# Russian prints ё as е in most texts.
_EQUIVALENT = {"\u0451": "\u0435"}


def _fold(text: str) -> str:
    """Compatibility forms unified (full-width, ligatures), case folded, separators and
    punctuation dropped, the letters of every script kept."""
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    kept: list[str] = []
    fold_marks = False
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _ARABIC_OPTIONAL:
            continue
        if category.startswith("L") or category.startswith("N"):
            fold_marks = unicodedata.name(ch, "").startswith(_ACCENT_FOLDING_SCRIPTS)
            kept.append(ch)
        elif category.startswith("M") and not (fold_marks and category == "Mn"):
            kept.append(ch)
        # Anything else (spaces, hyphens, apostrophes, dots, symbols) is not part of a name.
    folded = unicodedata.normalize("NFC", "".join(kept))
    return "".join(_EQUIVALENT.get(ch, ch) for ch in folded)


def normalise_name(given: str, family: str) -> str:
    """Case, Latin and Greek accents, spaces, hyphens and apostrophes do not tell two
    children apart; the letters themselves, in whatever script, do."""
    return f"{_fold(given)}|{_fold(family)}"


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

    def expired(self, now: datetime, window: timedelta) -> list[OpenCase]:
        """Cases past their link window: no referral can join them any more, so the
        linking identifiers kept for them have no use left (retention)."""
        return [c for c in self.cases if not c.is_open(now, window)]

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
