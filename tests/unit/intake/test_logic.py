"""Admission (dedupe by referral_id, conflicts, corrections), wording, ids and code sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mash_common.codes import (
    CONCERN_FACTORS,
    FACTORS_AT_ASSESSMENT,
    PRIMARY_NEED,
    SOURCE_OF_REFERRAL,
    factor_codes,
)
from mash_common.contracts import Concern, NotificationKind, Rag
from mash_common.ids import stable_id
from mash_hub.services.intake.logic import (
    AdmissionStatus,
    SeenReferral,
    Verdict,
    admit,
    content_hash,
    received_message,
    rejected_notification,
)
from mash_hub.services.intake.validation import Problem, Rules
from tests.support.factories import referral
from tests.unit.intake.support import NOW

RULES = Rules(known_sources={"school-portal"})
GOOD = referral("R1", received_at=NOW)
BAD = referral("R1", received_at=NOW, narrative="")
CHANGED = referral("R1", received_at=NOW, narrative="Something else happened.")
# From a source system RULES knows (it was added to the roster after a first rejection).
UNKNOWN_SOURCE = referral("R1", received_at=NOW)


def seen(status: AdmissionStatus, of: object = GOOD, rejections: int = 0) -> SeenReferral:
    return SeenReferral(content_hash=content_hash(of, b"R1"), status=status,  # type: ignore[arg-type]
                        rejections=rejections)


@pytest.mark.parametrize(("incoming", "state", "verdict", "remembered", "number"), [
    (GOOD, None, Verdict.FORWARD, AdmissionStatus.ACCEPTED, 0),
    (BAD, None, Verdict.REJECT, AdmissionStatus.REJECTED, 1),
    # Redelivery of an accepted referral: forward again, triage dedupes; state unchanged.
    (GOOD, seen(AdmissionStatus.ACCEPTED), Verdict.FORWARD, None, 0),
    # The same rejected referral again: nothing new to say.
    (BAD, seen(AdmissionStatus.REJECTED, BAD, 1), Verdict.DUPLICATE, None, 0),
    # Different content under an accepted id: a conflict, numbered for its notification id.
    (CHANGED, seen(AdmissionStatus.ACCEPTED), Verdict.CONFLICT, AdmissionStatus.ACCEPTED, 1),
    (CHANGED, seen(AdmissionStatus.ACCEPTED, rejections=1), Verdict.CONFLICT, AdmissionStatus.ACCEPTED, 2),
    # A corrected version of a rejected referral is validated afresh and accepted.
    (GOOD, seen(AdmissionStatus.REJECTED, BAD, 1), Verdict.FORWARD, AdmissionStatus.ACCEPTED, 0),
    # The same bytes as a rejected referral, but the hub's rules now allow it (the roster
    # was fixed and the dead letter replayed): validated afresh and accepted.
    (UNKNOWN_SOURCE, seen(AdmissionStatus.REJECTED, UNKNOWN_SOURCE, 1), Verdict.FORWARD,
     AdmissionStatus.ACCEPTED, 0),
    # A second, still broken, correction is rejected with the next number.
    (referral("R1", received_at=NOW, concerns=[]), seen(AdmissionStatus.REJECTED, BAD, 1),
     Verdict.REJECT, AdmissionStatus.REJECTED, 2),
])
def test_admission(incoming: object, state: SeenReferral | None, verdict: Verdict,
                   remembered: AdmissionStatus | None, number: int) -> None:
    result = admit(incoming, b"R1", state, RULES, NOW)  # type: ignore[arg-type]
    assert result.verdict is verdict
    assert (result.remember.status if result.remember else None) is remembered
    assert result.rejection_number == number


def test_conflict_keeps_the_accepted_content_hash() -> None:
    result = admit(CHANGED, b"R1", seen(AdmissionStatus.ACCEPTED), RULES, NOW)
    assert result.remember is not None
    assert result.remember.content_hash == content_hash(GOOD, b"R1")
    assert result.reason_code == "CONFLICT" and result.problems[0].code == "CONFLICT"


def test_correcting_only_the_key_is_not_a_duplicate() -> None:
    first = admit(GOOD, b"wrong", None, RULES, NOW)
    assert first.verdict is Verdict.REJECT and first.remember is not None
    assert admit(GOOD, b"R1", first.remember, RULES, NOW).verdict is Verdict.FORWARD


def test_rejected_notification() -> None:
    problems = [Problem("NO_CONCERNS", "concerns is empty"), Problem("NARRATIVE_EMPTY", "x")]
    note = rejected_notification("R1", "school-portal", problems, 2, NOW)
    assert note.kind is NotificationKind.REJECTED and note.case_id is None
    assert note.reasons == ["NO_CONCERNS: concerns is empty", "NARRATIVE_EMPTY: x"]
    assert note.notification_id == stable_id("notification", "R1", "school-portal", "REJECTED", 2)
    assert "2 problems" in note.message


@pytest.mark.parametrize(("due", "linked", "text"), [
    (datetime(2026, 11, 3, 14, 0, tzinfo=UTC), False,
     "Referral received; case MASH-1 rated AMBER; information will be gathered by 14:00 Tue 3 Nov"),
    (datetime(2026, 7, 3, 13, 0, tzinfo=UTC), True,  # BST: 14:00 London
     "Referral received and added to open case MASH-1 rated AMBER; information will be gathered "
     "by 14:00 Fri 3 Jul"),
])
def test_received_wording(due: datetime, linked: bool, text: str) -> None:
    assert received_message("MASH-1", Rag.AMBER, due, linked, "Europe/London") == text


def test_code_sets() -> None:
    assert set(CONCERN_FACTORS) == set(Concern)
    assert all(code in FACTORS_AT_ASSESSMENT for codes in CONCERN_FACTORS.values() for code in codes)
    assert len(SOURCE_OF_REFERRAL) == 22 and {"1A", "2A", "3A", "3E", "4", "6", "9", "10"} <= set(SOURCE_OF_REFERRAL)
    assert sorted(PRIMARY_NEED) == [f"N{i}" for i in range(10)]
    assert factor_codes([Concern.SUBSTANCE_MISUSE, Concern.OTHER, Concern.ONLINE_HARM]) == ["1A", "2A", "20"]


def test_content_hash_is_stable_and_sensitive() -> None:
    assert content_hash(GOOD, b"R1") == content_hash(referral("R1", received_at=NOW), b"R1")
    assert content_hash(GOOD, b"R1") != content_hash(CHANGED, b"R1")
    assert content_hash(GOOD, b"R1") != content_hash(GOOD, b"R2")
    later = referral("R1", received_at=NOW + timedelta(seconds=1))
    assert content_hash(later, b"R1") != content_hash(GOOD, b"R1")
