"""End to end with the real intake worker: a referral intake rejects -> dead letter -> the hub
fixes its configuration -> replay (twice) -> the referral is triaged exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.access import Kind
from mash_common.contracts import AuditAction, AuditEvent, TriagedReferral
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_ops.deadletter import DeadLetterTool
from mash_ops.errors import AlreadyReplayedError
from mash_ops.reading import read_topics
from tests.support.factories import referral
from tests.support.kafka import TopicReader, produce_records
from tests.support.processes import FAUST_READY, ServiceProcess

pytestmark = pytest.mark.integration



def intake(secured: SecuredHub, workdir: Path, max_age_years: int, name: str) -> ServiceProcess:
    env = {
        **secured.env(Kind.SERVICE, "intake"),
        "MASH_INTAKE_DATADIR": str(workdir / "data"),
        "MASH_INTAKE_METRICS_PORT": "0",
        "MASH_INTAKE_MAX_AGE_YEARS": str(max_age_years),
        "MASH_INTAKE_USE_WORKING_HOURS": "false",
    }
    return ServiceProcess(name, ["-m", "mash_hub.services.intake", "worker", "-l", "info"], env, workdir)


def test_rejected_referral_replayed_after_fix_is_triaged_once(
    provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path
) -> None:
    settings = provisioned
    serde = AvroSerde()
    # The "bug": the hub's intake was configured with an age limit of one year, so a referral
    # about an older child is rejected; the fix restores the limit, and operations replay it.
    ref = referral("REF-OPS-E2E")  # from school-portal, about a child older than one
    source_topic = settings.topics.referrals(ref.source_system)

    reader = TopicReader(settings, [settings.topics.deadletter, settings.topics.triaged])
    worker = intake(secured_hub, tmp_path, 1, "intake-broken").start()
    try:
        worker.wait_for_log(FAUST_READY, timeout_s=90)
        produce_records(secured_hub.source(ref.source_system), source_topic,
                        [(ref.referral_id, ref)])
        got = reader.poll_until(
            lambda rs: any(r.topic == settings.topics.deadletter for r in rs), timeout_s=60)
        (dl,) = [r for r in got if r.topic == settings.topics.deadletter]
    finally:
        worker.stop()

    worker = intake(secured_hub, tmp_path, 25, "intake-fixed").start()
    try:
        worker.wait_for_log(FAUST_READY, timeout_s=90)
        tool = DeadLetterTool(secured_hub.ops_replay)  # the replay role, nothing more
        tool.replay(dl.partition, dl.offset, operator="jo.ops")
        with pytest.raises(AlreadyReplayedError):
            tool.replay(dl.partition, dl.offset, operator="jo.ops")
        got = reader.poll_until(
            lambda rs: any(r.topic == settings.topics.triaged for r in rs), timeout_s=30)
        got = reader.drain(quiet_s=3.0)
    except BaseException:
        print(worker.tail(80))
        raise
    finally:
        worker.stop()
        reader.close()
    triaged = [serde.decode(r.value or b"", TriagedReferral)
               for r in got if r.topic == settings.topics.triaged]
    assert [t.referral.referral_id for t in triaged] == [ref.referral_id]
    assert len([r for r in got if r.topic == settings.topics.deadletter]) == 1
    replays = [e for e in (serde.decode(r.value or b"", AuditEvent)
                           for r in read_topics(settings, [settings.topics.audit]))
               if e.action is AuditAction.DEADLETTER_REPLAYED]
    assert len(replays) == 1
