"""Re-rating in flight (#19): response rules, a manager's change up or down, supersession,
the rating's history, and a Red referral that overtook its case's opener. No broker."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from mash_common.contracts import (
    AgencyRecord,
    AuditAction,
    CaseLink,
    InformationRequest,
    InformationResponse,
    LinkMatch,
    Rag,
    RatingCause,
    RatingChange,
    Responder,
    ResponseStatus,
)
from mash_common.threshold import ResponseConditions, ResponseRule, Timescales
from mash_hub.services.enrichment.logic import (
    Audit,
    Phase,
    RatingChanged,
    Refuse,
    Reject,
    RequestKind,
    Responded,
    SendRequest,
    Tick,
    Triaged,
)
from tests.unit.enrichment.helpers import RULES, T0, Driver, triaged

DA_RULE = ResponseRule(
    id="police-recent-domestic-abuse",
    description="Police report a domestic abuse incident in the last 28 days",
    rag=Rag.AMBER,
    when=ResponseConditions(agency_in=["police"], any_category=["domestic-abuse-incidents"],
                            within_days=28),
)
FLAG_RULE = ResponseRule(
    id="flagged-risk-to-children", description="An agency flags a current risk to children",
    rag=Rag.RED, when=ResponseConditions(risk_flag=True, within_days=7),
)
RERATING = replace(RULES, response_rules=(DA_RULE, FLAG_RULE), timescales=Timescales(),
                   zone="UTC")


def police_answer(req: InformationRequest, *, category: str, on: date, flag: bool = False
                  ) -> Responded:
    resp = InformationResponse(
        request_id=req.request_id, case_id=req.case_id, agency="police", responded_at=T0,
        status=ResponseStatus.FOUND,
        records=[AgencyRecord(category=category, summary="Synthetic incident", date=on,
                              risk_flag=flag, reference="PND-1")],
        responder=Responder(name="Synthetic Officer", role="MASH researcher"),
    )
    return Responded(resp, sender="police")


def change(rag: Rag, rationale: str = "Read the case: the police log shows escalation.",
           change_id: str = "CHG-1", sender: str = "case-management",
           hub_system: str | None = None) -> RatingChanged:
    rc = RatingChange(change_id=change_id, case_id="CASE-1", hub_system=hub_system or sender,
                      rag=rag, rationale=rationale, decided_by="MASH team manager", decided_at=T0)
    return RatingChanged(rc, sender=sender)


def sent(effects: list, kind: RequestKind) -> dict[str, InformationRequest]:
    return {e.request.agency: e.request for e in effects
            if isinstance(e, SendRequest) and e.kind is kind}


def green_case() -> Driver:
    d = Driver(rules=RERATING)
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    return d


@pytest.mark.parametrize(("category", "days_ago", "raised"), [
    ("domestic-abuse-incidents", 3, True),
    ("domestic-abuse-incidents", 28, True),
    ("domestic-abuse-incidents", 29, False),  # older than the rule's 28 days
    ("domestic-abuse-incidents", -2, False),  # a date in the future is not a recent incident
    ("child-protection-incidents", 3, False),  # another category
])
def test_a_police_answer_raises_the_rating_by_the_policy_rule(category: str, days_ago: int,
                                                               raised: bool) -> None:
    d = green_case()
    at = T0 + timedelta(minutes=10)
    effects = d.at(at, police_answer(d.request_for("police"), category=category,
                                     on=at.date() - timedelta(days=days_ago)))
    assert d.state is not None
    if not raised:
        assert d.state.rag is Rag.GREEN and not sent(effects, RequestKind.RERATED)
        return
    assert d.state.rag is Rag.AMBER
    # The deadline tightens to Amber's timescale from now.
    assert d.state.due_at == at + timedelta(hours=24)
    rerated = sent(effects, RequestKind.RERATED)
    notices = sent(effects, RequestKind.SUPERSEDED)
    # Police answered; the other Green agencies move up; Amber adds probation and housing.
    assert sorted(rerated) == ["education", "health", "social-care"]
    assert sorted(sent(effects, RequestKind.NEW)) == ["housing", "probation"]
    for agency, req in rerated.items():
        assert req.rag is Rag.AMBER and req.revision == 1 and req.supersedes_rag is Rag.GREEN
        assert req.respond_by == at + timedelta(hours=24)
        notice = notices[agency]
        assert notice.superseded and notice.rag is Rag.GREEN and notice.superseded_by_rag is Rag.AMBER
        assert notice.request_id == req.request_id and notice.revision == 1
    assert d.state.fired_rules[-1].rule_id == DA_RULE.id
    last = d.state.rating_history[-1]
    assert (last.cause, last.previous_rag, last.rag, last.rule_ids) == (
        RatingCause.RESPONSE_RULE, Rag.GREEN, Rag.AMBER, [DA_RULE.id])
    assert any(isinstance(e, Audit) and e.action is AuditAction.RATING_CHANGED for e in effects)


def test_a_response_rule_never_lowers_and_the_highest_rule_wins() -> None:
    d = green_case()
    at = T0 + timedelta(minutes=5)
    d.at(at, police_answer(d.request_for("police"), category="domestic-abuse-incidents",
                           on=at.date(), flag=True))
    assert d.state is not None and d.state.rag is Rag.RED
    assert d.state.rating_history[-1].rule_ids == [DA_RULE.id, FLAG_RULE.id]
    assert d.state.due_at == at + timedelta(hours=4)


def test_chases_follow_the_tightened_deadline() -> None:
    d = green_case()
    at = T0 + timedelta(hours=1)
    d.at(at, police_answer(d.request_for("police"), category="domestic-abuse-incidents", on=at.date()))
    assert d.state is not None
    due = d.state.due_at
    chases = d.state.chase_times(RERATING.chase_points)
    assert chases[-1] < due <= at + timedelta(hours=24)
    effects = d.at(chases[0], Tick())
    chased = sent(effects, RequestKind.CHASE)
    assert chased and all(r.rag is Rag.AMBER for r in chased.values())


def test_a_manager_raises_a_case_with_a_rationale() -> None:
    d = green_case()
    at = T0 + timedelta(minutes=30)
    effects = d.at(at, change(Rag.RED))
    assert d.state is not None and d.state.rag is Rag.RED and d.state.due_at == at + timedelta(hours=4)
    assert all(r.rag is Rag.RED for r in sent(effects, RequestKind.RERATED).values())
    last = d.state.rating_history[-1]
    assert last.cause is RatingCause.MANAGER and last.decided_by == "MASH team manager"
    assert last.rationale.startswith("Read the case") and last.reference == "CHG-1"
    # The same change again (a redelivery) changes nothing.
    assert d.at(at, change(Rag.RED)) and len(d.state.rating_history) == 2


def test_a_lowering_loosens_only_what_is_unanswered_and_tells_those_agencies() -> None:
    d = Driver(rules=RERATING)
    d.at(T0, Triaged(triaged(rag=Rag.RED), partition=0))
    police = d.request_for("police")
    d.at(T0 + timedelta(minutes=5), police_answer(police, category="domestic-abuse-incidents",
                                                  on=date(2020, 1, 1)))
    at = T0 + timedelta(minutes=20)
    effects = d.at(at, change(Rag.AMBER, "Strategy discussion held; no immediate risk."))
    assert d.state is not None and d.state.rag is Rag.AMBER
    # Amber's timescale from the round's start, not from now.
    assert d.state.due_at == T0 + timedelta(hours=24)
    rerated = sent(effects, RequestKind.RERATED)
    assert "police" not in rerated and rerated  # answered: left alone
    for agency, req in rerated.items():
        assert req.rag is Rag.AMBER and req.respond_by == T0 + timedelta(hours=24)
        assert sent(effects, RequestKind.SUPERSEDED)[agency].rag is Rag.RED
    assert d.state.rating_history[-1].previous_rag is Rag.RED


def test_a_lowering_asks_only_what_the_agreement_allows_at_the_lower_rag() -> None:
    d = Driver(rules=RERATING)
    d.at(T0, Triaged(triaged(rag=Rag.RED), partition=0))
    red_police = d.request_for("police")
    effects = d.at(T0 + timedelta(minutes=1), change(Rag.GREEN, "No risk of significant harm."))
    withdrawn = sent(effects, RequestKind.WITHDRAWN)
    assert sorted(withdrawn) == ["housing", "probation"]  # not asked at GREEN
    assert all(r.withdrawn for r in withdrawn.values())
    police = sent(effects, RequestKind.RERATED)["police"]
    assert police.rag is Rag.GREEN
    assert set(police.data_categories) == {"domestic-abuse-incidents", "child-protection-incidents"}
    assert set(police.data_categories) < set(red_police.data_categories)
    assert d.state is not None and set(d.state.missing_agencies()) == {
        "police", "health", "education", "social-care"}


@pytest.mark.parametrize("rationale", ["", "   \n\t"])
def test_a_change_without_a_rationale_is_refused_and_nothing_moves(rationale: str) -> None:
    d = green_case()
    before = d.state
    effects = d.at(T0 + timedelta(minutes=1), change(Rag.RED, rationale))
    assert d.state == before
    [reject] = [e for e in effects if isinstance(e, Reject)]
    assert reject.reason_code == "RATIONALE_MISSING"
    [refuse] = [e for e in effects if isinstance(e, Refuse)]
    assert refuse.hub_system == "case-management" and refuse.change_id == "CHG-1"
    assert [e.action for e in effects if isinstance(e, Audit)] == [AuditAction.RATING_CHANGE_REFUSED]
    assert not [e for e in effects if isinstance(e, SendRequest)]


def test_a_change_for_an_unknown_case_or_in_another_systems_name_is_refused() -> None:
    d = Driver(rules=RERATING)
    effects = d.at(T0, change(Rag.RED))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["UNKNOWN_CASE"]
    assert any(isinstance(e, Refuse) for e in effects)
    d = green_case()
    effects = d.at(T0, change(Rag.RED, hub_system="other-system"))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["SENDER_MISMATCH"]
    assert d.state is not None and d.state.rag is Rag.GREEN


def test_a_change_to_an_assembled_case_amends_it_with_its_history() -> None:
    d = green_case()
    assert d.state is not None
    d.at(d.state.due_at, Tick())
    assert d.state.phase is Phase.ASSEMBLED
    d.at(d.state.due_at + timedelta(minutes=1), change(Rag.AMBER))
    first, amended = d.cases()
    assert first.case.rag is Rag.GREEN and amended.case.rag is Rag.AMBER and amended.amended
    assert [(e.cause, e.rag) for e in amended.case.rating_history] == [
        (RatingCause.TRIAGE, Rag.GREEN), (RatingCause.MANAGER, Rag.AMBER)]


def test_a_red_referral_that_overtook_its_cases_opener_is_not_a_collision() -> None:
    d = Driver(rules=RERATING)
    link = CaseLink(case_id="CASE-1", match=LinkMatch.NHS_NUMBER, reason="same NHS number",
                    previous_rag=Rag.GREEN, opened_by="REF-1")
    d.at(T0, Triaged(triaged(referral_id="REF-2", rag=Rag.RED, linked_case=link), partition=0))
    assert d.state is not None and d.state.awaiting_opener == "REF-1"
    effects = d.at(T0 + timedelta(seconds=5), Triaged(triaged(rag=Rag.GREEN), partition=0))
    assert not [e for e in effects if isinstance(e, Reject)]
    assert [r.referral_id for r in d.state.referrals] == ["REF-1", "REF-2"]
    assert d.state.rag is Rag.RED and d.state.awaiting_opener is None
    # Another first referral under the same id still is a collision.
    effects = d.at(T0 + timedelta(seconds=6), Triaged(triaged(referral_id="REF-9", rag=Rag.GREEN,
                                                              linked_case=None), partition=0))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["CASE_ID_COLLISION"]


def test_response_rules_need_a_condition() -> None:
    with pytest.raises(ValueError, match="at least one condition"):
        ResponseConditions()
