"""Reads topics from their beginning to their current end with a throwaway consumer that
never commits, so operations tooling can look without moving anyone's offsets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from mash_common.settings import KafkaSettings
from mash_ops.errors import BrokerUnavailableError


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: list[tuple[str, bytes]] | None = None


def throwaway_consumer(kafka: KafkaSettings, purpose: str) -> Consumer:
    return Consumer(kafka.confluent_config(**{
        # A group id is required by the client; it is never used to commit.
        "group.id": f"{kafka.topic_prefix}mash-ops-{purpose}-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }))


def list_topics(kafka: KafkaSettings, timeout_s: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count."""
    consumer = throwaway_consumer(kafka, "meta")
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot list topics: {exc.args[0]}") from None
    finally:
        consumer.close()
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def read_topics(
    kafka: KafkaSettings, topics: list[str], *, timeout_s: float = 60.0, purpose: str = "reader"
) -> Iterator[Record]:
    """Every message now on the topics (missing topics read as empty), then stop. `purpose`
    names the throwaway group (under the principal's own group prefix)."""
    consumer = throwaway_consumer(kafka, purpose)
    try:
        try:
            metadata = consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot list topics: {exc.args[0]}") from None
        ends: dict[tuple[str, int], int] = {}
        starts: dict[tuple[str, int], int] = {}
        for topic in topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for partition in meta.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10)
                if high > low:
                    ends[(topic, partition)] = high
                    starts[(topic, partition)] = low
        if not ends:
            return
        consumer.assign([TopicPartition(t, p, starts[(t, p)]) for t, p in ends])
        pending = set(ends)
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(
                    f"reading {len(pending)} partitions did not finish in {timeout_s}s")
            for msg in consumer.consume(num_messages=500, timeout=0.05):
                tp = (msg.topic(), msg.partition())
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(tp)
                        continue
                    raise BrokerUnavailableError(f"reading {tp[0]}[{tp[1]}]: {error.str()}")
                if tp not in pending:
                    continue  # arrived after we started: not part of this look
                if msg.offset() >= ends[tp] - 1:
                    pending.discard(tp)
                if msg.offset() < ends[tp]:
                    yield Record(tp[0], tp[1], msg.offset(), msg.key(), msg.value(),
                                 msg.timestamp()[1], msg.headers())
    finally:
        consumer.close()


def read_one(
    kafka: KafkaSettings, topic: str, partition: int, offset: int, *, timeout_s: float = 15.0
) -> Record | None:
    """The message at exactly this position, or None if it is not (or no longer) there."""
    consumer = throwaway_consumer(kafka, "inspect")
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if not low <= offset < high:
            return None
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return None
                raise BrokerUnavailableError(f"reading {topic}[{partition}]: {error.str()}")
            if msg.offset() == offset:
                return Record(topic, partition, offset, msg.key(), msg.value(), msg.timestamp()[1])
            return None  # compacted away or a transaction marker
        raise BrokerUnavailableError(f"reading {topic}[{partition}]@{offset} timed out")
    except KafkaException as exc:
        raise BrokerUnavailableError(f"reading {topic}[{partition}]: {exc.args[0]}") from None
    finally:
        consumer.close()
