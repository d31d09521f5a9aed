"""Enrichment end to end on a real broker: the test plays intake and the agencies.

One worker serves the module; each test has its own case ids, so the tests do not interfere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mash_common.contracts import (
    AgencyRecord,
    AssembledCase,
    AuditAction,
    AuditEvent,
    Completeness,
    ConsentStatus,
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    utcnow,
)
from mash_common.hubconfig import HubConfig
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.integration.enrichment.conftest import SERDE, Hub
from tests.support.kafka import Received, TopicReader
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

GREEN_AGENCIES = {"police", "health", "education", "social-care"}
AMBER_AGENCIES = GREEN_AGENCIES | {"probation", "housing"}


def new_case() -> str:
    return f"CASE-{uuid.uuid4().hex[:8]}"


def requests_for(received: list[Received], case_id: str) -> list[InformationRequest]:
    return [SERDE.decode(m.value, InformationRequest) for m in received
            if m.value is not None and m.key == case_id.encode() and ".mash.requests." in m.topic]


def cases_for(received: list[Received], hub: Hub, case_id: str) -> list[AssembledCase]:
    return [SERDE.decode(m.value, AssembledCase) for m in received
            if m.value is not None and m.key == case_id.encode() and m.topic == hub.names.assembled]


def audits_for(received: list[Received], hub: Hub, case_id: str) -> list[AuditEvent]:
    return [SERDE.decode(m.value, AuditEvent) for m in received
            if m.value is not None and m.key == case_id.encode() and m.topic == hub.names.audit]


@pytest.fixture
def hub(module_hub: SecuredHub) -> Hub:
    return Hub(module_hub)


@pytest.fixture
def reader(module_settings: KafkaSettings, hub: Hub, hub_config: HubConfig) -> Iterator[TopicReader]:
    names = module_settings.topics
    topics = [*hub.request_topics(hub_config), names.assembled, names.audit, names.deadletter]
    with TopicReader(module_settings, topics) as r:
        yield r


def test_complete_when_every_agency_answered_and_a_duplicate_changes_nothing(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=60)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 4, timeout_s=30)
    reqs = requests_for(got, case_id)
    assert {r.agency for r in reqs} == GREEN_AGENCIES
    assert all(r.rag is Rag.GREEN and not r.is_chase for r in reqs)
    assert {m.topic.split("mash.requests.")[1] for m in got if m.key == case_id.encode()
            and ".mash.requests." in m.topic} == {f"{a}.green" for a in GREEN_AGENCIES}
    police = next(r for r in reqs if r.agency == "police")
    hub.answer(police)
    hub.answer(police)  # a duplicate: changes nothing
    for req in reqs:
        if req.agency != "police":
            hub.answer(req)
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    hub.answer(police)  # a duplicate after assembly: still nothing
    got = reader.drain(quiet_s=2.0)
    [case] = cases_for(got, hub, case_id)
    assert case.version == 1 and case.completeness is Completeness.COMPLETE
    assert case.missing_agencies == [] and len(case.contributions) == 4
    assert [r.referral_id for r in case.referrals] == [f"REF-{case_id}"]
    actions = [a.action for a in audits_for(got, hub, case_id)]
    assert actions.count(AuditAction.REQUEST_SENT) == 4 and actions.count(AuditAction.DISCLOSURE) == 4
    assert actions.count(AuditAction.CASE_ASSEMBLED) == 1
    assert actions.count(AuditAction.REQUEST_WITHHELD) == 2  # probation, housing: not at GREEN


def test_partial_at_the_deadline_after_chases_then_a_late_response_amends(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    triaged = hub.refer(case_id, Rag.AMBER, due_in_s=4)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 6, timeout_s=30)
    reqs = {r.agency: r for r in requests_for(got, case_id)}
    assert set(reqs) == AMBER_AGENCIES
    hub.answer(reqs["police"])
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    [case] = cases_for(got, hub, case_id)
    assert case.version == 1 and case.completeness is Completeness.PARTIAL
    assert sorted(case.missing_agencies) == sorted(AMBER_AGENCIES - {"police"})
    assert case.assembled_at >= case.due_at == triaged.due_at
    chases = [r for r in requests_for(got, case_id) if r.is_chase]
    assert {(c.agency, c.chase_number) for c in chases} == {
        (a, n) for a in AMBER_AGENCIES - {"police"} for n in (1, 2)}
    assert all(c.request_id == reqs[c.agency].request_id for c in chases)
    hub.answer(reqs["housing"])
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 2, timeout_s=30)
    amended = cases_for(got, hub, case_id)[1]
    assert amended.version == 2 and amended.completeness is Completeness.PARTIAL
    assert "housing" not in amended.missing_agencies
    [late] = [c for c in amended.contributions if c.agency == "housing"]
    assert late.late
    actions = [a.action for a in audits_for(reader.drain(1.0), hub, case_id)]
    assert actions.count(AuditAction.REQUEST_CHASED) == 10 and AuditAction.CASE_AMENDED in actions


def test_consent_refused_means_health_is_never_asked(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.RED, due_in_s=3, consent=ConsentStatus.REFUSED)
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    got = reader.drain(quiet_s=1.0)
    assert {r.agency for r in requests_for(got, case_id)} == AMBER_AGENCIES - {"health"}
    [case] = cases_for(got, hub, case_id)
    assert "health" not in case.asked_agencies and "health" not in case.missing_agencies
    withheld = [a for a in audits_for(got, hub, case_id) if a.action is AuditAction.REQUEST_WITHHELD]
    assert [(w.agency, (w.detail or "").split(":")[0]) for w in withheld] == [("health", "CONSENT_REQUIRED")]


def test_unknown_requests_and_undecodable_input_are_dead_lettered(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=60)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 4, timeout_s=30)
    police = next(r for r in requests_for(got, case_id) if r.agency == "police")
    hub.answer(police.model_copy(update={"request_id": "no-such-request"}))
    hub.send(hub.names.responses("police"), case_id, b"not avro at all")
    hub.send(hub.names.triaged, case_id, b"\xc3\x01garbage")

    def dead(r: list[Received]) -> list[DeadLetter]:
        return [SERDE.decode(m.value, DeadLetter) for m in r
                if m.topic == hub.names.deadletter and m.key == case_id.encode() and m.value]

    got = reader.poll_until(lambda r: len(dead(r)) >= 3, timeout_s=30)
    letters = dead(got)
    assert sorted(d.reason_code for d in letters) == sorted(["UNKNOWN_REQUEST", "BAD_MARKER", "CORRUPT_BODY"])
    assert {d.stage for d in letters} == {"enrichment"}
    assert any(d.value == b"not avro at all" and d.topic == hub.names.responses("police") for d in letters)


def dead_letters(received: list[Received], hub: Hub, case_id: str) -> list[DeadLetter]:
    return [SERDE.decode(m.value, DeadLetter) for m in received
            if m.topic == hub.names.deadletter and m.key == case_id.encode() and m.value]


def test_a_response_on_the_polices_topic_claiming_to_be_health_never_reaches_the_case(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=6)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 4, timeout_s=30)
    reqs = {r.agency: r for r in requests_for(got, case_id) if not r.is_chase}
    # The police adapter answers health's request in health's name, on its own topic (the
    # only response topic its ACLs let it write).
    forged = InformationResponse(
        request_id=reqs["health"].request_id, case_id=case_id, agency="health",
        responded_at=utcnow(), status=ResponseStatus.NOT_KNOWN,
        responder=Responder(name="Synthetic Officer", role="Safeguarding lead"))
    hub.send(hub.names.responses("police"), case_id, forged, as_agency="police")
    for agency in ("police", "education", "social-care"):
        hub.answer(reqs[agency])
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    [case] = cases_for(got, hub, case_id)
    assert case.completeness is Completeness.PARTIAL and case.missing_agencies == ["health"]
    assert "health" not in {c.agency for c in case.contributions}
    [letter] = dead_letters(got, hub, case_id)
    assert letter.reason_code == "SENDER_MISMATCH" and letter.topic == hub.names.responses("police")
    security = [a for a in audits_for(reader.drain(1.0), hub, case_id)
                if a.action is AuditAction.SENDER_MISMATCH]
    assert [a.agency for a in security] == ["police"]


def test_a_different_second_answer_is_dead_lettered_and_the_first_stands(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=60)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 4, timeout_s=30)
    reqs = {r.agency: r for r in requests_for(got, case_id) if not r.is_chase}
    hub.answer(reqs["police"], ResponseStatus.FOUND)
    hub.answer(reqs["police"], ResponseStatus.NOT_KNOWN)
    got = reader.poll_until(lambda r: len(dead_letters(r, hub, case_id)) >= 1, timeout_s=30)
    assert [d.reason_code for d in dead_letters(got, hub, case_id)] == ["RESPONSE_CONFLICT"]
    for agency in ("health", "education", "social-care"):
        hub.answer(reqs[agency])
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    [case] = cases_for(got, hub, case_id)
    assert [c.status for c in case.contributions if c.agency == "police"] == [ResponseStatus.FOUND]
    actions = [a.action for a in audits_for(reader.drain(1.0), hub, case_id)]
    assert actions.count(AuditAction.RESPONSE_CONFLICT) == 1


def test_an_answer_that_would_grow_the_case_past_the_broker_limit_is_set_aside(
    running_worker: ServiceProcess, hub: Hub, reader: TopicReader
) -> None:
    """Three agencies each send 100 records of 4,000 characters (within the contract's limits):
    the case's state would pass 1 MB, so the answer that would take it there is dead-lettered
    TOO_LARGE and the case goes on (PARTIAL at its deadline) instead of crash-looping."""
    case_id = new_case()
    hub.refer(case_id, Rag.GREEN, due_in_s=8)
    got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 4, timeout_s=30)
    reqs = {r.agency: r for r in requests_for(got, case_id) if not r.is_chase}
    for agency in ("police", "health", "education"):
        request = reqs[agency]
        big = InformationResponse(
            request_id=request.request_id, case_id=case_id, agency=agency, responded_at=utcnow(),
            status=ResponseStatus.FOUND, responder=Responder(name="Synthetic Officer", role="Lead"),
            records=[AgencyRecord(category=request.data_categories[0], summary="s" * 4000,
                                  reference=f"{agency}-{i}") for i in range(100)])
        hub.send(hub.names.responses(agency), case_id, big)
    got = reader.poll_until(lambda r: len(dead_letters(r, hub, case_id)) >= 1, timeout_s=30)
    [letter] = dead_letters(got, hub, case_id)
    assert letter.reason_code == "TOO_LARGE" and "over 1000000" in letter.error
    got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
    [case] = cases_for(got, hub, case_id)
    assert case.completeness is Completeness.PARTIAL
    assert len(case.missing_agencies) == 2  # the set-aside answer's agency and social care
    # The worker is alive and well: an ordinary case after it is assembled.
    other = new_case()
    hub.refer(other, Rag.GREEN, due_in_s=60)
    got = reader.poll_until(lambda r: len(requests_for(r, other)) >= 4, timeout_s=30)
    for request in requests_for(got, other):
        hub.answer(request)
    got = reader.poll_until(lambda r: len(cases_for(r, hub, other)) >= 1, timeout_s=30)
    assert cases_for(got, hub, other)[0].completeness is Completeness.COMPLETE
