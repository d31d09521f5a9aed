"""The board's projection and logins, without a broker: cases by RAG, agency states at a
given time, PARTIAL and amended cases, the wall view without personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mash_common.contracts import (
    AssembledCase,
    Completeness,
    Contribution,
    Decision,
    DecisionOutcome,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    SubjectIdentifiers,
)
from mash_hub.services.board.logic import (
    AgencyState,
    Board,
    Stage,
    agency_state,
    case_view,
    pending_requests,
    staff_view,
    wall_view,
)
from mash_hub.services.board.users import check_password, hash_password

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def request(case: str, agency: str, rag: Rag = Rag.RED, chase: int = 0, due_min: int = 60) -> InformationRequest:
    return InformationRequest(
        request_id=f"{case}-{agency}-1", case_id=case, agency=agency, rag=rag, requested_at=T0,
        respond_by=T0 + timedelta(minutes=due_min), subject=SubjectIdentifiers(given_name="Zed"),
        data_categories=["a", "b"], legal_basis="s.47", purpose="p", is_chase=chase > 0,
        chase_number=chase)


def response(req: InformationRequest, at_min: int, response_id: str = "x1",
             corrects: str | None = None) -> InformationResponse:
    return InformationResponse(request_id=req.request_id, case_id=req.case_id, agency=req.agency,
                               responded_at=T0 + timedelta(minutes=at_min), status=ResponseStatus.NOT_KNOWN,
                               responder=Responder(name="n", role="r"), response_id=response_id,
                               corrects=corrects)


def assembled(case: str, version: int, missing: list[str], rag: Rag = Rag.RED) -> AssembledCase:
    from mash_common.contracts import Subject
    return AssembledCase(
        case_id=case, version=version, referral_ids=["r1"], subject=Subject(given_name="Zed", family_name="Q"),
        rag=rag, opened_at=T0, due_at=T0 + timedelta(hours=1), assembled_at=T0 + timedelta(hours=1),
        completeness=Completeness.PARTIAL if missing else Completeness.COMPLETE, asked_agencies=["police"],
        contributions=[Contribution(agency="police", request_id="c1-police-1", status=ResponseStatus.NOT_KNOWN,
                                    responded_at=T0, responder=Responder(name="n", role="r"))],
        missing_agencies=missing)


@pytest.mark.parametrize(("chase", "answer_at", "now_min", "assembled_at_answer", "state"), [
    (0, None, 10, False, AgencyState.WAITING),
    (1, None, 10, False, AgencyState.CHASED),
    (1, None, 61, False, AgencyState.OVERDUE),
    (0, 30, 61, False, AgencyState.ANSWERED),
    (0, 70, 80, False, AgencyState.LATE),
])
def test_agency_states_at_a_given_time(chase: int, answer_at: int | None, now_min: int,
                                       assembled_at_answer: bool, state: AgencyState) -> None:
    board = Board()
    req = request("c1", "police", chase=chase)
    board.apply(req)
    if answer_at is not None:
        board.apply(response(req, answer_at))
    card = board.cases["c1"]
    assert agency_state(card, card.asks["police"], T0 + timedelta(minutes=now_min)) is state


def test_red_first_partial_amended_and_decided() -> None:
    board = Board()
    for case, rag in (("g", Rag.GREEN), ("r", Rag.RED), ("a", Rag.AMBER)):
        board.apply(request(case, "police", rag))
    assert [c["case_id"] for c in staff_view(board, T0)["open"]] == ["r", "a", "g"]
    assert board.apply(assembled("r", 1, ["probation"]))
    assert not board.apply(assembled("r", 1, ["probation"]))  # redelivered
    assert board.cases["r"].stage is Stage.PARTIAL
    assert board.apply(assembled("r", 2, []))
    view = staff_view(board, T0)["open"][0]
    assert view["amended"] and view["stage"] == "COMPLETE"
    decision = Decision(case_id="r", decided_at=T0, outcome=DecisionOutcome.EARLY_HELP, rationale="x",
                        decided_by="m")
    assert board.apply(decision) and not board.apply(decision)
    assert [c["case_id"] for c in staff_view(board, T0)["decided"]] == ["r"]


def test_first_answer_stands_unless_corrected() -> None:
    board = Board()
    req = request("c1", "police")
    board.apply(req)
    assert board.apply(response(req, 5, "x1"))
    assert not board.apply(response(req, 6, "x2"))  # a conflict: enrichment dead-letters it
    assert board.apply(response(req, 7, "x3", corrects="x1"))


def test_the_wall_view_carries_no_personal_data() -> None:
    board = Board()
    board.apply(request("c1", "police"))
    board.apply(assembled("c1", 1, []))
    wall = json.dumps(wall_view(board, T0))
    assert "Zed" not in wall and "subject" not in wall
    assert "Zed" in json.dumps(staff_view(board, T0))
    view = case_view(board, "c1", T0)
    assert view is not None and view["subject_detail"]["given_name"] == "Zed"


def test_pending_requests_red_first_then_by_time_left_and_not_once_answered() -> None:
    board = Board()
    green = request("g", "police", Rag.GREEN, due_min=10)
    red_late = request("r2", "police", Rag.RED, due_min=50)
    red_soon = request("r1", "police", Rag.RED, due_min=20)
    for r in (green, red_late, red_soon, request("h", "health")):
        board.apply(r)
    assert [p["case_id"] for p in pending_requests(board, "police", T0)] == ["r1", "r2", "g"]
    board.apply(response(red_soon, 1))
    assert [p["case_id"] for p in pending_requests(board, "police", T0, {green.request_id})] == ["r2"]


def test_passwords_are_kept_as_scrypt_hashes() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert check_password("correct horse", stored)
    assert not check_password("wrong", stored)
    assert not check_password("x", "garbage")


def test_a_re_rated_request_moves_the_card_and_the_notice_changes_nothing() -> None:
    board = Board()
    green = request("c9", "police", rag=Rag.GREEN, due_min=600)
    board.apply(green)
    red = green.model_copy(update={"rag": Rag.RED, "revision": 1, "supersedes_rag": Rag.GREEN,
                                   "respond_by": T0 + timedelta(minutes=60)})
    notice = green.model_copy(update={"revision": 1, "superseded": True, "superseded_by_rag": Rag.RED})
    assert board.apply(red)
    assert not board.apply(notice)
    assert not board.apply(green)  # the old revision, redelivered
    card = board.cases["c9"]
    assert card.rag is Rag.RED and card.due_at == T0 + timedelta(minutes=60)
    assert card.asks["police"].request.revision == 1
    assert [r["rag"] for r in pending_requests(board, "police", T0)] == ["RED"]


def test_the_case_view_shows_the_rating_history() -> None:
    from mash_common.contracts import RatingCause, RatingEntry
    board = Board()
    history = [RatingEntry(at=T0, rag=Rag.GREEN, cause=RatingCause.TRIAGE, rationale="default",
                           decided_by="mash-hub intake"),
               RatingEntry(at=T0 + timedelta(minutes=5), rag=Rag.RED, previous_rag=Rag.GREEN,
                           cause=RatingCause.MANAGER, rationale="Escalating incidents",
                           decided_by="MASH team manager", reference="CHG-1")]
    board.apply(assembled("c8", 1, []).model_copy(update={"rating_history": history}))
    view = case_view(board, "c8", T0)
    assert view is not None
    assert [(e["previous_rag"], e["rag"], e["cause"], e["by"]) for e in view["rating_history"]] == [
        (None, "GREEN", "TRIAGE", "mash-hub intake"), ("GREEN", "RED", "MANAGER", "MASH team manager")]


def test_an_erased_case_leaves_the_board() -> None:
    from mash_common.contracts import Rag
    from mash_hub.services.board.logic import Board

    board = Board()
    now = datetime.now(UTC)
    board._card("C-ERASED", Rag.RED, now, now)
    assert board.forget("C-ERASED") is True
    assert "C-ERASED" not in board.cases
    assert board.forget("C-ERASED") is False


def test_a_rectified_case_shows_the_corrected_subject_only() -> None:
    board = Board()
    first = request("c9", "police")
    assert board.apply(first)
    assert board.apply(assembled("c9", 1, []))
    fixed_ids = first.model_copy(update={"subject": SubjectIdentifiers(given_name="Zoe")})
    assert board.apply(fixed_ids)  # the same request re-sent with corrected identifiers
    later = assembled("c9", 2, [])
    later = later.model_copy(update={"subject": later.subject.model_copy(update={"given_name": "Zoe"})})
    assert board.apply(later)
    view = json.dumps(case_view(board, "c9", T0 + timedelta(hours=2)), default=str)
    assert "Zoe" in view and "Zed" not in view
