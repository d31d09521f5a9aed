"""Intake as a real worker process on a real broker: each kind of referral yields exactly the
records the contract says, and nothing else; a restart keeps dedupe state.

One worker serves the whole module (a Faust worker takes ~10 s to start); each scenario uses
its own referral ids and child, reads every output topic, and drains to prove nothing else came.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mash_common import deadletters
from mash_common.access import Kind
from mash_common.contracts import (
    AuditEvent,
    Concern,
    Consent,
    ConsentStatus,
    Contract,
    DeadLetter,
    Indicator,
    LinkMatch,
    OutcomeNotification,
    Rag,
    Referral,
    Subject,
    TriagedReferral,
    utcnow,
)
from mash_common.hubconfig import HubConfig
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.support.factories import referral
from tests.support.kafka import Received, TopicReader, produce
from tests.support.processes import FAUST_READY, ServiceProcess
from tests.unit.intake.support import nhs_number

pytestmark = pytest.mark.integration

SERDE = AvroSerde()
DUE = {Rag.RED: 4, Rag.AMBER: 8, Rag.GREEN: 16}  # seconds


@dataclass
class Hub:
    kafka: KafkaSettings
    secured: SecuredHub
    worker: ServiceProcess
    reader: TopicReader
    run: str

    def send(self, key: str, value: bytes, source: str = "school-portal") -> None:
        """Write to the source system's own topic, as that source system."""
        produce(self.secured.source(source), self.kafka.topics.referrals(source), [(key, value)])

    def outputs(self, count: int) -> list[tuple[str, Contract]]:
        """Exactly the records that arrive after this call's start: `count`, then silence."""
        mark = len(self.reader.received)
        self.reader.read_count(mark + count, timeout_s=60)
        self.reader.drain(quiet_s=2.5)
        return [self._decode(m) for m in self.reader.received[mark:]]

    def _decode(self, m: Received) -> tuple[str, Contract]:
        assert m.value is not None
        kind = m.topic.removeprefix(self.kafka.topic_prefix).removeprefix("mash.")
        return kind, SERDE.decode_any(m.value)


def summary(records: list[tuple[str, Contract]]) -> Counter[str]:
    def label(kind: str, record: Contract) -> str:
        if isinstance(record, AuditEvent):
            return f"audit:{record.action.value}"
        if isinstance(record, OutcomeNotification):
            return f"{kind}:{record.kind.value}"
        return kind
    return Counter(label(k, r) for k, r in records)


def only(records: list[tuple[str, Contract]], model: type[Any]) -> Any:
    found = [r for _, r in records if isinstance(r, model)]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def hub(module_hub: SecuredHub, hub_config: HubConfig, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Hub]:
    kafka = module_hub.admin
    workdir: Path = tmp_path_factory.mktemp("intake")
    env = {
        **module_hub.env(Kind.SERVICE, "intake"),
        "MASH_INTAKE_DATADIR": str(workdir / "data"),
        "MASH_INTAKE_METRICS_PORT": "0",
        "MASH_INTAKE_DUE_RED_S": str(DUE[Rag.RED]),
        "MASH_INTAKE_DUE_AMBER_S": str(DUE[Rag.AMBER]),
        "MASH_INTAKE_DUE_GREEN_S": str(DUE[Rag.GREEN]),
        "MASH_INTAKE_USE_WORKING_HOURS": "false",
    }
    worker = ServiceProcess("intake", ["-m", "mash_hub.services.intake", "worker", "-l", "info"], env, workdir)
    topics = [*kafka.topics.triaged_lanes, kafka.topics.deadletter, kafka.topics.audit,
              *(kafka.topics.outcomes(r) for r in hub_config.outcome_recipients)]
    reader = TopicReader(kafka, topics)
    worker.start()
    try:
        worker.wait_for_log(FAUST_READY, timeout_s=90)
        yield Hub(kafka, module_hub, worker, reader, uuid.uuid4().hex[:6])
    except BaseException:
        print(worker.tail(120))
        raise
    finally:
        worker.stop()
        reader.close()
        log = worker.log_text()
        # Personal data never reaches the log (the factory's child and NHS numbers used here).
        for personal in ("Example", "9434765919", "EX1 1AA", "Synthetic narrative"):
            assert personal not in log
        # Nor does the service's own password.
        password = module_hub.service("intake").sasl_password
        assert password is not None and password.get_secret_value() not in log


