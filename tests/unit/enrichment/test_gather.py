"""The gather state machine, driven by tables of events at given times; no broker, no clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mash_common.contracts import (
    AuditAction,
    Completeness,
    ConsentStatus,
    InformationResponse,
    Rag,
    ResponseStatus,
)
from mash_common.ids import stable_id
from mash_hub.services.enrichment.logic import (
    Audit,
    GatherState,
    Ignored,
    Phase,
    Reject,
    RequestKind,
    Responded,
    SendRequest,
    Tick,
    Triaged,
    apply,
)
from tests.unit.enrichment.helpers import RULES, T0, Driver, response, triaged

AMBER_ALL = ["police", "health", "education", "social-care", "probation", "housing"]
GREEN_ALL = ["police", "health", "education", "social-care"]


def answered(resp: InformationResponse) -> Responded:
    """The response as it arrives on its own agency's topic."""
    return Responded(resp, sender=resp.agency)


def audits(effects: list, action: AuditAction) -> list[Audit]:
    return [e for e in effects if isinstance(e, Audit) and e.action is action]


def test_a_new_case_asks_every_allowed_agency_with_stable_request_ids() -> None:
    d = Driver()
    effects = d.at(T0, Triaged(triaged(rag=Rag.AMBER), partition=3))
    sent = [e for e in effects if isinstance(e, SendRequest)]
    assert [s.request.agency for s in sent] == AMBER_ALL
    for s in sent:
        assert s.kind is RequestKind.NEW and s.request.rag is Rag.AMBER
        assert s.request.request_id == stable_id("request", "CASE-1", s.request.agency, 1)
        assert s.request.respond_by == T0 + timedelta(hours=24)
        assert s.request.legal_basis and s.request.purpose and s.request.data_categories
    assert len(audits(effects, AuditAction.REQUEST_SENT)) == 6
    assert d.state is not None and d.state.partition == 3 and d.state.phase is Phase.GATHERING


def test_a_redelivered_referral_changes_nothing() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(), partition=0))
    before = d.state
    assert d.at(T0 + timedelta(seconds=5), Triaged(triaged(), partition=0)) == [Ignored("DUPLICATE_REFERRAL")]
    assert d.state == before


@pytest.mark.parametrize(
    ("consent", "health_asked"),
    [
        (ConsentStatus.GIVEN, True),
        (ConsentStatus.OVERRIDDEN_CHILD_PROTECTION, True),
        (ConsentStatus.REFUSED, False),
        (ConsentStatus.NOT_SOUGHT, False),
        (ConsentStatus.UNKNOWN, False),
    ],
)
def test_health_is_asked_only_with_consent_or_override(consent: ConsentStatus, health_asked: bool) -> None:
    d = Driver()
    effects = d.at(T0, Triaged(triaged(rag=Rag.RED, consent=consent), partition=0))
    asked = {e.request.agency for e in effects if isinstance(e, SendRequest)}
    assert ("health" in asked) is health_asked
    withheld = audits(effects, AuditAction.REQUEST_WITHHELD)
    if health_asked:
        assert withheld == []
    else:
        assert [(w.agency, w.reference) for w in withheld] == [("health", "REF-1")]
        assert withheld[0].detail is not None and withheld[0].detail.startswith("CONSENT_REQUIRED")


def test_green_withholds_agencies_not_asked_at_green() -> None:
    effects = Driver().at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    assert [e.request.agency for e in effects if isinstance(e, SendRequest)] == GREEN_ALL
    assert sorted(w.agency or "" for w in audits(effects, AuditAction.REQUEST_WITHHELD)) == ["housing", "probation"]


