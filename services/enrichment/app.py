"""The enrichment worker: gather agency information for each triaged case, against a deadline.

Two agents fold records into each case's state with logic.apply: `gather-red` reads the Red
lane, mash.referrals.triaged.red, and `gather` reads mash.referrals.triaged (Amber and
Green), every agency's mash.responses.<agency> and every hub system's
mash.ratings.<hub_system>. All are keyed by case_id with one partition count, so partition
p of each, and of the gather table's changelog, belong to the same worker. The two agents
take turns under one lock, a batch at a time: a Red referral waits for at most the batch in
hand, never for the Amber and Green backlog queued before it (faust pauses a partition whose
agent's buffer is full, so the Red lane keeps being fetched). A timer, the sweeper, fires
the chases and deadlines that are due on the partitions this worker owns.

Durability, in one sentence: the effects of a step (requests, cases, audit) are flushed to
the broker before the new state is written to the changelog, so a crash can repeat a step's
output (with the same ids and versions) but never lose it. README.md says more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import faust
from faust.types import TP, EventT, StreamT
from prometheus_client import CollectorRegistry

from mash_common.audittrail import AuditKeys
from mash_common.contracts import (
    AuditAction,
    Completeness,
    InformationResponse,
    NotificationKind,
    OutcomeNotification,
    Rag,
    RatingChange,
    TriagedReferral,
    utcnow,
)
from mash_common.errors import SerdeError
from mash_common.hubconfig import load_hub_config
from mash_common.ids import stable_id
from mash_common.limits import MAX_RECORD_BYTES
from mash_common.processing import consume_batches, guarded
from mash_common.rectification import RECTIFY_HEADER
from mash_common.serde import AvroSerde
from mash_common.streams import (
    Position,
    Publisher,
    build_app,
    owned_partitions,
    position_of,
    tables_ready,
    write_table,
)
from mash_common.threshold import load_rating_policy
from mash_common.topics import PIPELINE_PARTITIONS
from mash_hub.services.enrichment.agreement import load_agreement, source_kinds
from mash_hub.services.enrichment.logic import (
    Audit,
    Event,
    ExcessDisclosure,
    GatherState,
    Ignored,
    Outcome,
    Phase,
    PublishCase,
    RatingChanged,
    Refuse,
    Reject,
    Responded,
    ResponseRecorded,
    Rules,
    SendRequest,
    Tick,
    Triaged,
    apply,
    forgettable,
    is_due,
    rectify,
)
from mash_hub.services.enrichment.metrics import EnrichmentMetrics
from mash_hub.services.enrichment.settings import EnrichmentSettings
from mash_hub.services.enrichment.store import CaseStore

logger = logging.getLogger(__name__)

STAGE = "enrichment"
# The open-case gauges are recomputed this often, not on every sweep: it is a pass over
# every case's index entry, cheap but not free at 100,000 cases.
GAUGE_INTERVAL = timedelta(seconds=1)
# The longest a deadline waits for its partition's queued input to be processed.
DEADLINE_HOLD_MAX = timedelta(seconds=60)


class Enrichment:
    """Carries out what logic.apply decides: decode, apply, send, flush, store, count."""

    def __init__(self, app: faust.App, settings: EnrichmentSettings, rules: Rules,
                 metrics: EnrichmentMetrics, agencies: Sequence[str],
                 hub_systems: Sequence[str] = (),
                 audit_keys: AuditKeys | None = None) -> None:
        self.app = app
        self.settings = settings
        self.rules = rules
        self.metrics = metrics
        self.names = settings.kafka.topics
        self.serde = AvroSerde()
        self.publisher = Publisher(app, self.serde, self.names, STAGE, metrics.registry,
                                   audit_keys)
        self.table = app.Table(
            "gather", default=None, partitions=PIPELINE_PARTITIONS,
            key_type=bytes, value_type=bytes,  # serialised raw: the app default (build_app)
        )
        self.keep_for = timedelta(seconds=settings.forget_assembled_after_s)
        table = self.table

        def write(partition: int, key: bytes, value: bytes | None) -> None:
            write_table(table, partition, key, value)

        self.store = CaseStore(table.data, write, rules.chase_points, self.keep_for)
        self._indexed_for: frozenset[int] | None = None
        # Next offset to process per input topic partition (after the last handled batch);
        # see input_done_before.
        self.progress: dict[TP, int] = {}
        names = settings.kafka.topics
        self.input_topics = [*names.triaged_lanes, *[names.responses(a) for a in sorted(agencies)],
                             *[names.ratings(h) for h in sorted(hub_systems)]]
        self._gauges_due = datetime.min.replace(tzinfo=UTC)
        # The agent and the sweeper both read-modify-write case state across awaits; one
        # lock keeps their steps from interleaving (the agent runs with concurrency 1).
        self.lock = asyncio.Lock()

    # Input --------------------------------------------------------------------------

    async def handle(self, events: Sequence[EventT]) -> None:
        """Apply a batch of input events, then flush once and store every changed state.

        One flush per batch instead of per event: the producer round trip was what limited
        throughput (bench/results/latest/report.md). The order that makes a crash safe is
        unchanged: every output of the batch is on the broker before any state it changed.
        """
        async with self.lock:
            pending: dict[str, GatherState] = {}  # states changed in this batch, not stored yet
            flush = False
            for event in events:
                started = time.perf_counter()
                role, step = await self._step(event, pending)
                flush |= step
                self.metrics.processing.labels(role).observe(time.perf_counter() - started)
            if pending:
                if flush:
                    await self.app.producer.flush()
                for state in pending.values():
                    self.store.put(state)
            for event in events:
                message = event.message
                self.progress[TP(message.topic, message.partition)] = message.offset + 1

    async def _step(self, event: EventT, pending: dict[str, GatherState]) -> tuple[str, bool]:
        """Decode and apply one event; returns its role and whether it sent anything."""
        pos = position_of(event)
        key = event.key if isinstance(event.key, bytes) else None
        raw = event.value if isinstance(event.value, bytes) else None
        if pos.topic in self.names.triaged_lanes:
            role = "triaged"
        elif self.names.rating_sender(pos.topic) is not None:
            role = "ratings"
        else:
            role = "responses"
        if raw is None:
            if key is None:
                await self._reject(role, pos, key, raw, "EMPTY", "message has no value")
                return role, False
            # A tombstone: the case is erased (mash_ops.erasure). On the triaged topic it
            # removes the case's state; on a response topic there is nothing of ours to do.
            if role == "triaged":
                await self._erase(key.decode("utf-8"), pending, pos)
            return role, False
        if role == "triaged" and RECTIFY_HEADER in dict(pos.headers):
            return role, await self._rectify(pos, key, raw, pending)
        ev: Event
        try:
            if role == "triaged":
                triaged = self.serde.decode(raw, TriagedReferral)
                ev, case_id = Triaged(triaged, pos.partition), triaged.case_id
            elif role == "ratings":
                change = self.serde.decode(raw, RatingChange)
                system = self.names.rating_sender(pos.topic)
                assert system is not None  # the role says so
                ev, case_id = RatingChanged(change, system), change.case_id
            else:
                response = self.serde.decode(raw, InformationResponse)
                sender = self.names.response_sender(pos.topic)
                if sender is None:
                    raise RuntimeError(f"{pos.topic} is not an agency's response topic")
                ev, case_id = Responded(response, sender), response.case_id
        except SerdeError as exc:
            await self._reject(role, pos, key, raw, exc.reason_code, str(exc))
            return role, False
        if key is not None and key != CaseStore.key(case_id):
            # Co-partitioning rests on the key: a record keyed otherwise may be on another
            # worker's partition than its case.
            await self._reject(role, pos, key, raw, "KEY_MISMATCH", "key is not the record's case_id")
            return role, False
        state = pending.get(case_id) or self.store.get(case_id)
        if state is not None and state.partition != pos.partition:
            logger.warning("%s: case %s lives on partition %d; producers must use the "
                           "default (murmur2) partitioner", pos, case_id, state.partition)
        outcome = apply(state, ev, utcnow(), self.rules)
        too_big = self._too_big(outcome)
        if too_big is not None:
            # Never a crash loop: the input that would grow the case past what the broker
            # takes is set aside with its reason; the case goes on without it.
            await self._reject(role, pos, key, raw, "TOO_LARGE", too_big)
            return role, False
        sent = await self._emit(outcome, role, pos, key, raw)
        if outcome.state is not None and outcome.state != state:
            pending[case_id] = outcome.state
        return role, sent

    async def _erase(self, case_id: str, pending: dict[str, GatherState], pos: Position) -> None:
        state = pending.pop(case_id, None) or self.store.get(case_id)
        if state is None:
            return
        await self.publisher.audit(AuditAction.CASE_ERASED, case_id=case_id,
                                   detail=f"enrichment: gather state removed (tombstone at {pos})")
        await self.app.producer.flush()  # the record of the purge first, then the purge
        self.store.delete(state)
        logger.info("case %s erased from the gather state at %s", case_id, pos)

    async def _rectify(self, pos: Position, key: bytes | None, raw: bytes,
                       pending: dict[str, GatherState]) -> bool:
        """A corrected referral of a case (mash_ops.erasure rectify): the case's state takes
        it; the CASE_RECTIFIED audit, the re-sent requests and the corrected next version
        go out, and are flushed (handle) before the state is written."""
        try:
            triaged = self.serde.decode(raw, TriagedReferral)
        except SerdeError as exc:
            await self._reject("triaged", pos, key, raw, exc.reason_code, str(exc))
            return False
        state = pending.get(triaged.case_id) or self.store.get(triaged.case_id)
        if state is None:
            return False  # nothing held of the case here
        outcome = rectify(state, triaged.referral, utcnow())
        sent = await self._emit(outcome, "triaged", pos, key, raw)
        if outcome.state is not None and outcome.state != state:
            pending[triaged.case_id] = outcome.state
            logger.info("case %s rectified in the gather state at %s", triaged.case_id, pos)
        return sent

    def _too_big(self, outcome: Outcome) -> str | None:
        """Why the step's state or assembled case would exceed the record size the producer
        and broker accept (mash_common.limits.MAX_RECORD_BYTES), or None if they fit."""
        if outcome.state is not None:
            size = len(outcome.state.model_dump_json())
            if size > MAX_RECORD_BYTES:
                return f"the case's state would be {size} bytes, over {MAX_RECORD_BYTES}"
        for effect in outcome.effects:
            if isinstance(effect, PublishCase):
                size = len(self.serde.encode(effect.case))
                if size > MAX_RECORD_BYTES:
                    return f"the assembled case would be {size} bytes, over {MAX_RECORD_BYTES}"
        return None

    async def _reject(self, role: str, pos: Position, key: bytes | None, raw: bytes | None,
                      reason: str, error: str) -> None:
        self.metrics.rejected.labels(role, reason).inc()
        await self.publisher.dead_letter(pos, key, raw, reason, error)

    # Deadlines and chases -------------------------------------------------------------

    def ready(self) -> bool:
        return tables_ready(self.app)

    def input_done_before(self, partition: int, due_at: datetime, now: datetime) -> bool:
        """Whether every input record of this case partition that the broker accepted before
        `due_at` has been processed: each input topic's partition is caught up to the end
        the consumer last saw. Until then a deadline waits, so an answer the broker took in
        time (during an outage of this worker, say) is never counted late. The wait is
        bounded (DEADLINE_HOLD_MAX): a partition that never catches up cannot hold a
        deadline for ever."""
        if now - due_at >= DEADLINE_HOLD_MAX:
            logger.warning("partition %d is still behind %s after its deadline; firing anyway",
                           partition, DEADLINE_HOLD_MAX)
            return True
        consumer = self.app.consumer
        for topic in self.input_topics:
            tp = TP(topic, partition)
            end = consumer.highwater(tp)
            if end is None or end < 0:
                return False  # no fetch has told us the end yet
            done = self.progress.get(tp)
            if done is None:
                # Nothing processed since this worker took the partition: it resumed from the
                # group's committed offset (faust's own record; none for a new group).
                committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
                done = committed or 0
            if done < end:
                return False
        return True

    def owned_partitions(self) -> set[int]:
        return owned_partitions(self.app, self.names.triaged)

    async def sweep(self) -> None:
        """Fire every chase and deadline due on this worker's partitions (never before due).

        Only what the deadline index says is due is looked at. When the partitions this
        worker owns change, faust has recovered their state into the table: the index is
        rebuilt from it first, so an overdue deadline fires as soon as its partition is back.
        """
        if not self.ready():
            return
        owned = frozenset(self.owned_partitions())
        if owned != self._indexed_for:
            count = self.store.reindex()
            # Progress on a partition this worker did not hold throughout is not its own.
            kept = owned & (self._indexed_for or frozenset())
            self.progress = {tp: n for tp, n in self.progress.items() if tp.partition in kept}
            self._indexed_for = owned
            logger.info("deadline index rebuilt: %d cases, partitions %s", count, sorted(owned))
        now = utcnow()
        self._gauges(now, owned)
        for case_id in self.store.forgettable(now, set(owned)):
            async with self.lock:
                current = self.store.get(case_id)
                if current is not None and forgettable(current, utcnow(), self.keep_for):
                    await self.publisher.audit(
                        AuditAction.RETENTION_PURGED, case_id=case_id,
                        detail=f"enrichment: gather state removed, {self.keep_for} after the "
                               "deadline (forget_assembled_after_s)")
                    await self.app.producer.flush()
                    self.store.delete(current)
                    self.metrics.forgotten.inc()
                    logger.info("case %s forgotten: assembled, retention after its deadline over",
                                case_id)
        for case_id in self.store.due(now, set(owned)):
            async with self.lock:
                if not self.ready():
                    self.store.requeue(case_id)
                    return
                current = self.store.get(case_id)
                now = utcnow()
                if current is None:
                    continue
                if not is_due(current, now, self.rules):
                    self.store.refresh(current)  # the agent got there first
                    continue
                if (now >= current.due_at and current.phase is Phase.GATHERING
                        and not self.input_done_before(current.partition, current.due_at, now)):
                    self.store.requeue(case_id)  # answers accepted in time are still queued
                    self.metrics.deadline_waits.inc()
                    continue
                started = time.perf_counter()
                outcome = apply(current, Tick(), now, self.rules)
                await self._carry_out(current, outcome, "sweeper")
                if outcome.state is None or outcome.state == current:
                    self.store.refresh(current)
                self.metrics.processing.labels("sweeper").observe(time.perf_counter() - started)

    def _gauges(self, now: datetime, owned: frozenset[int]) -> None:
        if now < self._gauges_due:
            return
        self._gauges_due = now + GAUGE_INTERVAL
        open_cases = self.store.open_cases(now, owned)
        for rag in Rag:
            self.metrics.open_cases.labels(rag.value).set(open_cases.by_rag[rag])
            if rag in open_cases.next_due_s:
                self.metrics.next_due.labels(rag.value).set(open_cases.next_due_s[rag])
            else:
                with suppress(KeyError):  # absent already
                    self.metrics.next_due.remove(rag.value)
        self.metrics.overdue_cases.set(open_cases.overdue)

    # Effects --------------------------------------------------------------------------

    async def _carry_out(self, before: GatherState | None, outcome: Outcome, role: str) -> None:
        """One step on its own (the sweeper's): send, flush, then store the state."""
        sent = await self._emit(outcome, role)
        if outcome.state is None or outcome.state == before:
            return
        if sent:
            # The step's output must be on the broker before its state is: a crash in between
            # then repeats the output (same ids, same version) rather than losing it.
            await self.app.producer.flush()
        self.store.put(outcome.state)

    async def _emit(self, outcome: Outcome, role: str, pos: Position | None = None,
                    key: bytes | None = None, raw: bytes | None = None) -> bool:
        """Send and count a step's effects; returns whether anything was sent."""
        sent = False
        for effect in outcome.effects:
            case_id = outcome.state.case_id if outcome.state else None
            if isinstance(effect, SendRequest):
                req = effect.request
                await self.publisher.send(self.names.requests(req.agency, req.rag), req.case_id, req)
                self.metrics.requests.labels(req.agency, req.rag.value, effect.kind.value).inc()
                sent = True
            elif isinstance(effect, Audit):
                await self.publisher.audit(
                    effect.action, case_id=case_id, reference=effect.reference, agency=effect.agency,
                    legal_basis=effect.legal_basis, data_categories=effect.data_categories,
                    detail=effect.detail, purpose=effect.purpose,
                    consent_status=effect.consent_status, category_terms=effect.category_terms,
                    consent_override=effect.consent_override, actor=effect.actor)
                if effect.action is AuditAction.REQUEST_WITHHELD:
                    reason = (effect.detail or "").split(":", 1)[0]
                    self.metrics.withheld.labels(effect.agency or "", reason).inc()
                sent = True
            elif isinstance(effect, PublishCase):
                case = effect.case
                await self.publisher.send(self.names.assembled, case.case_id, case)
                self.metrics.assembled.labels(case.completeness.value, str(effect.amended).lower()).inc()
                if case.completeness is Completeness.PARTIAL and not effect.amended:
                    for agency in case.missing_agencies:
                        self.metrics.partial.labels(agency).inc()
                if effect.lateness_s is not None:
                    self.metrics.lateness.observe(effect.lateness_s)
                logger.info("case %s v%d %s%s", case.case_id, case.version, case.completeness.value,
                            " (amended)" if effect.amended else "")
                sent = True
            elif isinstance(effect, ResponseRecorded):
                self.metrics.responses.labels(effect.agency, effect.status.value).inc()
                self.metrics.response_time.labels(effect.agency).observe(effect.response_time_s)
            elif isinstance(effect, Reject):
                assert pos is not None, "only input can be rejected"
                await self._reject(role, pos, key, raw, effect.reason_code, effect.error)
            elif isinstance(effect, Ignored):
                self.metrics.ignored.labels(effect.reason_code).inc()
            elif isinstance(effect, ExcessDisclosure):
                self.metrics.excess_records.labels(effect.agency).inc(effect.records)
            elif isinstance(effect, Refuse):
                await self._refuse(effect)
                sent = True
        if outcome.state is not None and outcome.state.rating_history:
            self._count_rating_change(outcome)
        return sent

    def _count_rating_change(self, outcome: Outcome) -> None:
        if not any(isinstance(e, Audit) and e.action is AuditAction.RATING_CHANGED
                   for e in outcome.effects):
            return
        assert outcome.state is not None
        last = outcome.state.rating_history[-1]
        previous = last.previous_rag
        direction = ("same" if previous is None or previous is last.rag
                     else "up" if last.rag.rank < previous.rank else "down")
        self.metrics.rating_changes.labels(last.cause.value, direction).inc()

    async def _refuse(self, effect: Refuse) -> None:
        """A REJECTED outcome to the hub system whose rating change was refused."""
        self.metrics.rating_refusals.labels(effect.reasons[0].split(":", 1)[0]).inc()
        note = OutcomeNotification(
            notification_id=stable_id("notification", effect.change_id, effect.hub_system,
                                      NotificationKind.REJECTED.value, 1),
            case_id=effect.case_id, recipient=effect.hub_system, kind=NotificationKind.REJECTED,
            sent_at=utcnow(), reasons=effect.reasons,
            message=f"Rating change {effect.change_id} refused; the case's rating is unchanged.",
        )
        await self.publisher.send(self.names.outcomes(effect.hub_system), effect.case_id, note)


def create_app(settings: EnrichmentSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the worker: validate configuration, declare topics, table, agent and sweeper."""
    hub = load_hub_config(settings.hub_config)
    agreement = load_agreement(settings.sharing_agreement, hub)
    rating = load_rating_policy(settings.threshold_policy)
    calendar = rating.working_hours if settings.use_working_hours else None
    rules = Rules(agreement=agreement, chase_points=settings.chase_points,
                  source_kinds=source_kinds(hub), calendar=calendar,
                  timescales=rating.timescales.with_overrides(*settings.due_overrides()),
                  response_rules=tuple(rating.response_rules), zone=rating.display_timezone)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = EnrichmentMetrics(registry)
    app = build_app(
        STAGE, settings.kafka, datadir=settings.datadir, web_port=settings.web_port,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
    service = Enrichment(app, settings, rules, metrics, sorted(hub.agencies),
                         sorted(hub.hub_systems), AuditKeys.from_env())
    names = settings.kafka.topics
    # Amber and Green referrals, each agency's own response topic and each hub system's own
    # ratings topic, all co-partitioned by case_id; the topic a record came on (only its
    # owner may write it) says who sent it.
    inputs = app.topic(names.triaged, *[names.responses(a) for a in sorted(hub.agencies)],
                       *[names.ratings(h) for h in sorted(hub.hub_systems)],
                       key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    red = app.topic(names.triaged_red, key_type=bytes, value_type=bytes, key_serializer="raw",
                    value_serializer="raw")

    async def run(stream: StreamT) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]  # on Stream, not on StreamT
            settings.batch_max, within=settings.batch_within_s)
        # A bug stops the worker before the batch is acked: nothing is skipped.
        await consume_batches(batches, service.handle)

    @app.agent(inputs, concurrency=1, name="gather")
    async def gather(stream: StreamT) -> None:
        await run(stream)

    # The Red lane: its own agent and stream buffer, so no queued Amber or Green record is
    # ahead of a Red one (see the module docstring).
    @app.agent(red, concurrency=1, name="gather-red")
    async def gather_red(stream: StreamT) -> None:
        await run(stream)

    sweep = guarded("the deadline sweeper", service.sweep)

    @app.timer(interval=settings.sweep_interval_s, name="sweeper")
    async def sweeper() -> None:
        await sweep()


    return app