def read_back(kafka: KafkaSettings, dead: DeadLetter) -> list[Received]:
    """The original record a dead letter points at."""
    with TopicReader(kafka, [dead.topic]) as reader:
        got = reader.poll_until(lambda r: any(m.offset == dead.offset and m.partition == dead.partition for m in r))
    return [m for m in got if m.offset == dead.offset and m.partition == dead.partition]


def child(stem: int, **overrides: Any) -> Subject:
    fields: dict[str, Any] = dict(given_name="Sam", family_name="Example",
                                  date_of_birth=date(2015, 6, 1) + timedelta(days=stem % 1000),
                                  nhs_number=nhs_number(stem), postcode="EX1 1AA")
    return Subject(**{**fields, **overrides})


def encode(r: Referral) -> bytes:
    return SERDE.encode(r)


@dataclass
class Sent:
    referral: Referral
    value: bytes
    triaged: TriagedReferral


@pytest.fixture(scope="module")
def first(hub: Hub) -> Sent:
    """A valid referral about a child with no open case: the case the later scenarios use."""
    r = referral(f"{hub.run}-VALID", received_at=utcnow(), subject=child(100000001))
    value = encode(r)
    hub.send(r.referral_id, value)
    out = hub.outputs(5)
    assert summary(out) == Counter({
        "referrals.triaged": 1, "outcomes.school-portal:RECEIVED": 1,
        "audit:REFERRAL_RECEIVED": 1, "audit:REFERRAL_RATED": 1, "audit:NOTIFICATION_SENT": 1,
    })
    return Sent(r, value, only(out, TriagedReferral))


def test_valid_referral_is_triaged_and_acknowledged(hub: Hub, first: Sent) -> None:
    t = first.triaged
    assert t.referral == first.referral and t.case_id.startswith("MASH-")
    assert t.rag is Rag.GREEN and t.linked_case is None and t.fired_rules == []
    assert t.due_at - t.triaged_at == timedelta(seconds=DUE[Rag.GREEN])
    assert t.cin_factor_codes == ["16A"]


def test_garbage_bytes_are_dead_lettered_and_the_partition_flows(hub: Hub) -> None:
    key, garbage = f"{hub.run}-GARBAGE", b"\x00\x01not avro at all"
    hub.send(key, garbage)
    out = hub.outputs(2)
    assert summary(out) == Counter({"deadletter": 1, "audit:REFERRAL_REJECTED": 1})
    dead: DeadLetter = only(out, DeadLetter)
    assert (dead.value, dead.key, dead.reason_code, dead.stage) == (garbage, key.encode(), "BAD_MARKER", "intake")
    assert dead.topic == hub.kafka.topics.referrals("school-portal") and dead.offset >= 0
    # Kafka Connect's error headers, and the original record's timestamp.
    [letter] = [m for m in hub.reader.received if m.topic == hub.kafka.topics.deadletter
                and m.key == key.encode()]
    [original] = read_back(hub.kafka, dead)
    assert deadletters.as_text(letter.headers) == {
        deadletters.TOPIC: dead.topic, deadletters.PARTITION: str(dead.partition),
        deadletters.OFFSET: str(dead.offset),
        deadletters.EXCEPTION_CLASS: "mash_common.errors.BadMarkerError",
        deadletters.EXCEPTION_MESSAGE: dead.error, deadletters.STAGE: "intake",
    }
    assert letter.timestamp_ms == original.timestamp_ms