def test_complete_as_soon_as_every_asked_agency_answered() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    for i, agency in enumerate(GREEN_ALL):
        status = ResponseStatus.DECLINED if agency == "education" else ResponseStatus.FOUND
        effects = d.at(T0 + timedelta(minutes=i + 1), answered(response(d.request_for(agency), status)))
        if agency == "police":
            assert [a.action for a in audits(effects, AuditAction.DISCLOSURE)] == [AuditAction.DISCLOSURE]
        if agency == "education":
            assert len(audits(effects, AuditAction.REFUSAL)) == 1
    [published] = d.cases()
    case = published.case
    assert case.version == 1 and case.completeness is Completeness.COMPLETE
    assert case.missing_agencies == [] and sorted(case.asked_agencies) == sorted(GREEN_ALL)
    assert case.assembled_at == T0 + timedelta(minutes=4) and published.lateness_s is None
    assert [r.referral_id for r in case.referrals] == ["REF-1"]
    assert d.state is not None and d.state.next_wakeup(RULES.chase_points) is None


def test_deadline_never_fires_early_and_names_the_missing() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.RED), partition=0))
    d.at(T0 + timedelta(minutes=5), answered(response(d.request_for("police"))))
    due = T0 + timedelta(hours=4)
    assert d.state is not None
    d.at(due - timedelta(milliseconds=1), Tick())
    assert d.cases() == []
    d.at(due, Tick())
    [published] = d.cases()
    assert published.case.completeness is Completeness.PARTIAL and published.lateness_s == 0
    assert published.case.missing_agencies == [a for a in AMBER_ALL if a != "police"]
    assert published.case.assembled_at >= published.case.due_at
    d.at(due + timedelta(seconds=1), Tick())
    assert len(d.cases()) == 1, "a deadline fires once"


@pytest.mark.parametrize(
    ("ticks_at_fraction", "expected_chases"),
    [
        ([0.49], []),
        ([0.5], [1]),
        ([0.5, 0.6, 0.7], [1]),
        ([0.5, 0.8], [1, 2]),
        ([0.85], [1]),  # a sweeper that was away chases once, not twice
        ([0.5, 0.8, 0.99], [1, 2]),
    ],
)
def test_chases_at_50_and_80_percent_for_unanswered_agencies(
    ticks_at_fraction: list[float], expected_chases: list[int]
) -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    d.at(T0 + timedelta(minutes=1), answered(response(d.request_for("police"))))
    for f in ticks_at_fraction:
        d.at(T0 + timedelta(hours=72) * f, Tick())
    chases = [r for r in d.requests() if r.is_chase]
    assert sorted({c.chase_number for c in chases}) == expected_chases
    for c in chases:
        assert c.agency != "police" and c.request_id == d.request_for(c.agency).request_id
    assert len(chases) == 3 * len(expected_chases)
    assert len([e for _, e in d.log if isinstance(e, Audit) and e.action is AuditAction.REQUEST_CHASED]) == len(chases)


def test_a_late_response_amends_the_case() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    for agency in ("police", "health", "education"):
        d.at(T0 + timedelta(minutes=1), answered(response(d.request_for(agency))))
    d.at(T0 + timedelta(hours=72), Tick())
    late_at = T0 + timedelta(hours=73)
    effects = d.at(late_at, answered(response(d.request_for("social-care"))))
    first, amended = d.cases()
    assert first.case.completeness is Completeness.PARTIAL and first.case.missing_agencies == ["social-care"]
    assert amended.amended and amended.case.version == 2 and amended.case.completeness is Completeness.COMPLETE
    [late] = [c for c in amended.case.contributions if c.agency == "social-care"]
    assert late.late and not any(c.late for c in amended.case.contributions if c.agency != "social-care")
    assert len(audits(effects, AuditAction.CASE_AMENDED)) == 1


def test_a_duplicate_response_changes_nothing_even_after_assembly() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    police = response(d.request_for("police"))
    d.at(T0 + timedelta(minutes=1), answered(police))
    before = d.state
    assert d.at(T0 + timedelta(minutes=2), answered(police)) == [Ignored("DUPLICATE_RESPONSE")]
    assert d.state == before
    d.at(T0 + timedelta(hours=72), Tick())
    after_assembly = d.state
    assert d.at(T0 + timedelta(hours=73), answered(police)) == [Ignored("DUPLICATE_RESPONSE")]
    assert d.state == after_assembly and len(d.cases()) == 1


