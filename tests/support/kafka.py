"""Small, real Kafka helpers for tests: produce, and read until an expected count or a deadline.

Reading waits on the broker with a deadline; it never sleeps and hopes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, Producer

from mash_common.contracts import Contract
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


def produce(settings: KafkaSettings, topic: str, items: list[tuple[bytes | str | None, bytes]]) -> None:
    producer = Producer(settings.producer_config())
    for key, value in items:
        producer.produce(topic, key=key, value=value)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered to {topic}"


def produce_records(
    settings: KafkaSettings, topic: str, records: list[tuple[str | None, Contract]], serde: AvroSerde | None = None
) -> None:
    s = serde or AvroSerde()
    produce(settings, topic, [(key, s.encode(r)) for key, r in records])


def _received(msg: Message) -> Received:
    return Received(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                    msg.timestamp()[1], tuple((k, v or b"") for k, v in msg.headers() or []))


class TopicReader:
    """Reads topics from the beginning with its own consumer group."""

    def __init__(self, settings: KafkaSettings, topics: list[str]) -> None:
        self._consumer = Consumer(
            settings.confluent_config(
                **{
                    "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "topic.metadata.refresh.interval.ms": 1000,
                }
            )
        )
        self._consumer.subscribe(topics)
        self.received: list[Received] = []

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll_until(
        self, done: Callable[[list[Received]], bool], timeout_s: float = 60.0
    ) -> list[Received]:
        """Poll until done(received) is true; fail the test with what arrived if it never is."""
        deadline = time.monotonic() + timeout_s
        while not done(self.received):
            if time.monotonic() > deadline:
                summary = [(r.topic, r.partition, r.offset) for r in self.received]
                raise AssertionError(f"timed out after {timeout_s}s; received {len(summary)}: {summary}")
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            self.received.append(
                _received(msg)
            )
        return self.received

    def read_count(self, n: int, timeout_s: float = 60.0) -> list[Received]:
        return self.poll_until(lambda got: len(got) >= n, timeout_s)

    def drain(self, quiet_s: float = 2.0) -> list[Received]:
        """Read whatever else arrives until nothing has for quiet_s: proves 'nothing else'."""
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            last = time.monotonic()
            self.received.append(
                _received(msg)
            )
        return self.received


def offline_settings(topic_prefix: str = "t1.") -> KafkaSettings:
    """Settings that satisfy the secure-by-default checks without a broker (unit tests that
    build an app but never connect): any valid CA bundle will do, so certifi's."""
    import certifi

    return KafkaSettings(topic_prefix=topic_prefix, sasl_username="unit-test",
                         sasl_password="not-a-secret", ssl_ca_location=certifi.where())
