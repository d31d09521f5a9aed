"""Dead-letter tooling on a real broker: list, inspect with personal data hidden (and the
audited disclosure), and replay that happens once however often it is asked for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mash_common.access import Kind
from mash_common.contracts import AuditAction, AuditEvent, DeadLetter
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_ops import deadletter
from mash_ops.deadletter import DeadLetterTool
from mash_ops.errors import AlreadyReplayedError, OpsError
from mash_ops.reading import read_topics
from tests.support.factories import referral
from tests.support.kafka import produce, produce_records

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def audit_events(settings: KafkaSettings, serde: AvroSerde) -> list[AuditEvent]:
    return [serde.decode(r.value or b"", AuditEvent)
            for r in read_topics(settings, [settings.topics.audit])]


def test_inspect_hides_personal_data_and_replay_happens_once(
        provisioned: KafkaSettings, secured_hub: SecuredHub) -> None:
    settings = provisioned
    serde = AvroSerde()
    target = settings.topics.referrals("public-portal")
    original = serde.encode(referral("REF-9"))
    letter = DeadLetter(topic=target, partition=1, offset=7, key=b"REF-9", value=original,
                        stage="intake", error="referral.narrative: string_too_short", at=AT,
                        reason_code="CONTRACT_VIOLATION")
    produce_records(settings, settings.topics.deadletter, [("REF-9", letter)])
    # A dead letter whose original was not Avro at all (someone posted JSON).
    garbage = DeadLetter(topic=target, partition=0, offset=3, key=None,
                         value=b'{"name": "Sam Example"}', stage="intake", error="no marker",
                         at=AT, reason_code="BAD_MARKER")
    produce_records(settings, settings.topics.deadletter, [(None, garbage)])
    produce(settings, settings.topics.deadletter, [(None, b"not even a dead letter")])

    # Operations' replay role: it may read dead letters and write them back, nothing more.
    tool = DeadLetterTool(secured_hub.ops_replay, now=lambda: AT)
    entries = tool.entries()
    assert len(entries) == 3
    by_reason = {e.letter.reason_code if e.letter else None: e for e in entries}
    assert set(by_reason) == {"CONTRACT_VIOLATION", "BAD_MARKER", None}
    assert [e.letter.reason_code for e in tool.entries("BAD_MARKER") if e.letter] == ["BAD_MARKER"]
    entry = by_reason["CONTRACT_VIOLATION"]
    pos = (entry.partition, entry.offset)

    shown = json.dumps(tool.inspect(*pos))
    for secret in ("Sam", "\"Example\"", "9434765919", "EX1 1AA", "2016-04-01", "Synthetic narrative",
                   "Ada Teacher"):
        assert secret not in shown
    inspected = tool.inspect(*pos)
    assert inspected["value"]["record"] == "Referral"
    assert inspected["value"]["body"]["referral_id"] == "REF-9"
    assert inspected["original"] == {"topic": target, "partition": 1, "offset": 7, "key": "REF-9"}
    bad = by_reason["BAD_MARKER"]
    assert "Sam" not in json.dumps(tool.inspect(bad.partition, bad.offset))
    assert audit_events(settings, serde) == []  # looking without personal data is not audited

    with pytest.raises(OpsError):
        tool.inspect(*pos, show_personal_data=True)
    disclosed = tool.inspect(*pos, show_personal_data=True, operator="jo.ops")
    assert disclosed["value"]["body"]["subject"]["given_name"] == "Sam"
    (disclosure,) = audit_events(settings, serde)
    assert (disclosure.action, disclosure.actor) == (AuditAction.DISCLOSURE, "operator:jo.ops")
    assert disclosure.reference == f"{settings.topics.deadletter}:{pos[0]}:{pos[1]}"

    # Replay twice: the second is refused (the CLI exits 3), one copy arrives, one audit event.
    event = tool.replay(*pos, operator="jo.ops")
    with pytest.raises(AlreadyReplayedError):
        tool.replay(*pos, operator="jo.ops")
    code = deadletter.main(["--client-config", str(secured_hub.client_config(Kind.OPS, "replay")),
                            "--prefix", settings.topic_prefix, "replay", f"{pos[0]}:{pos[1]}",
                            "--operator", "jo.ops"])
    assert code == 3
    copies = list(read_topics(settings, [target]))
    assert [(c.partition, c.key, c.value) for c in copies] == [(1, b"REF-9", original)]
    assert copies[0].headers == [(deadletter.REPLAY_HEADER, disclosure.reference.encode())]
    replayed = [e for e in audit_events(settings, serde)
                if e.action is AuditAction.DEADLETTER_REPLAYED]
    assert replayed == [event]
    assert event.actor == "operator:jo.ops"
    assert event.reference == disclosure.reference
    assert [e.replays for e in tool.entries("CONTRACT_VIOLATION")] == [1]

    # --force replays again, and that is recorded too.
    tool.replay(*pos, operator="jo.ops", force=True)
    assert len(list(read_topics(settings, [target]))) == 2
    assert len([e for e in audit_events(settings, serde)
                if e.action is AuditAction.DEADLETTER_REPLAYED]) == 2