@pytest.mark.parametrize(
    ("request_id", "agency", "case_known", "reason"),
    [
        ("no-such-request", None, True, "UNKNOWN_REQUEST"),
        (None, None, False, "UNKNOWN_REQUEST"),
        (None, "housing", True, "AGENCY_MISMATCH"),
    ],
)
def test_responses_that_match_no_request_are_rejected(
    request_id: str | None, agency: str | None, case_known: bool, reason: str
) -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.AMBER), partition=0))
    resp = response(d.request_for("police"), request_id=request_id, agency=agency)
    state = d.state if case_known else None
    outcome = apply(state, answered(resp), T0, RULES)
    assert [type(e) for e in outcome.effects] == [Reject]
    assert outcome.effects[0].reason_code == reason  # type: ignore[union-attr]
    assert outcome.state == state


def test_a_more_urgent_linked_referral_re_rates_pending_requests() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    d.at(T0 + timedelta(minutes=1), answered(response(d.request_for("police"))))
    linked_at = T0 + timedelta(hours=1)
    effects = d.at(linked_at, Triaged(triaged(referral_id="REF-2", rag=Rag.RED, at=linked_at), partition=0))
    sent = [e for e in effects if isinstance(e, SendRequest)]
    rerated = {s.request.agency: s.request for s in sent if s.kind is RequestKind.RERATED}
    new = {s.request.agency: s.request for s in sent if s.kind is RequestKind.NEW}
    assert sorted(rerated) == ["education", "health", "social-care"]  # police already answered
    assert sorted(new) == ["housing", "probation"]  # asked only from AMBER up
    for agency, req in rerated.items():
        assert req.rag is Rag.RED and req.request_id == d.request_for(agency).request_id
        assert req.respond_by == linked_at + timedelta(hours=4)
    assert d.state is not None and d.state.rag is Rag.RED and d.state.due_at == linked_at + timedelta(hours=4)
    d.at(linked_at + timedelta(hours=4), Tick())
    [published] = d.cases()
    assert published.case.rag is Rag.RED and [r.referral_id for r in published.case.referrals] == ["REF-1", "REF-2"]


def test_a_later_override_lets_health_be_asked() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.RED, consent=ConsentStatus.REFUSED), partition=0))
    assert "health" not in {r.agency for r in d.requests()}
    effects = d.at(T0 + timedelta(minutes=10), Triaged(
        triaged(referral_id="REF-2", rag=Rag.RED, consent=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                at=T0 + timedelta(minutes=10)), partition=0))
    assert [e.request.agency for e in effects if isinstance(e, SendRequest)] == ["health"]


def test_a_linked_referral_after_assembly_opens_a_new_round() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    d.at(T0 + timedelta(hours=72), Tick())
    later = T0 + timedelta(days=5)
    d.at(later, Triaged(triaged(referral_id="REF-2", rag=Rag.GREEN, at=later), partition=0))
    round2 = [r for r in d.requests() if r.requested_at == later]
    assert sorted(r.agency for r in round2) == sorted(GREEN_ALL)
    assert all(r.request_id == stable_id("request", "CASE-1", r.agency, 2) for r in round2)
    # A round-1 answer now is late; it joins the round-2 assembly without a version of its own.
    d.at(later + timedelta(minutes=1), answered(response(d.request_for("police"))))
    assert len(d.cases()) == 1
    for r in round2:
        d.at(later + timedelta(minutes=2), answered(response(r)))
    first, second = d.cases()
    assert second.case.version == 2 and second.case.completeness is Completeness.COMPLETE
    assert second.case.referral_ids == ["REF-1", "REF-2"] and not second.amended
    assert len(second.case.contributions) == 5


def test_state_survives_a_json_round_trip() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.RED), partition=5))
    d.at(T0 + timedelta(minutes=1), answered(response(d.request_for("police"))))
    assert d.state is not None
    assert GatherState.model_validate_json(d.state.model_dump_json()) == d.state


