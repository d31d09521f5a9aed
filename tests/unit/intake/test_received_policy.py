"""RECEIVED and REJECTED follow config/recipient-policy.yaml field by field, for every kind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mash_common.contracts import NotificationKind, ReferrerType
from mash_common.recipients import KindRule, Shareable, load_recipient_policy
from mash_hub.services.intake.linking import Block
from mash_hub.services.intake.logic import rejected_notification, triage
from mash_hub.services.intake.policy import load_policy
from mash_hub.services.intake.validation import Problem
from tests.support.factories import referral
from tests.unit.intake.support import NOW

CONFIG = Path(__file__).resolve().parents[3] / "config"
RECIPIENTS = load_recipient_policy(CONFIG / "recipient-policy.yaml")
POLICY = load_policy(CONFIG / "threshold-policy.yaml").with_overrides(working_hours=False)
WINDOW = timedelta(days=30)
LAY = (ReferrerType.MEMBER_OF_PUBLIC, ReferrerType.FAMILY_MEMBER, ReferrerType.SELF,
       ReferrerType.ANONYMOUS)


def _received(rule: KindRule, linked: bool) -> tuple[object, str]:
    first = triage(referral("R1"), Block(), POLICY, window=WINDOW, now=NOW, rule=rule)
    if not linked:
        return first.notification, first.triaged.case_id
    again = triage(referral("R2"), first.block, POLICY, window=WINDOW, now=NOW, rule=rule)
    assert again.match is not None
    return again.notification, again.triaged.case_id


@pytest.mark.parametrize("kind", list(ReferrerType))
@pytest.mark.parametrize("linked", [False, True])
def test_received_carries_only_what_the_kind_may_know(kind: ReferrerType, linked: bool) -> None:
    rule = RECIPIENTS.rule_for(kind)
    note, case_id = _received(rule, linked)
    if not rule.hears_of(NotificationKind.RECEIVED):
        assert note is None
        return
    assert note is not None
    fields = rule.received
    assert (note.case_id is not None) is (Shareable.CASE_REFERENCE in fields)  # type: ignore[attr-defined]
    assert (note.rag is not None) is (Shareable.RAG in fields)  # type: ignore[attr-defined]
    assert (note.due_at is not None) is (Shareable.DUE_AT in fields)  # type: ignore[attr-defined]
    message: str = note.message  # type: ignore[attr-defined]
    assert (case_id in message) is (Shareable.CASE_REFERENCE in fields)
    assert ("open case" in message) is (linked and Shareable.LINKED_CASE in fields
                                        and Shareable.CASE_REFERENCE in fields)


@pytest.mark.parametrize("kind", LAY)
def test_the_public_cannot_tell_whether_a_child_is_known(kind: ReferrerType) -> None:
    rule = RECIPIENTS.rule_for(kind)
    new, _ = _received(rule, linked=False)
    known, _ = _received(rule, linked=True)
    assert new is not None and known is not None
    # Everything a recipient sees, apart from ids of its own referral, is the same.
    strip = {"notification_id", "referral_id"}
    a = new.model_dump(exclude=strip)  # type: ignore[attr-defined]
    b = known.model_dump(exclude=strip)  # type: ignore[attr-defined]
    assert {k: v for k, v in a.items() if k != "message"} == {k: v for k, v in b.items() if k != "message"}
    assert new.message.replace("R1", "R") == known.message.replace("R2", "R")  # type: ignore[attr-defined]
    assert a["case_id"] is None and a["rag"] is None and a["due_at"] is None


def test_statutory_partners_hear_the_open_case() -> None:
    note, case_id = _received(RECIPIENTS.rule_for(ReferrerType.POLICE), linked=True)
    assert note is not None and note.case_id == case_id  # type: ignore[attr-defined]
    assert "added to open case" in note.message  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(ReferrerType))
def test_rejected_follows_the_policy(kind: ReferrerType) -> None:
    rule = RECIPIENTS.rule_for(kind)
    note = rejected_notification("R1", "x", [Problem("NO_CONCERNS", "concerns is empty")], 1, NOW, rule)
    assert note.case_id is None and note.rag is None and note.due_at is None
    assert bool(note.reasons) is (Shareable.REASONS in rule.rejected)
    assert Shareable.REASONS in rule.rejected  # every shipped kind can correct its referral
