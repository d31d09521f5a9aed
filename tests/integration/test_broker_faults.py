"""The broker fault test's short plan (bench/brokers.py QUICK) on a three-broker cluster of
its own: while referrals flow through the whole pipeline, the broker leading the most
referral and response partitions is SIGKILLed and restarted, then another is SIGSTOPped for
30 s. Nothing acknowledged may be lost, and no case may be assembled twice.

About four minutes on a 2-core machine; `mash-bench brokers` runs the longer plan.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.settings import KafkaSettings
from mash_hub.bench import brokers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def test_no_acknowledged_referral_is_lost_when_brokers_fail(
        kafka_admin: KafkaSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # kafka_admin: the session broker has fetched the jars the cluster links to.
    home = tmp_path / "cluster"
    with brokers.cluster(home, brokers.free_base_port(), print) as admin:
        report = brokers.run(admin, home, tmp_path / "run", brokers.QUICK, print)
    events = [e["event"] for e in report["events"]]
    assert events.index("SIGKILL") < events.index("restarted") < events.index("SIGSTOP") \
        < events.index("SIGCONT")
    assert report["faults"]["sigkill_node"] != report["faults"]["sigstop_node"]
    assert report["topics"]["replication_factors"] == [3]
    assert report["topics"]["internal_replication_factors"] == [3]
    figures = report["figures"]
    print(figures)
    assert figures["acknowledged"] > 0.9 * figures["sent"] > 0
    assert figures["told"] == figures["assembled"] == figures["acknowledged"]
    assert report["drained"], "some acknowledged referrals were never told"
    assert figures["lost"] == 0
    assert figures["assembled_twice"] == 0
    assert all(report["services_alive_at_end"].values()), report["services_alive_at_end"]
