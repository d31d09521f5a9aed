"""Re-rating in flight (#19) on a real broker: a real enrichment worker, the test playing
intake, the agencies and the hub's case system, each as its own principal.

- an answer that satisfies the threshold policy's response rule raises the case;
- a manager raises a case, and lowers one, with a rationale;
- a manager's change without a rationale is dead-lettered, audited and refused to its sender.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from mash_common.contracts import (
    AgencyRecord,
    AssembledCase,
    AuditAction,
    AuditEvent,
    DeadLetter,
    InformationRequest,
    InformationResponse,
    NotificationKind,
    OutcomeNotification,
    Rag,
    RatingCause,
    RatingChange,
    Responder,
    ResponseStatus,
    utcnow,
)
from mash_common.hubconfig import HubConfig
from mash_hub.demo.access import SecuredHub
from tests.integration.enrichment.conftest import SERDE, Hub, enrichment_worker
from tests.support.kafka import Received, TopicReader
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

SYSTEM = "case-management"
GREEN_AGENCIES = {"police", "health", "education", "social-care"}
AMBER_AGENCIES = GREEN_AGENCIES | {"probation", "housing"}
DUE_S = {Rag.RED: 20.0, Rag.AMBER: 40.0, Rag.GREEN: 90.0}


@pytest.fixture(scope="module")
def worker(module_hub: SecuredHub, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServiceProcess]:
    env = {f"MASH_ENRICHMENT_DUE_{rag.value}_S": str(s) for rag, s in DUE_S.items()}
    with enrichment_worker(module_hub, tmp_path_factory.mktemp("rerating"), **env).running() as w:
        yield w


@pytest.fixture
def hub(module_hub: SecuredHub) -> Hub:
    return Hub(module_hub)


@pytest.fixture
def reader(module_hub: SecuredHub, hub: Hub, hub_config: HubConfig) -> Iterator[TopicReader]:
    names = hub.names
    topics = [*hub.request_topics(hub_config), names.assembled, names.audit, names.deadletter,
              names.outcomes(SYSTEM)]
    with TopicReader(module_hub.admin, topics) as r:
        yield r


@pytest.fixture(scope="module")
def manager(module_hub: SecuredHub) -> Iterator[Producer]:
    """The hub's case system, as its own principal (it may write only its ratings topic)."""
    producer = Producer(module_hub.hub_system(SYSTEM).producer_config())
    yield producer
    producer.flush(10)


def publish(producer: Producer, hub: Hub, change: RatingChange) -> None:
    producer.produce(hub.names.ratings(SYSTEM), key=change.case_id.encode(), value=SERDE.encode(change))
    assert producer.flush(30) == 0


def rating_change(case_id: str, rag: Rag, rationale: str) -> RatingChange:
    return RatingChange(change_id=f"CHG-{uuid.uuid4().hex[:8]}", case_id=case_id, hub_system=SYSTEM,
                        rag=rag, rationale=rationale, decided_by="MASH team manager",
                        decided_at=utcnow())


def new_case() -> str:
    return f"CASE-{uuid.uuid4().hex[:8]}"


def of(received: list[Received], case_id: str, topic_part: str, model: type) -> list:
    return [SERDE.decode(m.value, model) for m in received
            if m.value is not None and m.key == case_id.encode() and topic_part in m.topic]


def requests(received: list[Received], case_id: str) -> list[tuple[str, InformationRequest]]:
    """(the topic's RAG, the request) for the case."""
    return [(m.topic.rsplit(".", 1)[1], SERDE.decode(m.value, InformationRequest)) for m in received
            if m.value is not None and m.key == case_id.encode() and ".mash.requests." in m.topic]


def revisions(received: list[Received], case_id: str, rag: Rag) -> dict[str, InformationRequest]:
    return {r.agency: r for topic, r in requests(received, case_id)
            if topic == rag.value.lower() and r.revision > 0 and not r.superseded}


def notices(received: list[Received], case_id: str) -> dict[str, tuple[str, InformationRequest]]:
    return {r.agency: (topic, r) for topic, r in requests(received, case_id) if r.superseded}