def test_rule_breaking_referral_is_rejected_with_every_problem(hub: Hub) -> None:
    bad_nhs = "9434765918"
    r = referral(f"{hub.run}-BAD", received_at=utcnow(), concerns=[], narrative=" ",
                 subject=child(100000002, nhs_number=bad_nhs), cin_referral_source="ZZ",
                 consent=Consent(status=ConsentStatus.GIVEN, override_reason="Ann Manager said so"))
    value = encode(r)
    hub.send(r.referral_id, value)
    out = hub.outputs(4)
    assert summary(out) == Counter({
        "deadletter": 1, "outcomes.school-portal:REJECTED": 1,
        "audit:REFERRAL_REJECTED": 1, "audit:NOTIFICATION_SENT": 1,
    })
    dead: DeadLetter = only(out, DeadLetter)
    assert dead.value == value and dead.reason_code == "VALIDATION"
    note: OutcomeNotification = only(out, OutcomeNotification)
    assert note.referral_id == r.referral_id and note.recipient == "school-portal"
    assert [reason.split(":")[0] for reason in note.reasons] == [
        "NO_CONCERNS", "NARRATIVE_EMPTY", "NHS_NUMBER_INVALID", "CONSENT_INCONSISTENT",
        "CIN_SOURCE_INVALID"]
    said = " ".join([note.message, *note.reasons, dead.error])
    for personal in (bad_nhs, "Ann Manager", "Example", "ZZ"):
        assert personal not in said


def test_duplicate_is_audited_and_nothing_else(hub: Hub, first: Sent) -> None:
    hub.send(first.referral.referral_id, first.value)
    out = hub.outputs(1)
    assert summary(out) == Counter({"audit:REFERRAL_DUPLICATE": 1})
    assert only(out, AuditEvent).case_id == first.triaged.case_id


def test_same_id_with_different_content_is_a_conflict(hub: Hub, first: Sent) -> None:
    changed = first.referral.model_copy(update={"narrative": "A different account."})
    value = encode(changed)
    hub.send(changed.referral_id, value)
    out = hub.outputs(4)
    assert summary(out) == Counter({
        "deadletter": 1, "outcomes.school-portal:REJECTED": 1,
        "audit:REFERRAL_REJECTED": 1, "audit:NOTIFICATION_SENT": 1,
    })
    dead: DeadLetter = only(out, DeadLetter)
    assert dead.reason_code == "CONFLICT" and dead.value == value
    assert [x.split(":")[0] for x in only(out, OutcomeNotification).reasons] == ["CONFLICT"]


@pytest.mark.parametrize(("suffix", "nhs", "match"), [
    ("LINK-NHS", "same", LinkMatch.NHS_NUMBER),
    ("LINK-NDP", None, LinkMatch.NAME_DOB_POSTCODE),
])
def test_referral_about_a_child_with_an_open_case_joins_it(
    hub: Hub, first: Sent, suffix: str, nhs: str | None, match: LinkMatch
) -> None:
    subject = first.referral.subject.model_copy(
        update={"nhs_number": first.referral.subject.nhs_number if nhs else None,
                "given_name": "SAM", "postcode": "ex11aa"})
    r = referral(f"{hub.run}-{suffix}", received_at=utcnow(), subject=subject,
                 source_system="police-niche", cin_referral_source="6",
                 concerns=[Concern.PHYSICAL_ABUSE], indicators=[Indicator.CHILD_DISCLOSURE])
    hub.send(r.referral_id, encode(r), source="police-niche")
    out = hub.outputs(6)
    # Rated Red: on Red's own lane to enrichment (#19).
    assert summary(out) == Counter({
        "referrals.triaged.red": 1, "outcomes.police-niche:RECEIVED": 1, "audit:REFERRAL_RECEIVED": 1,
        "audit:REFERRAL_LINKED": 1, "audit:REFERRAL_RATED": 1, "audit:NOTIFICATION_SENT": 1,
    })
    t: TriagedReferral = only(out, TriagedReferral)
    assert t.case_id == first.triaged.case_id and t.opened_at == first.triaged.opened_at
    assert t.linked_case is not None and t.linked_case.match is match
    assert t.linked_case.opened_by == first.referral.referral_id
    assert t.rag is Rag.RED and t.due_at <= first.triaged.due_at
    assert {f.rule_id for f in t.fired_rules} >= {"red-disclosed-abuse", "amber-already-open"}
    note: OutcomeNotification = only(out, OutcomeNotification)
    assert note.case_id == t.case_id and t.case_id in note.message and "RED" in note.message


