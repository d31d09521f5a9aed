"""Red first inside the pipeline (#19), on a real broker: with Green referrals queued while
intake was down, a Red referral sent after all of them reaches the agencies' Red request
topics before most of the Green backlog has even been triaged."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from mash_common.contracts import Rag
from mash_common.settings import KafkaSettings
from mash_hub.bench.redfirst import children, prepare
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.processes import FAUST_READY
from mash_hub.services.intake.logic import case_reference
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.integration

BACKLOG = 400


def triaged_so_far(kafka: KafkaSettings, topic: str) -> int:
    admin = AdminClient(kafka.confluent_config())
    parts = admin.list_topics(topic, timeout=20).topics[topic].partitions
    offsets = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts},
                                 request_timeout=20)
    return sum(f.result().offset for f in offsets.values())


def test_a_red_referral_overtakes_a_queued_green_backlog(
        provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path) -> None:
    names = provisioned.topics
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=600, due_amber_s=900, due_green_s=1200,
        metrics_ports={"intake": 0, "enrichment": 0, "routing": 0}))
    people = children(BACKLOG + 1)
    greens = prepare("rf-green", BACKLOG, people[:BACKLOG], red=False)
    [red] = prepare("rf-red", 1, people[BACKLOG:], red=True)
    producers = {s: Producer(secured_hub.source(s).producer_config())
                 for s in secured_hub.hub.source_systems}
    red_topics = [names.requests(a, Rag.RED) for a in sorted(secured_hub.hub.agencies)]
    try:
        pipeline.start(lambda _: None)
        intake = pipeline.workers["intake"]
        intake.stop()  # an outage: the backlog queues on the source systems' topics
        for item in [*greens, red]:
            producers[item.source_system].produce(names.referrals(item.source_system),
                                                  key=item.key, value=item.value)
        assert all(p.flush(30) == 0 for p in producers.values())
        with TopicReader(provisioned, red_topics) as reader:
            intake.start()
            intake.wait_for_log(FAUST_READY, timeout_s=180)
            key = case_reference(red.referral_id).encode()
            got = reader.poll_until(
                lambda r: {m.topic for m in r if m.key == key} == set(red_topics), timeout_s=120)
            green_triaged = triaged_so_far(secured_hub.admin, names.triaged)
            print(f"Green referrals triaged before the Red case was asked: {green_triaged}")
        # Every agency was asked about the Red case at Red, while most of the Green backlog
        # queued ahead of it had not even been triaged.
        assert {m.topic for m in got if m.key == key} == set(red_topics)
        assert green_triaged < BACKLOG // 2, f"{green_triaged} of {BACKLOG} Green triaged first"
        assert triaged_so_far(secured_hub.admin, names.triaged_red) == 1
    finally:
        pipeline.stop()
