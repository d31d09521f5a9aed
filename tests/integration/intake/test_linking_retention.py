"""Retention of intake's linking state on the real broker: a case past its link window
leaves the block (changelog tombstone) and its purge is audited, MACed, before it goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.access import Kind, service_app_id
from mash_common.audittrail import AuditKeys, AuditKeySettings, new_key_file
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_common.serde import AvroSerde
from mash_hub.demo.access import SecuredHub
from mash_hub.services.intake.linking import block_key
from mash_ops.reading import read_topics
from tests.support.factories import referral
from tests.support.kafka import Received, TopicReader, produce
from tests.support.processes import FAUST_READY, ServiceProcess

pytestmark = pytest.mark.integration

SERDE = AvroSerde()


def test_a_case_past_its_link_window_is_removed_and_the_removal_audited(
        secured_hub: SecuredHub, tmp_path: Path) -> None:
    kafka = secured_hub.admin
    new_key_file(tmp_path / "keys.json", "k1")
    keys = AuditKeys.load(AuditKeySettings(keys_file=tmp_path / "keys.json"))
    assert keys is not None
    env = {
        **secured_hub.env(Kind.SERVICE, "intake"),
        "MASH_INTAKE_DATADIR": str(tmp_path / "data"),
        "MASH_INTAKE_METRICS_PORT": "0",
        "MASH_INTAKE_USE_WORKING_HOURS": "false",
        "MASH_INTAKE_LINK_WINDOW_S": "3",
        "MASH_INTAKE_PRUNE_INTERVAL_S": "0.5",
        "MASH_AUDIT_KEYS_FILE": str(tmp_path / "keys.json"),
    }
    sent = referral("REF-RETAIN-1", received_at=utcnow())
    block = block_key(sent.subject, sent.referral_id).encode()
    changelog = f"{service_app_id(kafka.topic_prefix, 'intake')}-cases-changelog"
    worker = ServiceProcess("intake", ["-m", "mash_hub.services.intake", "worker", "-l", "info"], env,
                            tmp_path)
    with worker.running(FAUST_READY, timeout_s=120), TopicReader(kafka, [kafka.topics.audit]) as audit:
        produce(secured_hub.source("school-portal"), kafka.topics.referrals("school-portal"),
                [(sent.referral_id, SERDE.encode(sent))])

        def events(got: list[Received]) -> list[AuditEvent]:
            return [SERDE.decode(m.value, AuditEvent) for m in got if m.value is not None]

        got = audit.poll_until(lambda r: any(e.action is AuditAction.RETENTION_PURGED
                                             for e in events(r)), timeout_s=90)
        received = next(e for e in events(got) if e.action is AuditAction.REFERRAL_RECEIVED)
        purged = next(e for e in events(got) if e.action is AuditAction.RETENTION_PURGED)
        assert purged.case_id == received.case_id
        assert keys.check(purged) is None, "the purge's record is MACed like every audit event"
        latest: dict[bytes, bytes | None] = {}
        for record in read_topics(kafka, [changelog]):
            if record.key is not None:
                latest[record.key] = record.value
        assert block in latest, "the block was written when the referral was triaged"
        assert latest[block] is None, "after the link window the block is a tombstone"
