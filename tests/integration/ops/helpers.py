"""Helpers for the operations tooling's integration tests: topics with known contents and
consumer groups whose committed offsets the test sets directly."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from mash_common.settings import KafkaSettings


def create_topic(settings: KafkaSettings, name: str, partitions: int = 1) -> None:
    admin = AdminClient(settings.confluent_config())
    for future in admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                replication_factor=1)]).values():
        future.result(30)


def produce_at(settings: KafkaSettings, topic: str, timestamps_ms: list[int],
               partition: int = 0) -> None:
    """One message per timestamp, in order, with that CreateTime."""
    producer = Producer(settings.producer_config())
    for i, ts in enumerate(timestamps_ms):
        producer.produce(topic, key=f"k{i}", value=f"v{i}".encode(), partition=partition,
                         timestamp=ts)
    assert producer.flush(30) == 0


def commit(settings: KafkaSettings, group: str, topic: str, offset: int, partition: int = 0) -> None:
    """Commit an offset for a group, as a consumer that then stops (a paused consumer)."""
    consumer = Consumer(settings.confluent_config(**{"group.id": group,
                                                     "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    finally:
        consumer.close()


