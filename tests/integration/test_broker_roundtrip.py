"""Real encoded records through a real broker, and idempotent topic provisioning."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from mash_common.contracts import Referral
from mash_common.hubconfig import HubConfig
from mash_common.provision import planned_topics, provision
from mash_common.serde import MARKER, AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.support.factories import referral
from tests.support.kafka import TopicReader, produce_records

pytestmark = pytest.mark.integration


def test_encoded_referrals_round_trip_through_the_broker(provisioned: KafkaSettings,
                                                         secured_hub: SecuredHub) -> None:
    serde = AvroSerde()
    sent = [referral(f"REF-{i}") for i in range(20)]  # from the school portal
    topic = provisioned.topics.referrals("school-portal")
    produce_records(secured_hub.source("school-portal"), topic, [(r.referral_id, r) for r in sent])
    with TopicReader(provisioned, [topic]) as reader:
        got = reader.read_count(len(sent), timeout_s=60)
    assert all(m.value is not None and m.value.startswith(MARKER) for m in got)
    decoded = [serde.decode(m.value, Referral) for m in got if m.value is not None]
    assert sorted(decoded, key=lambda r: r.referral_id) == sorted(sent, key=lambda r: r.referral_id)
    # Keyed by referral_id: every message's key is its referral's id.
    assert all(m.key is not None and serde.decode(m.value, Referral).referral_id == m.key.decode() for m in got if m.value)


def test_provisioning_is_idempotent_and_configures_topics(
    kafka_settings: KafkaSettings, hub_config: HubConfig
) -> None:
    first = provision(kafka_settings, hub_config)
    planned = planned_topics(kafka_settings, hub_config)
    assert sorted(first.created) == sorted(s.name for s in planned)
    second = provision(kafka_settings, hub_config)
    assert second.created == [] and not second.changed
    assert sorted(second.existing) == sorted(s.name for s in planned)
    # Every agency gets a red, amber and green request topic.
    names = {s.name for s in planned}
    for agency in hub_config.agencies:
        for rag in ("red", "amber", "green"):
            assert f"{kafka_settings.topic_prefix}mash.requests.{agency}.{rag}" in names
    for source in hub_config.source_systems:
        assert kafka_settings.topics.referrals(source) in names
    for agency in hub_config.agencies:
        assert kafka_settings.topics.responses(agency) in names
    admin = AdminClient(kafka_settings.confluent_config())
    resource = ConfigResource("topic", kafka_settings.topics.assembled)
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"
