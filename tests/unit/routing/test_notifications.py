"""What each recipient is told, field by field, and when: assembly, decisions, revisions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mash_common.contracts import (
    DecisionOutcome,
    NotificationKind,
    OutcomeNotification,
    Rag,
    ResponseStatus,
)
from mash_common.errors import ConfigError
from mash_common.ids import stable_id
from mash_hub.services.routing.logic import (
    OUTCOME_WORDS,
    CaseState,
    DecisionStatus,
    Roster,
    on_assembled,
    on_decision,
)
from mash_hub.services.routing.policy import RecipientPolicy, Shareable, load_recipient_policy
from tests.unit.routing.conftest import CASE, NOW, T0, case, decision, ref

FOUND, NOT_KNOWN, ERROR = ResponseStatus.FOUND, ResponseStatus.NOT_KNOWN, ResponseStatus.ERROR
GATHERED, DECISION = NotificationKind.INFORMATION_GATHERED, NotificationKind.DECISION
DUE = T0 + timedelta(hours=24)
CIN = DecisionOutcome.CHILD_IN_NEED_ASSESSMENT
CONTACT = "MASH duty desk 01234 567890"

# A case referred by a school, a member of the public and the police's own system, with
# police and health answering and probation's adapter failing.
REFERRALS = [("REF-S", "school-portal", 0), ("REF-P", "public-portal", 10),
             ("REF-N", "police-niche", 20)]
ANSWERS = {"police": FOUND, "health": NOT_KNOWN, "probation": ERROR}


def by_recipient(notes: tuple[OutcomeNotification, ...]) -> dict[str, OutcomeNotification]:
    got = {n.recipient: n for n in notes}
    assert len(got) == len(notes), "one notification per recipient"
    return got


def assembled_state(roster: Roster, policy: RecipientPolicy) -> CaseState:
    routed = on_assembled(None, case([ref(*r) for r in REFERRALS], ANSWERS), roster, policy, NOW)
    assert routed.state is not None
    return routed.state


FIELDS = ("referral_id", "decision_outcome", "lead_agency", "lead_contact", "rag", "due_at",
          "revision")

GATHERED_EXPECTED = {
    # recipient:      referral_id, outcome, lead, contact, rag, due_at, revision
    "school-portal": ("REF-S", None, None, None, Rag.AMBER, None, 1),
    "police-niche": ("REF-N", None, None, None, Rag.AMBER, DUE, 1),
}  # the public hears that its referral was received and, later, acted on: nothing between


def test_assembly_tells_every_referrer_and_no_one_else(
    roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_assembled(None, case([ref(*r) for r in REFERRALS], ANSWERS), roster, policy, NOW)
    got = by_recipient(routed.notifications)
    assert set(got) == set(GATHERED_EXPECTED)
    for recipient, expected in GATHERED_EXPECTED.items():
        n = got[recipient]
        assert tuple(getattr(n, f) for f in FIELDS) == expected, recipient
        assert n.kind is GATHERED and n.case_id == CASE and n.sent_at == NOW  # partners only
        assert n.notification_id == stable_id("notification", CASE, recipient, "INFORMATION_GATHERED", 1)
        # Nothing about what other agencies hold, or even which agencies were asked.
        for agency in ("police", "health", "probation", "Constabulary", "NHS", "found"):
            assert agency.lower() not in n.message.lower()
        assert "decision makers" in n.message


DECISION_EXPECTED = {
    # recipient:      referral_id, outcome, lead, contact, rag, due_at, revision
    "school-portal": ("REF-S", CIN, "social-care", CONTACT, None, None, 1),
    "public-portal": ("REF-P", None, None, None, None, None, 1),
    # Police referred (police-niche) and answered (police): two systems, two views.
    "police-niche": ("REF-N", CIN, "social-care", CONTACT, None, None, 1),  # referrer's view
    "police": (None, CIN, "social-care", None, None, None, 1),  # contributor's view
    "health": (None, CIN, "social-care", None, None, None, 1),  # contributor
}


def test_decision_tells_referrers_and_contributors_what_the_policy_allows(
    roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    assert routed.status is DecisionStatus.NOTIFY
    got = by_recipient(routed.notifications)
    assert set(got) == set(DECISION_EXPECTED)  # not probation (ERROR)
    for recipient, expected in DECISION_EXPECTED.items():
        n = got[recipient]
        assert tuple(getattr(n, f) for f in FIELDS) == expected, recipient
        assert n.kind is DECISION and n.reasons == []
        assert n.notification_id == stable_id("notification", CASE, recipient, "DECISION", 1)
        assert "Confidential" not in n.message  # rationale is never shared by default
        # The case id says whether the child was known: never to the public.
        assert (n.case_id is None) is (recipient == "public-portal"), recipient
        if n.case_id is None:
            assert CASE not in n.message


@pytest.mark.parametrize(
    ("recipient", "must_say", "must_not_say"),
    [
        ("public-portal", ["REF-P", "acted on", "cannot tell you", "999"],
         [OUTCOME_WORDS[CIN], "social care", "Example Borough", CONTACT]),
        ("school-portal", ["REF-S", OUTCOME_WORDS[CIN], "Example Borough children's social care",
                           CONTACT], ["cannot tell you"]),
        ("police-niche", ["REF-N", "Thank you for your referral", OUTCOME_WORDS[CIN], CONTACT],
         ["information your agency gave"]),
        ("police", ["CASE-1", "information your agency gave", OUTCOME_WORDS[CIN]],
         ["REF-N", CONTACT]),
        ("health", ["CASE-1", "information your agency gave", OUTCOME_WORDS[CIN],
                    "is leading the work"], ["referral", CONTACT]),
    ],
)
def test_decision_wording(
    recipient: str, must_say: list[str], must_not_say: list[str],
    roster: Roster, policy: RecipientPolicy,
) -> None:
    routed = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    message = by_recipient(routed.notifications)[recipient].message
    for text in must_say:
        assert text in message
    for text in must_not_say:
        assert text not in message


@pytest.mark.parametrize("outcome", list(DecisionOutcome))
def test_every_outcome_has_plain_words(
    outcome: DecisionOutcome, roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_decision(assembled_state(roster, policy), decision(outcome=outcome),
                         roster, policy, NOW)
    school = by_recipient(routed.notifications)["school-portal"]
    assert school.decision_outcome is outcome
    assert OUTCOME_WORDS[outcome] in school.message and "_" not in school.message


def test_rationale_is_shared_only_where_the_policy_says(
    roster: Roster, policy: RecipientPolicy
) -> None:
    from mash_common.contracts import ReferrerType

    rule = policy.rule_for(ReferrerType.HEALTH).model_copy(update={
        "decision_as_contributor": frozenset({Shareable.DECISION_OUTCOME, Shareable.RATIONALE})
    })
    open_health = policy.model_copy(update={"kinds": {**policy.kinds, ReferrerType.HEALTH: rule}})
    routed = on_decision(assembled_state(roster, open_health), decision(), roster, open_health, NOW)
    got = by_recipient(routed.notifications)
    assert "Confidential reasoning" in got["health"].message
    assert all("Confidential" not in n.message for r, n in got.items() if r != "health")


def test_revision_goes_to_the_same_recipients_with_new_ids(
    roster: Roster, policy: RecipientPolicy
) -> None:
    first = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    assert first.state is not None
    revised = on_decision(first.state, decision(2, outcome=DecisionOutcome.STRATEGY_DISCUSSION),
                          roster, policy, NOW)
    assert revised.status is DecisionStatus.NOTIFY
    old, new = by_recipient(first.notifications), by_recipient(revised.notifications)
    assert set(new) == set(old)
    for recipient, n in new.items():
        assert n.kind is DECISION and n.revision == 2
        assert n.notification_id == stable_id("notification", CASE, recipient, "DECISION", 2)
        assert n.notification_id != old[recipient].notification_id
    assert new["school-portal"].decision_outcome is DecisionOutcome.STRATEGY_DISCUSSION
    assert "replaces what we told you before" in new["school-portal"].message
    assert "looked again" in new["public-portal"].message
    assert revised.latency is None  # latency counts the first decision only


@pytest.mark.parametrize(
    ("second", "status"),
    [
        (decision(1), DecisionStatus.DUPLICATE),
        (decision(1, outcome=DecisionOutcome.EARLY_HELP), DecisionStatus.REVISION_CONFLICT),
    ],
    ids=["redelivered", "same-revision-different-content"],
)
def test_a_notified_revision_is_not_sent_again(
    second: Any, status: DecisionStatus, roster: Roster, policy: RecipientPolicy
) -> None:
    first = on_decision(assembled_state(roster, policy), decision(1), roster, policy, NOW)
    assert first.state is not None
    again = on_decision(first.state, second, roster, policy, NOW)
    assert (again.status, again.notifications, again.state) == (status, (), None)


def test_an_older_revision_after_a_newer_one_is_stale(
    roster: Roster, policy: RecipientPolicy
) -> None:
    r2 = on_decision(assembled_state(roster, policy), decision(2), roster, policy, NOW)
    assert r2.state is not None
    assert on_decision(r2.state, decision(1), roster, policy, NOW).status is DecisionStatus.STALE


def test_a_decision_for_an_unknown_case_is_not_routed(
    roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_decision(None, decision(), roster, policy, NOW)
    assert (routed.status, routed.notifications) == (DecisionStatus.UNKNOWN_CASE, ())


def test_decision_latency_runs_from_the_earliest_referral(
    roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    assert routed.latency == timedelta(hours=5)  # REF-S at T0, decided at T0 + 5h


def test_redelivered_or_older_case_versions_change_nothing(
    roster: Roster, policy: RecipientPolicy
) -> None:
    v2 = on_assembled(assembled_state(roster, policy),
                      case([ref(*r) for r in REFERRALS], ANSWERS, version=2), roster, policy, NOW)
    assert v2.state is not None
    for version in (1, 2):
        again = on_assembled(v2.state, case([ref(*r) for r in REFERRALS], ANSWERS,
                                            version=version), roster, policy, NOW)
        assert again.stale and again.notifications == ()


def test_an_amendment_does_not_renotify_but_tells_a_new_referrer(
    roster: Roster, policy: RecipientPolicy
) -> None:
    state = assembled_state(roster, policy)
    same = on_assembled(state, case([ref(*r) for r in REFERRALS], ANSWERS, version=2),
                        roster, policy, NOW)
    assert same.state is not None and same.state.version == 2 and same.notifications == ()
    joined = on_assembled(
        same.state,
        case([*(ref(*r) for r in REFERRALS), ref("REF-H", "health-portal", 40)], ANSWERS,
             version=3),
        roster, policy, NOW,
    )
    (n,) = joined.notifications
    assert (n.recipient, n.kind, n.referral_id) == ("health-portal", GATHERED, "REF-H")
    assert n.notification_id == stable_id("notification", CASE, "health-portal",
                                          "INFORMATION_GATHERED", 3)


def test_an_agency_whose_answer_arrives_after_the_decision_hears_the_current_decision(
    roster: Roster, policy: RecipientPolicy
) -> None:
    decided = on_decision(assembled_state(roster, policy), decision(2), roster, policy, NOW)
    assert decided.state is not None
    late = on_assembled(decided.state,
                        case([ref(*r) for r in REFERRALS], {**ANSWERS, "probation": FOUND},
                             version=2),
                        roster, policy, NOW)
    (n,) = late.notifications
    assert (n.recipient, n.kind, n.revision, n.decision_outcome) == ("probation", DECISION, 2, CIN)
    assert n.notification_id == stable_id("notification", CASE, "probation", "DECISION", 2)
    assert late.state is not None and "probation" in late.state.decision_sent


def test_same_input_same_ids(roster: Roster, policy: RecipientPolicy) -> None:
    a = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    b = on_decision(assembled_state(roster, policy), decision(), roster, policy,
                    NOW + timedelta(minutes=5))
    assert [n.notification_id for n in a.notifications] == [
        n.notification_id for n in b.notifications]


def test_case_state_survives_its_changelog_encoding(
    roster: Roster, policy: RecipientPolicy
) -> None:
    routed = on_decision(assembled_state(roster, policy), decision(), roster, policy, NOW)
    assert routed.state is not None
    assert CaseState.from_bytes(routed.state.to_bytes()) == routed.state


def test_shipped_policy_keeps_the_public_to_acted_on_only(policy: RecipientPolicy) -> None:
    from mash_common.contracts import ReferrerType

    for kind in (ReferrerType.MEMBER_OF_PUBLIC, ReferrerType.FAMILY_MEMBER, ReferrerType.SELF,
                 ReferrerType.ANONYMOUS):
        rule = policy.rule_for(kind)
        assert not (rule.information_gathered | rule.decision_as_referrer
                    | rule.decision_as_contributor)
    for kind in ReferrerType:
        rule = policy.rule_for(kind)
        assert Shareable.RATIONALE not in (
            rule.information_gathered | rule.decision_as_referrer | rule.decision_as_contributor)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('version: "1"\nkinds:\n  EDUCATION:\n    decision_as_referrer: [outcome]\n',
         ":4: kinds.EDUCATION.decision_as_referrer"),
        ('version: "1"\nkinds:\n  TEACHER:\n    decision_as_referrer: []\n', ":3: kinds.TEACHER"),
        ('version: "1"\ncontributor_statuses: [FOUND, MAYBE]\n', ":2: contributor_statuses"),
        ('kinds: {}\n', "version"),
    ],
    ids=["unknown-field", "unknown-kind", "unknown-status", "missing-version"],
)
def test_a_bad_policy_is_refused_with_its_line(text: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "recipient-policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_recipient_policy(path)
    assert where in str(err.value)


def test_a_new_referral_after_a_decision_is_acknowledged_and_hears_the_next_revision(
    roster: Roster, policy: RecipientPolicy
) -> None:
    decided = on_decision(assembled_state(roster, policy), decision(1), roster, policy, NOW)
    assert decided.state is not None
    new_round = on_assembled(
        decided.state,
        case([*(ref(*r) for r in REFERRALS), ref("REF-H", "health-portal", 600)], ANSWERS,
             version=2),
        roster, policy, NOW,
    )
    (n,) = new_round.notifications
    assert (n.recipient, n.kind) == ("health-portal", GATHERED)
    assert new_round.state is not None
    revised = on_decision(new_round.state, decision(2), roster, policy, NOW)
    assert "health-portal" in by_recipient(revised.notifications)
