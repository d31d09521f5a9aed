"""The board's projection: pure functions from pipeline records to what the board shows.

Knows nothing of Kafka or HTTP. `Board.apply(record)` folds one decoded record in;
`wall_view`, `staff_view`, `case_view` and `pending_requests` read it at a given time (the
clock is passed in). Deduplication is by the records' own ids and versions, so a replay
or a redelivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mash_common.contracts import (
    AssembledCase,
    Contract,
    Decision,
    InformationRequest,
    InformationResponse,
    Rag,
    Referral,
    Subject,
    TriagedReferral,
)


class AgencyState(StrEnum):
    WAITING = "WAITING"
    CHASED = "CHASED"
    OVERDUE = "OVERDUE"
    ANSWERED = "ANSWERED"
    LATE = "LATE"  # answered after its respond_by or after the case was assembled


class Stage(StrEnum):
    GATHERING = "GATHERING"
    COMPLETE = "COMPLETE"  # assembled, decision pending
    PARTIAL = "PARTIAL"  # assembled at the deadline without every answer, decision pending
    DECIDED = "DECIDED"


@dataclass
class Ask:
    request: InformationRequest
    chases: int = 0
    answer: InformationResponse | None = None


@dataclass
class Card:
    case_id: str
    rag: Rag
    opened_at: datetime
    due_at: datetime
    referrals: dict[str, Referral] = field(default_factory=dict)
    subject: Subject | None = None
    asks: dict[str, Ask] = field(default_factory=dict)
    assembled: AssembledCase | None = None
    first_assembled_at: datetime | None = None
    decision: Decision | None = None

    @property
    def stage(self) -> Stage:
        if self.decision is not None:
            return Stage.DECIDED
        if self.assembled is None:
            return Stage.GATHERING
        return Stage(self.assembled.completeness.value)


class Board:
    """Every case the topics have told of, by case id."""

    def __init__(self) -> None:
        self.cases: dict[str, Card] = {}

    def _card(self, case_id: str, rag: Rag, opened_at: datetime, due_at: datetime) -> Card:
        card = self.cases.get(case_id)
        if card is None:
            card = self.cases[case_id] = Card(case_id, rag, opened_at, due_at)
        return card

    def forget(self, case_id: str) -> bool:
        """The case was erased (a tombstone under its id): it leaves the board."""
        return self.cases.pop(case_id, None) is not None

    def apply(self, record: Contract) -> bool:
        """Fold one record in; whether the board changed."""
        if isinstance(record, TriagedReferral):
            card = self._card(record.case_id, record.rag, record.opened_at, record.due_at)
            before = card.referrals.get(record.referral.referral_id)
            # The same referral with another subject: a rectification (mash_ops.erasure).
            rectified = before is not None and before.subject != record.referral.subject
            changed = before is None or rectified or card.rag is not record.rag
            card.referrals[record.referral.referral_id] = record.referral
            card.rag, card.due_at = record.rag, record.due_at
            if card.subject is None or (rectified and before is not None
                                        and card.subject == before.subject):
                card.subject = record.referral.subject
            return changed
        if isinstance(record, InformationRequest):
            if record.superseded:
                return False  # the adapter's notice; the revision it names says it all
            card = self._card(record.case_id, record.rag, record.requested_at, record.respond_by)
            ask = card.asks.get(record.agency)
            if ask is None or ask.request.request_id != record.request_id:
                card.asks[record.agency] = Ask(record, chases=record.chase_number)
                return True
            if record.revision > ask.request.revision:
                # Re-rated in flight: the case's rating and deadline moved with it.
                ask.request = record
                ask.chases = max(ask.chases, record.chase_number)
                if card.assembled is None:
                    card.rag, card.due_at = record.rag, record.respond_by
                return True
            if record.revision == ask.request.revision and record.subject != ask.request.subject:
                ask.request = record  # re-sent with the subject's identifiers rectified
                return True
            if record.chase_number > ask.chases:
                ask.chases = record.chase_number
                return True
            return False
        if isinstance(record, InformationResponse):
            found = self.cases.get(record.case_id)
            ask = found.asks.get(record.agency) if found else None
            if ask is None or ask.request.request_id != record.request_id:
                return False  # enrichment dead-letters it; the board shows what counts
            if ask.answer is None or (record.corrects and record.corrects == ask.answer.response_id):
                ask.answer = record
                return True
            return False
        if isinstance(record, AssembledCase):
            card = self._card(record.case_id, record.rag, record.opened_at, record.due_at)
            if card.assembled is not None and card.assembled.version >= record.version:
                return False
            card.assembled = record
            card.rag = record.rag  # a manager may re-rate an assembled case
            card.first_assembled_at = card.first_assembled_at or record.assembled_at
            card.subject = record.subject  # the latest version's: rectified if it was
            return True
        if isinstance(record, Decision):
            decided = self.cases.get(record.case_id)
            if decided is None or (decided.decision is not None
                                   and decided.decision.revision >= record.revision):
                return False
            decided.decision = record
            return True
        return False


def agency_state(card: Card, ask: Ask, now: datetime) -> AgencyState:
    answer = ask.answer
    if answer is not None:
        late = answer.responded_at > ask.request.respond_by or (
            card.first_assembled_at is not None and answer.responded_at > card.first_assembled_at)
        return AgencyState.LATE if late else AgencyState.ANSWERED
    if now > ask.request.respond_by:
        return AgencyState.OVERDUE
    return AgencyState.CHASED if ask.chases > 0 else AgencyState.WAITING


def _order(card: Card) -> tuple[int, int, datetime]:
    return (card.stage is Stage.DECIDED, card.rag.rank, card.due_at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _card_view(card: Card, now: datetime, personal: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "case_id": card.case_id,
        "rag": card.rag.value,
        "due_at": _iso(card.due_at),
        "seconds_left": round((card.due_at - now).total_seconds()),
        "stage": card.stage.value,
        "version": card.assembled.version if card.assembled else 0,
        "amended": bool(card.assembled and card.assembled.version > 1),
        "missing": list(card.assembled.missing_agencies) if card.assembled else [],
        "decision": card.decision.outcome.value if card.decision else None,
        "agencies": [{"agency": agency, "state": agency_state(card, ask, now).value,
                      "chases": ask.chases}
                     for agency, ask in sorted(card.asks.items())],
    }
    if personal:
        subject = card.subject
        view["subject"] = f"{subject.given_name} {subject.family_name}" if subject else None
        view["referrals"] = len(card.referrals) or len(card.assembled.referral_ids if card.assembled else [])
    return view


def wall_view(board: Board, now: datetime, decided_shown: int = 5) -> dict[str, Any]:
    """For a wall screen in a shared room: no names, dates of birth or narratives, only the
    case's reference, RAG, time left and who has answered."""
    return _board_view(board, now, decided_shown, personal=False)


