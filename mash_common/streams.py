"""Faust glue shared by the three services: the app factory and the record publisher.

Every pipeline topic carries raw bytes in Avro single-object encoding; agents decode them
themselves so that a message that cannot be read is dead-lettered, not crashed on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import EventT, TopicT
from prometheus_client import CollectorRegistry

from mash_common.audittrail import AuditKeys
from mash_common.contracts import (
    AuditAction,
    AuditEvent,
    CategoryTerms,
    ConsentOverride,
    Contract,
    DeadLetter,
    utcnow,
)
from mash_common.deadletters import error_headers, failure_name
from mash_common.ids import stable_id
from mash_common.metrics import dead_letter_counter
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_common.topics import PIPELINE_PARTITIONS, TopicNames

logger = logging.getLogger(__name__)


class IdempotentProducer(faust_aiokafka.Producer):
    """faust's aiokafka producer with idempotence on: a send retried after a lost
    acknowledgement is written once, in order (faust enables it only inside its
    transactions, which the design does not use)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


# Every faust app of this process (the three services) produces through it.
faust_aiokafka.Transport.Producer = IdempotentProducer


def build_app(
    service: str,
    kafka: KafkaSettings,
    *,
    datadir: Path,
    web_port: int | None = None,
    **overrides: Any,
) -> faust.App:
    """A Faust app with mash-hub's defaults; the app id is the consumer group."""
    datadir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    settings: dict[str, Any] = {
        "broker": ";".join(f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")),
        # The service's own principal over TLS (KafkaSettings says which); never anonymous.
        "broker_credentials": kafka.faust_credentials(),
        # Tables live in memory and are restored from their changelog topics on start.
        "store": "memory://",
        "topic_partitions": PIPELINE_PARTITIONS,
        "topic_replication_factor": kafka.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "datadir": str(datadir),
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": "127.0.0.1",
        # Do not depend on exactly_once (design: open duplicate and hang bugs).
        "processing_guarantee": "at_least_once",
    }
    settings.update(overrides)
    return faust.App(f"{kafka.topic_prefix}mash-{service}", **settings)


def raw_topic(app: faust.App, name: str, partitions: int | None = None) -> TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


@dataclass(frozen=True)
class Position:
    """Where a message came from; the only thing about a message that errors may log.

    It also carries the message's timestamp and headers, so a dead letter keeps them."""

    topic: str
    partition: int
    offset: int
    timestamp_s: float | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def position_of(event: EventT) -> Position:
    message = event.message
    headers = message.headers
    pairs: list[tuple[str, bytes]] = (
        list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    )
    return Position(message.topic, message.partition, message.offset,
                    timestamp_s=message.timestamp,
                    headers=tuple((str(k), bytes(v or b"")) for k, v in pairs))


def as_key(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode("utf-8")


class Publisher:
    """Encodes contract records and sends them; owns dead-lettering and audit for a stage."""

    def __init__(self, app: faust.App, serde: AvroSerde, topics: TopicNames, stage: str,
                 registry: CollectorRegistry | None = None,
                 audit_keys: AuditKeys | None = None) -> None:
        self._app = app
        # The hub's key MACs every audit event (mash_common.audittrail); without one, events
        # go unsigned and the audit store counts each as a verification failure.
        self._audit_keys = audit_keys
        # The same counter name in every service (mash_deadletters_total{stage, reason}).
        self._dead_letters = dead_letter_counter(registry or CollectorRegistry())
        self._serde = serde
        self._names = topics
        self.stage = stage
        self._topics: dict[str, TopicT] = {}

    def topic(self, name: str) -> TopicT:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = raw_topic(self._app, name)
        return topic

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged by the broker. Call it before
        writing the state that records those sends: a crash in between then repeats them
        (same ids) instead of losing them."""
        await self._app.producer.flush()

    async def send(self, topic_name: str, key: str | bytes | None, record: Contract) -> None:
        """Queue a record; faust flushes the producer before it commits the input offset."""
        await self.topic(topic_name).send(key=as_key(key), value=self._serde.encode(record))

    async def dead_letter(
        self,
        position: Position,
        key: bytes | None,
        value: bytes | None,
        reason_code: str,
        error: str,
        exception: type[BaseException] | None = None,
    ) -> None:
        """The DeadLetter record, with the original's headers and timestamp and Kafka
        Connect's error headers (mash_common.deadletters). error holds no personal data."""
        logger.warning("dead-lettering %s: %s (%s)", position, reason_code, error)
        self._dead_letters.labels(self.stage, reason_code).inc()
        record = DeadLetter(
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            key=key,
            value=value,
            stage=self.stage,
            error=error,
            at=utcnow(),
            reason_code=reason_code,
        )
        headers = error_headers(
            position.headers, topic=position.topic, partition=position.partition,
            offset=position.offset, stage=self.stage,
            exception_class=failure_name(exception, reason_code), message=error,
        )
        await self.topic(self._names.deadletter).send(
            key=key, value=self._serde.encode(record), headers=headers,
            timestamp=position.timestamp_s,
        )

    async def audit(
        self,
        action: AuditAction,
        *,
        case_id: str | None,
        reference: str | None = None,
        agency: str | None = None,
        legal_basis: str | None = None,
        data_categories: list[str] | None = None,
        detail: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        consent_status: str | None = None,
        category_terms: list[CategoryTerms] | None = None,
        consent_override: ConsentOverride | None = None,
    ) -> None:
        """Record an audit event. Its id is stable, so a redelivery repeats the same event."""
        event = AuditEvent(
            event_id=stable_id("audit", self.stage, action.value, case_id, reference, agency, detail),
            at=utcnow(),
            actor=actor or f"mash-hub/{self.stage}",
            action=action,
            case_id=case_id,
            agency=agency,
            legal_basis=legal_basis,
            data_categories=data_categories or [],
            reference=reference,
            detail=detail,
            purpose=purpose,
            consent_status=consent_status,
            category_terms=category_terms or [],
            consent_override=consent_override,
        )
        if self._audit_keys is not None:
            event = self._audit_keys.sign(event)
        await self.send(self._names.audit, case_id or reference, event)


def write_table(table: Any, partition: int, key: bytes, value: bytes | None) -> None:
    """Set (or, with None, delete) a key of a changelog-backed table from anywhere.

    Faust's `table[key] = value` takes the changelog partition from the current event, so a
    timer (which has none) cannot use it, and faust's use_partitioner would let the
    producer's hash pick a partition that need not be the key's input partition. Naming the
    partition keeps the changelog co-partitioned with the input it came from.
    """
    table.send_changelog(partition, key, value)
    if value is None:
        table.data.pop(key, None)
    else:
        table.data[key] = value


def tables_ready(app: faust.App) -> bool:
    """True once this worker's partitions are assigned and its tables recovered."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # the manager has it, its type not
    return not app.rebalancing and not app.in_recovery and bool(recovery.completed.is_set())


def owned_partitions(app: faust.App, topic: str) -> set[int]:
    """Partitions of `topic` this worker actively owns (not standbys)."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def internal_topics(app: faust.App) -> dict[str, tuple[int, dict[str, str]]]:
    """The app's own topics (table changelogs, internal agent topics): name -> (partitions,
    config), configured as faust would declare them."""
    found: dict[str, tuple[int, dict[str, str]]] = {}
    channels = [table.changelog_topic for table in app.tables.values()]
    channels += [agent.channel for agent in app.agents.values()]
    for channel in channels:
        if not getattr(channel, "internal", False):
            continue
        config = {"cleanup.policy": "compact"} if channel.compacting else {}
        partitions = channel.partitions or app.conf.topic_partitions
        for name in channel.topics:
            found[name] = (partitions, config)
    return found


def ensure_internal_topics(app: faust.App, kafka: KafkaSettings, timeout_s: float = 60.0) -> list[str]:
    """Create the app's internal topics before its worker starts; wait until the broker lists
    them. Returns the names created.

    Left to faust, they are created while the worker starts, and on a busy broker the group
    can be assigned before they appear in the client's metadata: faust's assignor then skips
    them ("Ignoring missing topic") and nothing consumes them until a later rebalance, which
    for intake's link topic means valid referrals silently wait for minutes.
    """
    wanted = internal_topics(app)
    admin = AdminClient(kafka.confluent_config())
    present = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [name for name in wanted if name not in present]
    if missing:
        futures = admin.create_topics([
            NewTopic(name, num_partitions=wanted[name][0],
                     replication_factor=kafka.replication_factor,
                     config=kafka.topic_config(wanted[name][1]))
            for name in missing
        ], operation_timeout=timeout_s, request_timeout=timeout_s)
        for future in futures.values():
            try:
                future.result(timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    deadline = time.monotonic() + timeout_s
    while not set(wanted) <= set(admin.list_topics(timeout=timeout_s).topics):
        if time.monotonic() > deadline:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "internal topics not listed"))
        time.sleep(0.2)  # waiting for the broker's metadata to list the new topics
    logger.info("internal topics ready: %d (%d created)", len(wanted), len(missing))
    return missing
