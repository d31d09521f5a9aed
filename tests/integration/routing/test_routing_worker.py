"""The routing worker as a real process on a real broker: from an assembled case and its
decisions to exactly the notifications each recipient should get, and nothing else."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mash_common.access import Kind
from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    AuditEvent,
    Completeness,
    Contribution,
    DeadLetter,
    Decision,
    DecisionOutcome,
    NotificationKind,
    OutcomeNotification,
    Rag,
    Referrer,
    ReferrerType,
    Responder,
    ResponseStatus,
    Subject,
)
from mash_common.hubconfig import HubConfig
from mash_common.ids import stable_id
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.support.factories import referral
from tests.support.kafka import Received, TopicReader, produce_records
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CASE = "CASE-IT-1"
GATHERED, DECISION = NotificationKind.INFORMATION_GATHERED, NotificationKind.DECISION
serde = AvroSerde()


def routing_process(secured: SecuredHub, tmp_path: Path, name: str) -> ServiceProcess:
    return ServiceProcess(
        name,
        ["-m", "mash_hub.services.routing", "worker"],
        env={
            **secured.env(Kind.SERVICE, "routing"),
            "MASH_ROUTING_METRICS_PORT": "0",
            # Its own data dir: a restarted worker's state can only come from the changelog.
            "MASH_ROUTING_DATADIR": str(tmp_path / f"{name}-data"),
            # A decision for a case never assembled is held this long, then dead-lettered.
            "MASH_ROUTING_UNKNOWN_CASE_GRACE_S": "3",
            "MASH_ROUTING_PARK_SWEEP_INTERVAL_S": "0.2",
        },
        log_dir=tmp_path,
    )


@pytest.fixture
def routing_worker(secured_hub: SecuredHub, tmp_path: Path) -> Iterator[ServiceProcess]:
    with routing_process(secured_hub, tmp_path, "routing").running(timeout_s=60) as worker:
        yield worker


def contribution(agency: str, status: ResponseStatus) -> Contribution:
    return Contribution(
        agency=agency, request_id=f"REQ-{agency}", status=status,
        responded_at=T0 + timedelta(hours=1), responder=Responder(name="R", role="Analyst"),
    )


def assembled(version: int, answers: dict[str, ResponseStatus]) -> AssembledCase:
    refs = [
        referral("REF-S", source_system="school-portal", received_at=T0),
        referral("REF-P", source_system="public-portal", received_at=T0 + timedelta(minutes=7),
                 referrer=Referrer(name="A Neighbour", role="Neighbour", organisation="-",
                                   agency_type=ReferrerType.MEMBER_OF_PUBLIC)),
    ]
    return AssembledCase(
        case_id=CASE, version=version, referral_ids=[r.referral_id for r in refs],
        referrals=refs, subject=Subject(given_name="Sam", family_name="Example"),
        rag=Rag.AMBER, opened_at=T0, due_at=T0 + timedelta(hours=24),
        assembled_at=T0 + timedelta(hours=2), completeness=Completeness.PARTIAL,
        asked_agencies=sorted(answers), missing_agencies=[],
        contributions=[contribution(a, s) for a, s in answers.items()],
    )


def decision(revision: int, outcome: DecisionOutcome, case_id: str = CASE) -> Decision:
    return Decision(
        case_id=case_id, decided_at=T0 + timedelta(hours=6), outcome=outcome,
        rationale="Confidential rationale.", decided_by="MASH manager",
        lead_agency="social-care", lead_contact="Duty desk 01234 567890", revision=revision,
    )


def outcomes(got: list[Received], prefix: str) -> list[tuple[str, OutcomeNotification]]:
    return [(m.topic.removeprefix(f"{prefix}mash.outcomes."),
             serde.decode(m.value, OutcomeNotification))
            for m in got if ".mash.outcomes." in f".{m.topic}" and m.value is not None]


def test_case_and_decisions_to_exact_notifications_dead_letter_revision_and_redelivery(
    provisioned: KafkaSettings, secured_hub: SecuredHub, hub_config: HubConfig, routing_worker: ServiceProcess
) -> None:
    names = provisioned.topics
    prefix = provisioned.topic_prefix
    watched = [names.outcomes(r) for r in hub_config.outcome_recipients]
    watched += [names.deadletter, names.audit]
    answers = {"police": ResponseStatus.FOUND, "health": ResponseStatus.NOT_KNOWN,
               "probation": ResponseStatus.ERROR}
    v1 = assembled(1, answers)
    r1 = decision(1, DecisionOutcome.CHILD_IN_NEED_ASSESSMENT)
    r2 = decision(2, DecisionOutcome.STRATEGY_DISCUSSION)
    r3 = decision(3, DecisionOutcome.EARLY_HELP)
    unknown = decision(1, DecisionOutcome.EARLY_HELP, case_id="CASE-NEVER-ASSEMBLED")

    def count(got: list[Received], kind: NotificationKind, revision: int = 1) -> int:
        return sum(1 for _, n in outcomes(got, prefix) if n.kind is kind and n.revision == revision)

    with TopicReader(provisioned, watched) as reader:
        # Assembly: the school's system hears the case is with the decision makers; the
        # public portal is told only received and, later, acted on (the recipient policy).
        produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, v1)])
        reader.poll_until(lambda got: count(got, GATHERED) >= 1, timeout_s=30)

        # A decision: referrers and the agencies that answered; an unknown case dead-letters.
        produce_records(secured_hub.hub_system(), names.decisions, [(CASE, r1), (unknown.case_id, unknown)])
        reader.poll_until(lambda got: count(got, DECISION, 1) >= 4
                          and any(m.topic == names.deadletter for m in got), timeout_s=30)

        # A revised decision goes to the same recipients.
        produce_records(secured_hub.hub_system(), names.decisions, [(CASE, r2)])
        reader.poll_until(lambda got: count(got, DECISION, 2) >= 4, timeout_s=30)

        # Redelivery of everything: nothing new. Revision 3 and then amendment v2 (probation
        # answers late) follow on the same partitions, so once they are routed the
        # redelivered messages before them have been too.
        produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, v1)])
        produce_records(secured_hub.hub_system(), names.decisions, [(CASE, r1), (CASE, r2), (CASE, r3)])
        reader.poll_until(lambda got: count(got, DECISION, 3) >= 4, timeout_s=30)
        v2 = assembled(2, {**answers, "probation": ResponseStatus.FOUND})
        produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, v2)])
        reader.poll_until(lambda got: count(got, DECISION, 3) >= 5, timeout_s=30)
        got = reader.drain(quiet_s=3.0)

    notes = outcomes(got, prefix)
    # Every notification is on its recipient's own topic, keyed by the case where the
    # recipient may know the case id, else by its own referral (the public's view).
    assert all(topic == n.recipient for topic, n in notes)
    keyed = [m for m in got if m.topic in watched[:-2]]
    public_topic = names.outcomes("public-portal")
    assert all(m.key == (b"REF-P" if m.topic == public_topic else CASE.encode()) for m in keyed)
    assert all(n.case_id is None for topic, n in notes if topic == "public-portal")

    def nid(recipient: str, kind: NotificationKind, version: int) -> str:
        return stable_id("notification", CASE, recipient, kind.value, version)

    everyone = ["school-portal", "public-portal", "police", "health"]
    expected = (
        [nid("school-portal", GATHERED, 1)]
        + [nid(r, DECISION, rev) for rev in (1, 2, 3) for r in everyone]
        + [nid("probation", DECISION, 3)]
    )
    sent = [n.notification_id for _, n in notes]
    dupes = [i for i, c in Counter(sent).items() if c > 1]
    assert not dupes, f"redelivery re-sent {len(dupes)} notifications"
    assert sorted(sent) == sorted(expected)

    by_key = {(n.recipient, n.kind, n.revision): n for _, n in notes}
    school, public = by_key["school-portal", DECISION, 1], by_key["public-portal", DECISION, 1]
    assert (school.decision_outcome, school.lead_agency, school.lead_contact, school.referral_id) \
        == (DecisionOutcome.CHILD_IN_NEED_ASSESSMENT, "social-care", "Duty desk 01234 567890",
            "REF-S")
    assert (public.decision_outcome, public.lead_agency, public.lead_contact, public.referral_id) \
        == (None, None, None, "REF-P")
    health = by_key["health", DECISION, 2]
    assert (health.decision_outcome, health.lead_agency, health.lead_contact) \
        == (DecisionOutcome.STRATEGY_DISCUSSION, "social-care", None)
    assert all("Confidential" not in n.message for _, n in notes)

    (dead,) = [serde.decode(m.value, DeadLetter) for m in got
               if m.topic == names.deadletter and m.value is not None]
    assert (dead.reason_code, dead.stage, dead.topic) == ("UNKNOWN_CASE", "routing", names.decisions)
    assert dead.value == serde.encode(unknown) and dead.key == b"CASE-NEVER-ASSEMBLED"

    audit = [serde.decode(m.value, AuditEvent) for m in got
             if m.topic == names.audit and m.value is not None]
    told = sorted(e.reference or "" for e in audit if e.action is AuditAction.NOTIFICATION_SENT)
    assert told == sorted(expected)
    decided = sorted(e.reference or "" for e in audit if e.action is AuditAction.DECISION_RECEIVED)
    assert decided == ["revision 1", "revision 2", "revision 3"]


def test_state_survives_a_restart_so_redelivery_after_it_sends_nothing_new(
    provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path
) -> None:
    names, prefix = provisioned.topics, provisioned.topic_prefix
    v1 = assembled(1, {"police": ResponseStatus.FOUND})
    r1 = decision(1, DecisionOutcome.EARLY_HELP)
    r2 = decision(2, DecisionOutcome.NO_FURTHER_ACTION)
    watched = [names.outcomes(r) for r in ("school-portal", "public-portal", "police")]

    def count(got: list[Received], kind: NotificationKind, revision: int = 1) -> int:
        return sum(1 for _, n in outcomes(got, prefix) if n.kind is kind and n.revision == revision)

    with TopicReader(provisioned, watched) as reader:
        with routing_process(secured_hub, tmp_path, "routing-a").running(timeout_s=60):
            produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, v1)])
            produce_records(secured_hub.hub_system(), names.decisions, [(CASE, r1)])
            reader.poll_until(lambda got: count(got, GATHERED) >= 1 and count(got, DECISION) >= 3,
                              timeout_s=30)
        # A new worker with an empty data dir: it knows the case only from the changelog.
        with routing_process(secured_hub, tmp_path, "routing-b").running(timeout_s=60):
            produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, v1)])
            produce_records(secured_hub.hub_system(), names.decisions, [(CASE, r1), (CASE, r2)])
            reader.poll_until(lambda got: count(got, DECISION, 2) >= 3, timeout_s=30)
            got = reader.drain(quiet_s=2.0)
    sent = [n.notification_id for _, n in outcomes(got, prefix)]
    # One INFORMATION_GATHERED (not the public's), revision 1 and 2 to three; none twice.
    assert len(sent) == len(set(sent)) == 1 + 3 + 3


def test_decision_that_overtakes_its_case_is_held_and_applied(
    provisioned: KafkaSettings, secured_hub: SecuredHub, routing_worker: ServiceProcess
) -> None:
    """The hub's decision is on mash.decisions before the case reaches routing: nobody may
    miss the outcome for that, and nothing is dead-lettered."""
    names = provisioned.topics
    case = assembled(1, {"police": ResponseStatus.FOUND})
    first = decision(1, DecisionOutcome.EARLY_HELP)
    produce_records(secured_hub.hub_system(), names.decisions, [(CASE, first)])
    routing_worker.wait_for_log(r"no assembled case yet; decision held", timeout_s=30)
    produce_records(secured_hub.service("enrichment"), names.assembled, [(CASE, case)])
    topics = [names.outcomes(r) for r in ("school-portal", "public-portal", "police")]

    def decisions_told(ms: list[Received]) -> int:
        return sum(1 for m in ms if m.topic in topics and m.value
                   and serde.decode(m.value, OutcomeNotification).kind is DECISION)

    with TopicReader(provisioned, [*topics, names.deadletter]) as reader:
        reader.poll_until(lambda ms: decisions_told(ms) >= 3, timeout_s=60)
        got = reader.drain(quiet_s=4.0)  # longer than the grace: no late dead letter either
    told = {(r, n.kind) for r, n in outcomes(got, provisioned.topic_prefix)}
    assert {("school-portal", DECISION), ("public-portal", DECISION), ("police", DECISION)} <= told
    assert not [m for m in got if m.topic == names.deadletter]
