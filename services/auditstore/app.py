"""The audit store worker: consume mash.audit, append each event to its case's chain, commit.

At-least-once, like the rest of the hub: the offset is committed only after the database
has the event, and the store is idempotent on event id, so a redelivery changes nothing.
A record whose MAC does not hold is kept aside (audit_rejected) and counted; it never
enters a chain. Verification runs as it goes (each append checks its chain's last link)
and in full every verify_interval_s; a break raises mash_auditstore_chain_breaks_total,
which deploy/prometheus/alerts.yml turns into an alert. A plain consumer, not a faust
app: it needs no state or internal topics, so its principal reads mash.audit and nothing
else.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from mash_common.access import auditstore_group
from mash_common.audittrail import AuditKeys
from mash_common.contracts import AuditEvent
from mash_common.errors import ConfigError, SerdeError
from mash_common.serde import AvroSerde
from mash_hub.services.auditstore.metrics import AuditStoreMetrics
from mash_hub.services.auditstore.settings import AuditStoreSettings
from mash_ops.auditdb import AuditStore, Stored, create_schema, open_engine

logger = logging.getLogger(__name__)

READY = "auditstore ready"


class AuditStoreWorker:
    def __init__(self, settings: AuditStoreSettings, metrics: AuditStoreMetrics) -> None:
        keys = AuditKeys.load(settings.keys)
        if keys is None:
            raise ConfigError("the audit store needs the hub's audit keys: set "
                              "MASH_AUDIT_KEYS_FILE (or MASH_AUDIT_KEYS)")
        self.settings = settings
        self.metrics = metrics
        engine = open_engine(settings.database_url.get_secret_value())
        if settings.create_schema:
            create_schema(engine)
        self.store = AuditStore(engine, keys)
        self.serde = AvroSerde()
        self.stop_requested = threading.Event()
        self._broken: set[str] = set()
        # Each chain's last event as this worker wrote it (or found it at start): a chain
        # that later ends earlier lost events from its end.
        self.heads: dict[str, tuple[int, str]] = self.store.heads()

    def handle(self, message: Message) -> None:
        source = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        if message.value() is None:
            # A tombstone from an erasure (mash_ops.erasure): the topic's latest value for the
            # case is gone; the store's own copy is redacted by the tool, in the chain.
            self.metrics.events.labels("TOMBSTONE").inc()
            return
        try:
            event = self.serde.decode(message.value() or b"", AuditEvent)
        except SerdeError as exc:
            logger.warning("%s: not an audit event (%s); kept aside", source, exc.reason_code)
            self.store.reject(source, exc.reason_code)
            self.metrics.events.labels(Stored.REJECTED.value).inc()
            self.metrics.rejected.labels(exc.reason_code).inc()
            return
        outcome, head = self.store.append_with_head(event, partition=message.partition() or 0,
                                                    source=source)
        if head is not None:
            self.heads[head[0]] = (head[1], head[2])
        self.metrics.events.labels(outcome.value).inc()
        if outcome is Stored.REJECTED:
            reason = self.store.keys.check(event)
            logger.warning("%s: audit event MAC does not hold (%s); kept aside", source,
                           reason.value if reason else "?")
            self.metrics.rejected.labels(reason.value if reason else "UNKNOWN").inc()
        elif outcome is Stored.APPENDED:
            chain = event.case_id or f"nocase/{message.partition()}"
            if not self.store.verify_head(chain) and chain not in self._broken:
                self._broken.add(chain)
                self.metrics.chain_breaks.inc()
                logger.error("chain %s: its last link does not verify", chain)

    def verify_all(self) -> int:
        # Rows the erasure tool appended (redaction notes) move heads on without us.
        for chain, head in self.store.heads().items():
            known = self.heads.get(chain)
            if known is None or head[0] > known[0]:
                self.heads[chain] = head
        reports = self.store.verify_all(self.heads)
        broken = {r.chain for r in reports if not r.ok}
        for report in reports:
            if not report.ok and report.chain not in self._broken:
                self.metrics.chain_breaks.inc()
                logger.error("chain %s fails verification: %d problem(s), first: %s",
                             report.chain, len(report.problems), report.problems[0])
        self._broken = broken
        self.metrics.broken_chains.set(len(broken))
        self.metrics.chains.set(len(reports))
        self.metrics.last_verified.set(time.time())
        return len(broken)

    def run(self) -> None:
        kafka = self.settings.kafka
        consumer = Consumer(kafka.confluent_config(**{
            "group.id": auditstore_group(kafka.topic_prefix),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }))
        consumer.subscribe([kafka.topics.audit])
        logger.info("%s: consuming %s as %s", READY, kafka.topics.audit, kafka.principal)
        next_verify = time.monotonic()
        try:
            while not self.stop_requested.is_set():
                if time.monotonic() >= next_verify:
                    self.verify_all()
                    next_verify = time.monotonic() + self.settings.verify_interval_s
                message = consumer.poll(self.settings.poll_timeout_s)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    if error.fatal() or not error.retriable():
                        raise KafkaException(error)
                    logger.warning("consumer: %s", error.str())
                    continue
                self.handle(message)
                # The database has it; only now may the group move past it.
                consumer.commit(message=message, asynchronous=False)
        finally:
            consumer.close()
