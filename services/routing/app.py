"""Routing's Faust app: assembled cases and decisions in, outcome notifications out.

Both inputs are keyed by case_id with the same partition count, so the per-case table
(changelog-backed) is co-partitioned with them: the worker that owns a case's partition
owns its state. Agents decode, call logic, encode, send and count; logic.py decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import faust
from faust.types import EventT, StreamT
from prometheus_client import CollectorRegistry

from mash_common.audittrail import AuditKeys
from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    Decision,
    OutcomeNotification,
    utcnow,
)
from mash_common.errors import SerdeError
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.processing import consume_events, guarded
from mash_common.serde import AvroSerde
from mash_common.streams import (
    Position,
    Publisher,
    build_app,
    owned_partitions,
    position_of,
    raw_topic,
    tables_ready,
    write_table,
)
from mash_common.topics import PIPELINE_PARTITIONS, TopicNames
from mash_hub.services.routing.logic import (
    CaseState,
    DecisionStatus,
    ParkedDecision,
    ParkedDecisions,
    Roster,
    expire,
    on_assembled,
    on_decision,
    park,
)
from mash_hub.services.routing.metrics import RoutingMetrics
from mash_hub.services.routing.policy import RecipientPolicy, load_recipient_policy
from mash_hub.services.routing.settings import RoutingSettings

logger = logging.getLogger(__name__)

STAGE = "routing"
CASES_TABLE = "routing-cases"
PARKED_TABLE = "routing-parked-decisions"


class Router:
    """Handles one input event at a time; holds no state of its own beyond the table."""

    def __init__(
        self,
        *,
        table: Any,  # faust.Table[bytes, bytes]: case_id -> CaseState JSON
        parked: Any,  # faust.Table[bytes, bytes]: case_id -> ParkedDecisions JSON
        publisher: Publisher,
        serde: AvroSerde,
        names: TopicNames,
        roster: Roster,
        policy: RecipientPolicy,
        metrics: RoutingMetrics,
        grace: timedelta,
    ) -> None:
        self._grace = grace
        # The agents and the expiry timer interleave at await points; one case's state
        # must be read and written by one of them at a time.
        self.lock = asyncio.Lock()
        self._table = table
        self._parked = parked
        self._publisher = publisher
        self._serde = serde
        self._names = names
        self._roster = roster
        self._policy = policy
        self._metrics = metrics

    def _state(self, key: bytes) -> CaseState | None:
        data = self._table.get(key)
        return CaseState.from_bytes(data) if data is not None else None

    async def _reject(
        self, pos: Position, key: bytes | None, value: bytes | None, reason: str, error: str
    ) -> None:
        self._metrics.dead_letters.labels(reason).inc()
        await self._publisher.dead_letter(pos, key, value, reason, error)

    @staticmethod
    def _key_matches(key: bytes | None, case_id: str) -> bool:
        return key is not None and key == case_id.encode("utf-8")

    async def _deliver(self, notifications: Sequence[OutcomeNotification]) -> None:
        """Send, audit, and wait for the broker's acks of both before the caller updates state.

        Waiting matters: the state (a changelog write) must not reach the broker before the
        notifications it records, or a crash in between would lose them for good. The other
        way round, a crash repeats them with the same ids, which recipients deduplicate.
        """
        acks: list[Awaitable[Any]] = []
        for n in notifications:
            topic = self._publisher.topic(self._names.outcomes(n.recipient))
            key = (n.case_id or n.referral_id or "").encode("utf-8")
            acks.append(await topic.send(key=key, value=self._serde.encode(n)))
        for n in notifications:
            await self._publisher.audit(
                AuditAction.NOTIFICATION_SENT, case_id=n.case_id, reference=n.notification_id,
                agency=n.recipient, detail=f"{n.kind.value} revision {n.revision}",
            )
        await asyncio.gather(*acks)
        # The audit events (and anything else this step queued, such as DECISION_RECEIVED)
        # must be acknowledged too before the state that records them is written.
        await self._publisher.flush()
        for n in notifications:
            self._metrics.notifications.labels(n.recipient, n.kind.value).inc()

    def _count_unroutable(self, pos: Position, unknown: Sequence[str]) -> None:
        if unknown:
            # Ids come from configuration or source-system names: not personal data.
            logger.warning("%s: not in hub.yaml, not notified: %s", pos, ", ".join(unknown))
            self._metrics.unroutable.inc(len(unknown))

    async def on_assembled_event(self, event: EventT) -> None:
        pos = position_of(event)
        key: bytes | None = event.key  # raw topic: bytes
        value: bytes | None = event.value
        if value is None:
            # A tombstone on the compacted topic: the case has been erased; forget it too.
            if key is not None and (key in self._table or self._parked.get(key) is not None):
                await self._publisher.audit(
                    AuditAction.CASE_ERASED, case_id=key.decode("utf-8"),
                    detail=f"routing: case state and held decisions removed (tombstone at {pos})")
                await self._publisher.flush()  # the record of the purge first, then the purge
                if key in self._table:
                    del self._table[key]
                held = self._parked.get(key)
                if held is not None:
                    write_table(self._parked, ParkedDecisions.from_bytes(held).partition, key, None)
            return
        try:
            case = self._serde.decode(value, AssembledCase)
        except SerdeError as exc:
            await self._reject(pos, key, value, exc.reason_code, str(exc))
            return
        if not self._key_matches(key, case.case_id):
            await self._reject(pos, key, value, "KEY_MISMATCH",
                               "key is not the case_id; per-case state needs case_id keys")
            return
        assert key is not None
        routed = on_assembled(self._state(key), case, self._roster, self._policy, utcnow())
        if routed.state is None:
            logger.info("%s: case version %d already seen, ignored", pos, case.version)
            self._metrics.ignored.labels("assembled", "VERSION_SEEN").inc()
            return
        self._count_unroutable(pos, routed.unknown_recipients)
        await self._deliver(routed.notifications)
        self._table[key] = routed.state.to_bytes()
        await self._release_parked(key)

    async def _release_parked(self, key: bytes) -> None:
        """The case has arrived: apply the decisions that overtook it, in revision order."""
        raw = self._parked.get(key)
        if raw is None:
            return
        held = ParkedDecisions.from_bytes(raw)
        decisions = []
        for item in held.decisions:
            decision = self._serde.decode(item.value, Decision)  # decoded once already
            decisions.append((decision.revision, item, decision))
        for _, item, decision in sorted(decisions, key=lambda d: (d[0], d[1].offset)):
            pos = Position(item.topic, item.partition, item.offset)
            logger.info("%s: applying a decision held for its case", pos)
            await self._apply_decision(pos, key, item.value, decision)
        write_table(self._parked, held.partition, key, None)
        self._metrics.parked.set(len(self._parked.data))

    async def expire_parked(self, owned: set[int]) -> None:
        """Dead-letter decisions whose case has not arrived within the grace period."""
        now = utcnow()
        for key, raw in list(self._parked.data.items()):
            held = ParkedDecisions.from_bytes(raw)
            if held.partition not in owned:
                continue
            expired, kept = expire(held, now, self._grace)
            for item in expired:
                await self._reject(
                    Position(item.topic, item.partition, item.offset), key, item.value,
                    "UNKNOWN_CASE",
                    f"no assembled case arrived for this case_id within "
                    f"{self._grace.total_seconds():g}s; a decision can only follow assembly",
                )
            if expired:
                await self._publisher.flush()  # the dead letters first, then the state
                write_table(self._parked, held.partition, key, kept.to_bytes() if kept else None)
        self._metrics.parked.set(len(self._parked.data))

    async def on_decision_event(self, event: EventT) -> None:
        pos = position_of(event)
        key: bytes | None = event.key  # raw topic: bytes
        value: bytes | None = event.value
        if value is None:
            if key is None:
                await self._reject(pos, key, value, "EMPTY", "no value")
            # else a tombstone: the case's erasure, which its assembled-case tombstone carries out
            return
        try:
            decision = self._serde.decode(value, Decision)
        except SerdeError as exc:
            await self._reject(pos, key, value, exc.reason_code, str(exc))
            return
        if not self._key_matches(key, decision.case_id):
            await self._reject(pos, key, value, "KEY_MISMATCH",
                               "key is not the case_id; per-case state needs case_id keys")
            return
        assert key is not None
        await self._apply_decision(pos, key, value, decision)

    async def _apply_decision(
        self, pos: Position, key: bytes, value: bytes, decision: Decision
    ) -> None:
        routed = on_decision(self._state(key), decision, self._roster, self._policy, utcnow())
        if routed.status is DecisionStatus.UNKNOWN_CASE:
            held = self._parked.get(key)
            item = ParkedDecision(value_hex=value.hex(), topic=pos.topic, partition=pos.partition,
                                  offset=pos.offset, parked_at=utcnow())
            parked = park(ParkedDecisions.from_bytes(held) if held else None, item)
            write_table(self._parked, parked.partition, key, parked.to_bytes())
            logger.info("%s: no assembled case yet; decision held", pos)
            self._metrics.parked.set(len(self._parked.data))
            return
        if routed.status is DecisionStatus.REVISION_CONFLICT:
            await self._reject(
                pos, key, value, "REVISION_CONFLICT",
                f"revision {decision.revision} was already notified with different content; "
                "a changed decision needs a higher revision",
            )
            return
        if routed.state is None:  # DUPLICATE or STALE
            logger.info("%s: decision revision %d %s, ignored",
                        pos, decision.revision, routed.status.value.lower())
            self._metrics.ignored.labels("decision", routed.status.value).inc()
            return
        await self._publisher.audit(
            AuditAction.DECISION_RECEIVED, case_id=decision.case_id,
            reference=f"revision {decision.revision}", agency=decision.lead_agency,
            detail=decision.outcome.value, actor=decision.decided_by,
        )
        self._count_unroutable(pos, routed.unknown_recipients)
        await self._deliver(routed.notifications)
        self._table[key] = routed.state.to_bytes()
        self._metrics.decisions.labels(decision.outcome.value).inc()
        if routed.latency is not None:
            self._metrics.decision_latency.observe(max(routed.latency.total_seconds(), 0.0))


def create_app(
    settings: RoutingSettings,
    *,
    hub: HubConfig | None = None,
    policy: RecipientPolicy | None = None,
    metrics: RoutingMetrics | None = None,
) -> faust.App:
    hub = hub or load_hub_config(settings.hub_config)
    policy = policy or load_recipient_policy(settings.recipient_policy)
    metrics = metrics or RoutingMetrics(CollectorRegistry())
    app = build_app(STAGE, settings.kafka, datadir=settings.datadir, web_port=settings.web_port)
    names = settings.kafka.topics
    serde = AvroSerde()
    cases = app.Table(
        CASES_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        # The app's default serializers are raw (mash_common.streams.build_app).
        partitions=PIPELINE_PARTITIONS,
        help="Per-case routing state: who is involved and what each has been told",
    )
    parked = app.Table(
        PARKED_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=PIPELINE_PARTITIONS,
        help="Decisions that arrived before their assembled case, held until it does",
    )
    router = Router(
        table=cases,
        parked=parked,
        publisher=Publisher(app, serde, names, STAGE, metrics.registry, AuditKeys.from_env()),
        serde=serde,
        names=names,
        roster=Roster.from_hub(hub),
        policy=policy,
        metrics=metrics,
        grace=timedelta(seconds=settings.unknown_case_grace_s),
    )

    def timed(kind: str, handle: Callable[[EventT], Awaitable[None]]) -> Callable[[EventT], Awaitable[None]]:
        async def one(event: EventT) -> None:
            started = time.perf_counter()
            async with router.lock:
                await handle(event)
            metrics.processing.labels(kind).observe(time.perf_counter() - started)
        return one

    # A bug stops the worker before the message is acked: nothing is skipped.
    @app.agent(raw_topic(app, names.assembled), name="route-assembled", concurrency=1)
    async def route_assembled(stream: StreamT[bytes]) -> None:
        await consume_events(stream.events(), timed("assembled", router.on_assembled_event))

    @app.agent(raw_topic(app, names.decisions), name="route-decisions", concurrency=1)
    async def route_decisions(stream: StreamT[bytes]) -> None:
        await consume_events(stream.events(), timed("decision", router.on_decision_event))

    async def expire() -> None:
        if not tables_ready(app):
            return
        async with router.lock:
            await router.expire_parked(owned_partitions(app, names.decisions))

    expire_guarded = guarded("the held-decision expiry", expire)

    @app.timer(interval=settings.park_sweep_interval_s, name="expire-held-decisions")
    async def expire_held_decisions() -> None:
        await expire_guarded()

    return app