def first_requests(hub: Hub, reader: TopicReader, case_id: str, n: int
                   ) -> tuple[list[Received], dict[str, InformationRequest]]:
    got = reader.poll_until(lambda r: len(requests(r, case_id)) >= n, timeout_s=60)
    return got, {r.agency: r for _, r in requests(got, case_id) if r.revision == 0}


def test_a_police_answer_raises_the_case_by_the_policy_rule(
        worker: ServiceProcess, hub: Hub, reader: TopicReader) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=DUE_S[Rag.GREEN])
    _, asked = first_requests(hub, reader, case_id, 4)
    assert set(asked) == GREEN_AGENCIES
    police = asked["police"]
    answered_at = utcnow()
    hub.send(hub.names.responses("police"), case_id, InformationResponse(
        request_id=police.request_id, case_id=case_id, agency="police", responded_at=answered_at,
        status=ResponseStatus.FOUND,
        records=[AgencyRecord(category="domestic-abuse-incidents", summary="Synthetic call-out",
                              date=answered_at.date(), reference="PND-1")],
        responder=Responder(name="Synthetic Officer", role="MASH researcher")))
    # The others move up to Amber's topics; Amber adds probation and housing.
    others = GREEN_AGENCIES - {"police"}
    got = reader.poll_until(lambda r: set(revisions(r, case_id, Rag.AMBER)) == others
                            and set(notices(r, case_id)) == others
                            and {"probation", "housing"} <= {q.agency for t, q in requests(r, case_id)
                                                             if t == "amber"},
                            timeout_s=30)
    moved = revisions(got, case_id, Rag.AMBER)
    told = notices(got, case_id)
    for agency, req in moved.items():
        assert req.request_id == asked[agency].request_id and req.supersedes_rag is Rag.GREEN
        assert req.respond_by < asked[agency].respond_by  # tighter: Amber's timescale from now
        topic, notice = told[agency]
        assert topic == "green" and notice.superseded_by_rag is Rag.AMBER
        assert notice.revision == req.revision
    assert "police" not in moved and "police" not in told  # answered: left alone
    # The case records which rule fired, and its rating's history.
    for req in [*moved.values(), *[r for t, r in requests(got, case_id) if r.agency in ("probation", "housing")]]:
        hub.answer(req, ResponseStatus.NOT_KNOWN)
    got = reader.poll_until(lambda r: len(of(r, case_id, hub.names.assembled, AssembledCase)) >= 1,
                            timeout_s=30)
    [case] = of(got, case_id, hub.names.assembled, AssembledCase)
    assert case.rag is Rag.AMBER and set(case.asked_agencies) == AMBER_AGENCIES
    assert "police-recent-domestic-abuse" in [f.rule_id for f in case.fired_rules]
    assert [(e.cause, e.previous_rag, e.rag) for e in case.rating_history] == [
        (RatingCause.TRIAGE, None, Rag.GREEN), (RatingCause.RESPONSE_RULE, Rag.GREEN, Rag.AMBER)]
    assert case.rating_history[1].rule_ids == ["police-recent-domestic-abuse"]
    actions = [a.action for a in of(reader.drain(1.0), case_id, hub.names.audit, AuditEvent)]
    assert AuditAction.RATING_CHANGED in actions and AuditAction.REQUEST_SUPERSEDED in actions


