"""Keys land on the same partition whichever client produced them.

Services (faust, aiokafka) and adapters (confluent-kafka) write to topics whose state is
co-partitioned by case_id; if their partitioners disagreed, a case's response would reach a
worker that does not hold the case.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from mash_common.settings import KafkaSettings

pytestmark = pytest.mark.integration

KEYS = [f"MASH-{i:05d}-CASE" for i in range(60)]


async def _aiokafka_partitions(kafka: KafkaSettings, topic: str) -> dict[str, int]:
    # aiokafka as faust drives it: SCRAM over TLS with the same credentials.
    assert kafka.sasl_password is not None
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=kafka.sasl_username,
        sasl_plain_password=kafka.sasl_password.get_secret_value(), ssl_context=kafka.ssl_context())
    await producer.start()
    try:
        placed = {}
        for key in KEYS:
            meta = await producer.send_and_wait(topic, b"x", key=key.encode())
            placed[key] = meta.partition
        return placed
    finally:
        await producer.stop()


def test_confluent_clients_partition_like_faust(kafka_settings: KafkaSettings) -> None:
    topic = f"{kafka_settings.topic_prefix}partitioning"
    admin = AdminClient(kafka_settings.confluent_config())
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    from_aiokafka = asyncio.run(_aiokafka_partitions(kafka_settings, topic))

    from_confluent: dict[str, int] = {}

    def record(err: object, msg: object) -> None:
        assert err is None
        from_confluent[msg.key().decode()] = msg.partition()  # type: ignore[attr-defined]

    producer = Producer(kafka_settings.producer_config())
    for key in KEYS:
        producer.produce(topic, key=key.encode(), value=b"x", on_delivery=record)
    assert producer.flush(30) == 0
    assert len(set(from_aiokafka.values())) > 1, "keys should spread over partitions"
    assert from_confluent == from_aiokafka
