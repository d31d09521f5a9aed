"""A confluent-kafka producer whose produce() an asyncio handler can await until the
broker has acknowledged the record (its delivery callbacks served by a thread of its own)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from mash_common.settings import KafkaSettings


class AsyncProducer:
    def __init__(self, kafka: KafkaSettings, name: str, **extra: Any) -> None:
        self.kafka = kafka
        # murmur2 partitioner and idempotence, as every producer of the project.
        self.producer = Producer(kafka.producer_config(**extra))
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"produce-{name}", daemon=True)

    def start(self) -> AsyncProducer:
        self._poller.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def stop(self) -> None:
        self.producer.flush(10)
        self._stop.set()
        self._poller.join(5)

    async def produce(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> None:
        """Raises KafkaException (refused or failed), BufferError or TimeoutError."""
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[None] = loop.create_future()

        def settle(err: KafkaError | None) -> None:
            if delivered.done():
                return
            if err is None:
                delivered.set_result(None)
            else:
                delivered.set_exception(KafkaException(err))

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            loop.call_soon_threadsafe(settle, err)

        self.producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        await asyncio.wait_for(delivered, timeout_s)

    def reachable(self, topic: str) -> bool:
        try:
            self.producer.list_topics(topic, timeout=2)
        except KafkaException:
            return False
        return True