def test_a_manager_raises_a_case_with_a_rationale(
        worker: ServiceProcess, hub: Hub, reader: TopicReader, manager: Producer) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=DUE_S[Rag.GREEN])
    _, asked = first_requests(hub, reader, case_id, 4)
    change = rating_change(case_id, Rag.RED, "Read the referral again: the baby is non-mobile.")
    publish(manager, hub, change)
    got = reader.poll_until(lambda r: set(revisions(r, case_id, Rag.RED)) >= GREEN_AGENCIES
                            and set(notices(r, case_id)) >= GREEN_AGENCIES, timeout_s=30)
    moved = revisions(got, case_id, Rag.RED)
    for agency in GREEN_AGENCIES:
        assert moved[agency].request_id == asked[agency].request_id
        assert (moved[agency].respond_by - utcnow()).total_seconds() <= DUE_S[Rag.RED]
        assert notices(got, case_id)[agency][0] == "green"
    for req in {r.agency: r for t, r in requests(got, case_id) if t == "red" and not r.superseded}.values():
        hub.answer(req, ResponseStatus.NOT_KNOWN)
    got = reader.poll_until(lambda r: len(of(r, case_id, hub.names.assembled, AssembledCase)) >= 1,
                            timeout_s=30)
    [case] = of(got, case_id, hub.names.assembled, AssembledCase)
    last = case.rating_history[-1]
    assert case.rag is Rag.RED and last.cause is RatingCause.MANAGER
    assert (last.previous_rag, last.rationale, last.decided_by, last.reference) == (
        Rag.GREEN, change.rationale, "MASH team manager", change.change_id)
    audits = of(reader.drain(1.0), case_id, hub.names.audit, AuditEvent)
    [changed] = [a for a in audits if a.action is AuditAction.RATING_CHANGED]
    assert changed.reference == change.change_id and "GREEN->RED" in (changed.detail or "")
    # Who decided, and a digest binding the rationale the case records (not its text).
    digest = hashlib.sha256(change.rationale.encode()).hexdigest()[:16]
    assert changed.actor == "MASH team manager" and digest in (changed.detail or "")
    assert change.rationale not in (changed.detail or "")


def test_a_manager_lowers_a_case_loosening_only_what_is_unanswered(
        worker: ServiceProcess, hub: Hub, reader: TopicReader, manager: Producer) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.RED, due_in_s=DUE_S[Rag.RED])
    _, asked = first_requests(hub, reader, case_id, 6)
    hub.answer(asked["police"])
    reader.poll_until(lambda r: any(a.action is AuditAction.DISCLOSURE
                                    for a in of(r, case_id, hub.names.audit, AuditEvent)), timeout_s=30)
    publish(manager, hub, rating_change(case_id, Rag.AMBER, "Strategy discussion: no immediate risk."))
    unanswered = AMBER_AGENCIES - {"police"}
    got = reader.poll_until(lambda r: set(revisions(r, case_id, Rag.AMBER)) == unanswered
                            and set(notices(r, case_id)) == unanswered, timeout_s=30)
    moved = revisions(got, case_id, Rag.AMBER)
    for agency, req in moved.items():
        assert req.respond_by > asked[agency].respond_by  # loosened
        assert notices(got, case_id)[agency][0] == "red"  # the agency still asked is told
    assert "police" not in notices(got, case_id)


def test_a_change_without_a_rationale_is_refused_and_nothing_moves(
        worker: ServiceProcess, hub: Hub, reader: TopicReader, manager: Producer) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.AMBER, due_in_s=DUE_S[Rag.AMBER])
    first_requests(hub, reader, case_id, 6)
    change = rating_change(case_id, Rag.GREEN, "  ")
    publish(manager, hub, change)
    got = reader.poll_until(
        lambda r: any(m.topic == hub.names.outcomes(SYSTEM) and m.key == case_id.encode() for m in r)
        and any(m.topic == hub.names.deadletter for m in r), timeout_s=30)
    [note] = of(got, case_id, hub.names.outcomes(SYSTEM), OutcomeNotification)
    assert note.kind is NotificationKind.REJECTED and note.recipient == SYSTEM
    assert note.reasons and note.reasons[0].startswith("RATIONALE_MISSING")
    letters = [SERDE.decode(m.value, DeadLetter) for m in got
               if m.topic == hub.names.deadletter and m.value is not None]
    [letter] = [d for d in letters if d.topic == hub.names.ratings(SYSTEM) and d.key == case_id.encode()]
    assert letter.reason_code == "RATIONALE_MISSING" and letter.stage == "enrichment"
    assert SERDE.decode(letter.value or b"", RatingChange) == change  # the original bytes
    got = reader.drain(quiet_s=2.0)
    assert not [r for _, r in requests(got, case_id) if r.revision > 0]  # nothing re-sent
    actions = [a.action for a in of(got, case_id, hub.names.audit, AuditEvent)]
    assert AuditAction.RATING_CHANGE_REFUSED in actions and AuditAction.RATING_CHANGED not in actions