def test_restart_between_two_sends_still_yields_one_case(hub: Hub) -> None:
    r = referral(f"{hub.run}-RESTART", received_at=utcnow(), subject=child(100000003))
    value = encode(r)
    hub.send(r.referral_id, value)
    before = hub.outputs(5)
    assert summary(before)["referrals.triaged"] == 1
    assert summary(before)["outcomes.school-portal:RECEIVED"] == 1
    hub.worker.stop()
    hub.worker.start()
    hub.worker.wait_for_log(FAUST_READY, timeout_s=90)
    hub.send(r.referral_id, value)
    after = hub.outputs(1)
    assert summary(after) == Counter({"audit:REFERRAL_DUPLICATE": 1})


def test_a_referral_in_another_source_systems_name_is_never_processed(hub: Hub) -> None:
    """The police system writes, on its own topic, a referral claiming the school portal."""
    r = referral(f"{hub.run}-FORGED", received_at=utcnow(), subject=child(100000004),
                 source_system="school-portal")
    value = encode(r)
    hub.send(r.referral_id, value, source="police-niche")
    out = hub.outputs(4)
    assert summary(out) == Counter({
        "deadletter": 1, "outcomes.police-niche:REJECTED": 1,
        "audit:SENDER_MISMATCH": 1, "audit:NOTIFICATION_SENT": 1,
    })
    dead: DeadLetter = only(out, DeadLetter)
    assert dead.reason_code == "SENDER_MISMATCH" and dead.value == value
    assert dead.topic == hub.kafka.topics.referrals("police-niche")
    security: AuditEvent = next(e for _, e in out if isinstance(e, AuditEvent)
                                and e.action.value == "SENDER_MISMATCH")
    assert security.agency == "police-niche" and security.reference == r.referral_id
    # The school portal, whose name was used, hears nothing; the real sender is told why.
    note: OutcomeNotification = only(out, OutcomeNotification)
    assert note.recipient == "police-niche"
    assert [x.split(":")[0] for x in note.reasons] == ["SENDER_MISMATCH"]


def test_a_hostile_referral_is_dead_lettered_and_the_next_one_flows(hub: Hub) -> None:
    """Valid Avro the broker accepts, but a 200 KB narrative of control characters: it is
    rejected with the field and the limit named, and an ordinary referral after it on the
    same topic is triaged."""
    import io

    from fastavro import schemaless_writer

    from mash_common.schemas import default_store

    hostile = referral(f"{hub.run}-HOSTILE", received_at=utcnow(), subject=child(100000005))
    body = hostile.model_dump(mode="python")
    body["narrative"] = "\x1b[2J" * 50_000
    version = default_store().current(Referral.avro_name)
    out = io.BytesIO()
    schemaless_writer(out, version.parsed, body)
    value = b"\xc3\x01" + version.fingerprint + out.getvalue()
    assert len(value) > 200_000
    hub.send(hostile.referral_id, value)
    out_hostile = hub.outputs(4)
    assert summary(out_hostile) == Counter({
        "deadletter": 1, "outcomes.school-portal:REJECTED": 1,
        "audit:REFERRAL_REJECTED": 1, "audit:NOTIFICATION_SENT": 1,
    })
    dead: DeadLetter = only(out_hostile, DeadLetter)
    assert dead.reason_code == "CONTRACT_VIOLATION"
    assert "narrative: longer than 20000 characters" in dead.error
    ordinary = referral(f"{hub.run}-AFTER-HOSTILE", received_at=utcnow(), subject=child(100000006))
    hub.send(ordinary.referral_id, encode(ordinary))
    assert summary(hub.outputs(5))["referrals.triaged"] == 1