def staff_view(board: Board, now: datetime, decided_shown: int = 10) -> dict[str, Any]:
    return _board_view(board, now, decided_shown, personal=True)


def _board_view(board: Board, now: datetime, decided_shown: int, personal: bool) -> dict[str, Any]:
    cards = sorted(board.cases.values(), key=_order)
    open_cards = [c for c in cards if c.stage is not Stage.DECIDED]
    decided = sorted((c for c in cards if c.stage is Stage.DECIDED),
                     key=lambda c: c.decision.decided_at if c.decision else now, reverse=True)
    counts = {rag.value: sum(1 for c in open_cards if c.rag is rag) for rag in Rag}
    return {
        "now": now.isoformat(),
        "counts": counts,
        "decision_pending": sum(1 for c in open_cards if c.stage is not Stage.GATHERING),
        "open": [_card_view(c, now, personal) for c in open_cards],
        "decided": [_card_view(c, now, personal) for c in decided[:decided_shown]],
    }


def case_view(board: Board, case_id: str, now: datetime) -> dict[str, Any] | None:
    """One case for the meeting: everything collated, agency by agency, with what is
    missing and what came late (hub staff only)."""
    card = board.cases.get(case_id)
    if card is None:
        return None
    view = _card_view(card, now, personal=True)
    subject = card.subject
    view["subject_detail"] = subject.model_dump(mode="json", exclude_none=True) if subject else {}
    view["referral_detail"] = [
        {"referral_id": r.referral_id, "source_system": r.source_system,
         "received_at": _iso(r.received_at), "concerns": [c.value for c in r.concerns],
         "indicators": [i.value for i in r.indicators], "narrative": r.narrative,
         "referrer": f"{r.referrer.name}, {r.referrer.role}, {r.referrer.organisation}"}
        for r in card.referrals.values()]
    contributions = {c.agency: c for c in card.assembled.contributions} if card.assembled else {}
    agencies = []
    for agency, ask in sorted(card.asks.items()):
        answer = ask.answer
        contribution = contributions.get(agency)
        records = answer.records if answer else (contribution.records if contribution else [])
        agencies.append({
            "agency": agency,
            "state": agency_state(card, ask, now).value,
            "asked_for": list(ask.request.data_categories),
            "respond_by": _iso(ask.request.respond_by),
            "chases": ask.chases,
            "status": answer.status.value if answer else None,
            "reason": answer.reason if answer else None,
            "responded_at": _iso(answer.responded_at) if answer else None,
            "responder": f"{answer.responder.name}, {answer.responder.role}" if answer else None,
            "in_assembled_case": contribution is not None,
            "records": [r.model_dump(mode="json") for r in records],
        })
    view["agency_detail"] = agencies
    view["fired_rules"] = ([r.description for r in card.assembled.fired_rules] if card.assembled else [])
    # What the rating was, when it changed, why and by whom (AssembledCase.rating_history).
    view["rating_history"] = [
        {"at": _iso(e.at), "rag": e.rag.value,
         "previous_rag": e.previous_rag.value if e.previous_rag else None,
         "cause": e.cause.value, "rules": list(e.rule_ids), "why": e.rationale,
         "by": e.decided_by}
        for e in (card.assembled.rating_history if card.assembled else [])]
    if card.decision:
        d = card.decision
        view["decision_detail"] = {"outcome": d.outcome.value, "rationale": d.rationale,
                                   "decided_by": d.decided_by, "decided_at": _iso(d.decided_at),
                                   "lead_agency": d.lead_agency, "revision": d.revision}
    return view


def pending_requests(board: Board, agency: str, now: datetime,
                     answered_here: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The agency's unanswered requests, Red first, then by time left."""
    found = []
    for card in board.cases.values():
        ask = card.asks.get(agency)
        if ask is None or ask.answer is not None or ask.request.request_id in answered_here:
            continue
        r = ask.request
        found.append({"request_id": r.request_id, "case_id": r.case_id, "rag": r.rag.value,
                      "respond_by": r.respond_by.isoformat(),
                      "seconds_left": round((r.respond_by - now).total_seconds()),
                      "categories": list(r.data_categories), "chases": ask.chases})
    # UTC ISO timestamps sort as the times they name.
    found.sort(key=lambda f: (Rag(str(f["rag"])).rank, str(f["respond_by"])))
    return found


def find_request(board: Board, agency: str, request_id: str) -> InformationRequest | None:
    for card in board.cases.values():
        ask = card.asks.get(agency)
        if ask is not None and ask.request.request_id == request_id:
            return ask.request
    return None