def test_apply_does_not_modify_the_given_state() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    assert d.state is not None
    before = d.state.model_dump()
    apply(d.state, answered(response(d.request_for("police"))), T0, RULES)
    apply(d.state, Tick(), T0 + timedelta(hours=80), RULES)
    assert d.state.model_dump() == before


# The trust boundary: who answered, and answering twice -------------------------------------


def current(d: Driver) -> GatherState:
    assert d.state is not None
    return d.state


def started(rag: Rag) -> Driver:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=rag), partition=0))
    return d


def test_a_response_in_another_agencys_name_is_rejected_before_anything_else() -> None:
    d = started(Rag.AMBER)
    claims_health = response(d.request_for("health"))
    effects = d.at(T0 + timedelta(minutes=1), Responded(claims_health, sender="police"))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["SENDER_MISMATCH"]
    assert [a.agency for a in audits(effects, AuditAction.SENDER_MISMATCH)] == ["police"]
    assert "health" in current(d).missing_agencies()  # the case never saw it


def test_a_different_second_answer_is_a_conflict_and_the_first_stands() -> None:
    d = started(Rag.AMBER)
    request = d.request_for("police")
    d.at(T0 + timedelta(minutes=1), answered(response(request, ResponseStatus.FOUND)))
    effects = d.at(T0 + timedelta(minutes=2), answered(response(request, ResponseStatus.NOT_KNOWN)))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["RESPONSE_CONFLICT"]
    assert len(audits(effects, AuditAction.RESPONSE_CONFLICT)) == 1
    police = [c for c in current(d).contributions if c.agency == "police"]
    assert [c.status for c in police] == [ResponseStatus.FOUND]


@pytest.mark.parametrize("corrects, expected", [
    ("police-answer-1", ResponseStatus.NOT_KNOWN),  # names the standing answer: it replaces it
    ("some-other-answer", ResponseStatus.FOUND),  # names another: a conflict, the first stands
])
def test_a_correction_must_name_the_answer_it_replaces(corrects: str, expected: ResponseStatus) -> None:
    d = started(Rag.AMBER)
    request = d.request_for("police")
    first = response(request, ResponseStatus.FOUND).model_copy(update={"response_id": "police-answer-1"})
    d.at(T0 + timedelta(minutes=1), answered(first))
    fix = response(request, ResponseStatus.NOT_KNOWN).model_copy(
        update={"response_id": "police-answer-2", "corrects": corrects})
    d.at(T0 + timedelta(minutes=2), answered(fix))
    assert [c.status for c in current(d).contributions if c.agency == "police"] == [expected]


def test_a_correction_after_assembly_amends_the_case_once() -> None:
    d = started(Rag.GREEN)
    for agency in GREEN_ALL:
        answer = response(d.request_for(agency)).model_copy(update={"response_id": f"{agency}-1"})
        d.at(T0 + timedelta(minutes=1), answered(answer))
    assert current(d).phase is Phase.ASSEMBLED
    fix = response(d.request_for("police"), ResponseStatus.NOT_KNOWN).model_copy(
        update={"response_id": "police-2", "corrects": "police-1"})
    effects = d.at(T0 + timedelta(minutes=5), answered(fix))
    assert len(audits(effects, AuditAction.RESPONSE_CORRECTED)) == 1
    version = current(d).version
    # Redelivered, the correction changes nothing more.
    assert d.at(T0 + timedelta(minutes=6), answered(fix)) == [Ignored("DUPLICATE_RESPONSE")]
    assert current(d).version == version


def test_an_answer_after_an_error_replaces_it_without_naming_it() -> None:
    d = started(Rag.AMBER)
    request = d.request_for("police")
    d.at(T0 + timedelta(minutes=1), answered(response(request, ResponseStatus.ERROR)))
    effects = d.at(T0 + timedelta(minutes=9), answered(response(request, ResponseStatus.FOUND)))
    assert not [e for e in effects if isinstance(e, Reject)]
    assert len(audits(effects, AuditAction.RESPONSE_CORRECTED)) == 1
    assert [c.status for c in current(d).contributions if c.agency == "police"] == [ResponseStatus.FOUND]
