"""A thread that reads topics from their beginning into an in-memory projection.

The web services keep no state of their own about the pipeline: on start they replay the
topics they show (retention covers what they need) and then follow them live. They never
commit offsets, so a restart rebuilds the same view. When the broker goes away the reader
keeps polling; librdkafka reconnects, and `connected` says what the health check reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from mash_common.settings import KafkaSettings

logger = logging.getLogger(__name__)

Handle = Callable[[str, bytes | None, bytes | None], None]  # topic, key, value


class TopicReader:
    def __init__(self, kafka: KafkaSettings, group_id: str, topics: Sequence[str], handle: Handle,
                 *, name: str = "topic-reader") -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.topics = list(topics)
        self.handle = handle
        self.name = name
        self.assigned = False
        self.connected = False
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TopicReader:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def ready(self) -> bool:
        return self.assigned and self.connected

    def _on_error(self, error: KafkaError) -> None:
        # Codes only: librdkafka's text can carry broker addresses, never payloads, but the
        # code is what operations act on.
        self.last_error = error.name()
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT,
                            KafkaError._AUTHENTICATION):
            self.connected = False
        logger.warning("%s: Kafka error %s", self.name, error.name())

    def _assign(self, consumer: Consumer) -> None:
        while not self._stop.is_set():
            try:
                metadata = consumer.list_topics(timeout=5)
            except KafkaException as exc:
                self._on_error(exc.args[0])
                continue
            missing = [t for t in self.topics if t not in metadata.topics
                       or metadata.topics[t].error is not None]
            if missing:
                logger.warning("%s: %d topic(s) not there yet (first %s); retrying",
                               self.name, len(missing), missing[0])
                self._stop.wait(1.0)
                continue
            consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                             for t in self.topics for p in metadata.topics[t].partitions])
            self.assigned = self.connected = True
            logger.info("%s: reading %d topics from their beginning as %s", self.name,
                        len(self.topics), self.kafka.principal)
            return

    def _run(self) -> None:
        consumer = Consumer(self.kafka.confluent_config(**{
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "error_cb": self._on_error,
            # Live updates within a second of the event: the broker answers a fetch as soon
            # as it has data, and waits no longer than this when it has none.
            "fetch.wait.max.ms": 100,
        }))
        try:
            self._assign(consumer)
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        self._on_error(msg.error())
                    continue
                self.connected = True
                try:
                    self.handle(msg.topic(), msg.key(), msg.value())
                except Exception:
                    # A projection bug must not kill the view; position, never payload.
                    logger.exception("%s: could not apply %s[%d]@%d", self.name, msg.topic(),
                                     msg.partition(), msg.offset())
        finally:
            consumer.close()


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True
