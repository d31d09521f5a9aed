"""The intake Faust app: thin agents over changelog-backed tables.

    mash.referrals.<source> (key referral_id; one topic per source system)
      -> admit: the sender is the topic's owner (the broker's ACLs say who may write it);
         decode, check the sender, validate, dedupe by referral_id  [table referrals-seen,
         written once admission's output is on the broker]
           claims another sender -> mash.deadletter SENDER_MISMATCH + security audit
           bad -> mash.deadletter + REJECTED on mash.outcomes.<source> + audit
      -> <app id>-link-red (Red by its own content) or <app id>-link (the rest)
         (internal, key = blocking key: the child's date of birth)
      -> triage-red / triage: dedupe, link to an open case, rate  [tables cases, triaged]
           -> mash.referrals.triaged.red (Red) or mash.referrals.triaged
              + RECEIVED on mash.outcomes.<source> + audit

Red first (#19): each lane has its own agent, so a Red referral is triaged while Amber and
Green ones queue in the other; the two triage agents take turns under one lock, one
referral at a time, because they share the tables. Admission cannot see past what it has
not read, and reads each partition in order; under a backlog it does not wait for a producer
round trip per referral (it writes its state after one flush for many), so a backlog drains
fast. A child's referrals in different lanes may be triaged in either order (the
case opens with whichever comes first; enrichment takes a case's opener that a Red referral
overtook, CaseLink.opened_by).

Each table is written only while handling a message of the topic it is co-partitioned with,
and its changelog goes to that message's partition, so state moves with partitions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter

import faust
from faust.types import EventT, StreamT, TableT
from prometheus_client import CollectorRegistry

from mash_common.audittrail import AuditKeys
from mash_common.contracts import AuditAction, Rag, Referral, ReferrerType, utcnow
from mash_common.errors import SerdeError
from mash_common.hubconfig import load_hub_config
from mash_common.partitioning import partition_for
from mash_common.processing import consume_events, guarded
from mash_common.recipients import KindRule, RecipientPolicy, load_recipient_policy
from mash_common.rectification import RECTIFY_CASE_HEADER, RECTIFY_HEADER, LinkedCase
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
from mash_common.topics import PIPELINE_PARTITIONS
from mash_hub.services.intake.linking import Block, OpenCase, block_key, identity_of
from mash_hub.services.intake.logic import (
    Admission,
    SeenReferral,
    Verdict,
    admit,
    lane_of,
    rejected_notification,
    triage,
)
from mash_hub.services.intake.metrics import IntakeMetrics
from mash_hub.services.intake.policy import ThresholdPolicy, load_policy
from mash_hub.services.intake.settings import IntakeSettings
from mash_hub.services.intake.validation import Problem, Rules

logger = logging.getLogger(__name__)

STAGE = "intake"
# Under a backlog, admission state is written (after one flush) at least every this many
# referrals; with nothing queued behind a referral, at once.
REMEMBER_EVERY = 200


@dataclass(frozen=True)
class Arrival:
    """One referral record as admission sees it, decoded once."""

    key: bytes | None
    value: bytes | None
    position: Position
    referral: Referral | None
    error: SerdeError | None
    lane: Rag
# On a link-topic tombstone: the case to forget (mash_ops.erasure writes it).
ERASE_HEADER = "mash-erase-case"


class Intake:
    """The agents' bodies: decode, call logic, encode, send, count."""

    def __init__(self, app: faust.App, settings: IntakeSettings, policy: ThresholdPolicy,
                 rules: Rules, metrics: IntakeMetrics, serde: AvroSerde,
                 recipients: RecipientPolicy | None = None,
                 kinds: dict[str, ReferrerType] | None = None,
                 audit_keys: AuditKeys | None = None) -> None:
        self.settings = settings
        self.recipients = recipients or RecipientPolicy(version="least")
        self.kinds = kinds or {}
        self.policy = policy
        self.rules = rules
        self.metrics = metrics
        self.serde = serde
        self.names = settings.kafka.topics
        self.publisher = Publisher(app, serde, self.names, STAGE, metrics.registry, audit_keys)
        self.link_topic = app.topic(
            f"{app.conf.id}-link", internal=True, partitions=PIPELINE_PARTITIONS,
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        )
        # Red referrals' own lane to triage (see the module docstring).
        self.red_link_topic = app.topic(
            f"{app.conf.id}-link-red", internal=True, partitions=PIPELINE_PARTITIONS,
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        )
        # The triage agents share the tables: one step at a time.
        self.triage_lock = asyncio.Lock()
        # referral_id -> (partition, SeenReferral JSON) decided but not yet in the table: it
        # is written once everything sent before it is on the broker (remember_pending).
        self._seen_pending: dict[bytes, tuple[int, bytes]] = {}
        self._to_remember: list[tuple[int, bytes, bytes]] = []

        def table(name: str) -> TableT:
            # bytes in, bytes out: the app's serializers are raw; values are pydantic JSON.
            return app.Table(name, key_type=bytes, value_type=bytes, partitions=PIPELINE_PARTITIONS)

        self.seen = table("referrals-seen")  # referral_id -> SeenReferral (admission)
        self.cases = table("cases")  # blocking key -> Block of open cases (triage)
        self.triaged = table("triaged")  # referral_id -> case_id (triage dedupe)

    # Admission ------------------------------------------------------------------------

    async def on_event(self, event: EventT, more_queued: bool = False) -> None:
        """Admit one referral; unless more are queued right behind it (and fewer than
        REMEMBER_EVERY are waiting), write the admission state decided so far."""
        if event.value is None:
            # A tombstone (erasure or retention): what admission decided before it is
            # written first, so the purge is never overwritten by a deferred write.
            await self.remember_pending()
            key = event.key if isinstance(event.key, bytes) else None
            await self._forget_referral(key, position_of(event))
            return
        position = position_of(event)
        key = event.key if isinstance(event.key, bytes) else None
        if RECTIFY_HEADER in dict(position.headers) and key is not None:
            # The referral as corrected (mash_ops.erasure rectify): it supersedes the
            # original on its topic; triage has the case already, so nothing goes on. One
            # intake has not seen is admitted as any referral: the header drops nothing.
            await self.remember_pending()
            if self.seen.get(key) is not None:
                await self._rectified_referral(key, position)
                return
        await self.on_referral(self._arrival(event, utcnow()))
        if not more_queued or len(self._to_remember) >= REMEMBER_EVERY:
            await self.remember_pending()

    async def remember_pending(self) -> None:
        """Write the admission state decided since the last call, once everything sent so
        far (the referrals' forwards, dead letters, outcomes and audits) is on the broker.

        Once for many referrals under a backlog: admission does not wait for a producer
        round trip per referral, so a backlog drains several times faster and a Red
        referral behind it reaches its lane sooner. The order that makes a crash safe is
        kept: a state is written only after its output is acknowledged; a crash before
        that repeats the work.
        """
        if not self._to_remember:
            return
        batch, self._to_remember = self._to_remember, []
        await self.publisher.flush()
        for partition, id_key, raw in batch:
            write_table(self.seen, partition, id_key, raw)
            if self._seen_pending.get(id_key, (partition, b""))[1] is raw:
                del self._seen_pending[id_key]

    def _arrival(self, event: EventT, now: datetime) -> Arrival:
        position = position_of(event)
        key = event.key if isinstance(event.key, bytes) else None
        value = event.value if isinstance(event.value, bytes) else None
        try:
            referral = self.serde.decode(value or b"", Referral)
        except SerdeError as exc:
            return Arrival(key, value, position, None, exc, Rag.GREEN)
        return Arrival(key, value, position, referral, None, lane_of(referral, self.policy, now))

    async def on_referral(self, arrival: Arrival) -> None:
        started = perf_counter()
        position, key, value = arrival.position, arrival.key, arrival.value
        sender = self.names.referral_sender(position.topic)
        if sender is None or sender not in self.rules.known_sources:
            raise RuntimeError(f"{position.topic} is not a known source system's topic")
        referral = arrival.referral
        if referral is None:
            assert arrival.error is not None
            await self._undecodable(sender, key, value, position, arrival.error)
        elif referral.source_system != sender:
            await self._sender_mismatch(sender, referral, key, value or b"", position)
        else:
            await self._admit(referral, key, value or b"", position, arrival.lane)
        self.metrics.processing.labels("admit").observe(perf_counter() - started)

    async def _undecodable(self, sender: str, key: bytes | None, value: bytes | None,
                           position: Position, exc: SerdeError) -> None:
        # The referral may still be identifiable: a body that decodes but breaks the contract.
        referral_id = self._identify(value)
        await self.publisher.dead_letter(position, key, value, exc.reason_code, str(exc),
                                         type(exc))
        self.metrics.rejections.labels(exc.reason_code).inc()
        await self.publisher.audit(AuditAction.REFERRAL_REJECTED, case_id=None,
                                   reference=referral_id, agency=sender,
                                   detail=f"{exc.reason_code} at {position}")
        if referral_id:
            problem = Problem(exc.reason_code, f"the message could not be read: {exc}")
            await self._notify_rejected(referral_id, sender, [problem], 1)

    def _identify(self, value: bytes | None) -> str | None:
        try:
            _, body = self.serde.decode_dict(value or b"", expect=Referral.avro_name)
        except SerdeError:
            return None
        referral_id = body.get("referral_id")
        return referral_id if isinstance(referral_id, str) and referral_id else None

    async def _sender_mismatch(self, sender: str, referral: Referral, key: bytes | None,
                               value: bytes, position: Position) -> None:
        """A record on one source system's topic that claims to come from another: never
        processed. The claimed sender is not told (it did not send it); the topic's owner,
        who did, gets a REJECTED naming the reason."""
        reason = "SENDER_MISMATCH"
        await self.publisher.dead_letter(
            position, key, value, reason,
            f"source_system does not name {sender}, the owner of the topic it was written to")
        self.metrics.rejections.labels(reason).inc()
        self.metrics.sender_mismatches.labels(sender).inc()
        await self.publisher.audit(AuditAction.SENDER_MISMATCH, case_id=None,
                                   reference=referral.referral_id or None, agency=sender,
                                   detail=f"security: {sender} wrote a referral naming another "
                                          f"source system, at {position}")
        if referral.referral_id:
            problem = Problem(reason, f"source_system must be {sender}: a source system may "
                                      "send referrals only in its own name")
            await self._notify_rejected(referral.referral_id, sender, [problem], 1)

    async def _admit(self, referral: Referral, key: bytes | None, value: bytes,
                     position: Position, lane: Rag) -> None:
        id_key = referral.referral_id.encode()
        pending = self._seen_pending.get(id_key)  # read our own writes not yet in the table
        raw = pending[1] if pending is not None else self.seen.get(id_key)
        seen = SeenReferral.model_validate_json(raw) if raw is not None else None
        admission = admit(referral, key, seen, self.rules, utcnow())
        if admission.verdict is Verdict.FORWARD:
            block = block_key(referral.subject, referral.referral_id).encode()
            topic = self.red_link_topic if lane is Rag.RED else self.link_topic
            await topic.send(key=block, value=value)
        elif admission.verdict is Verdict.DUPLICATE:
            self.metrics.duplicates.inc()
            await self.publisher.audit(AuditAction.REFERRAL_DUPLICATE, case_id=None,
                                       reference=referral.referral_id,
                                       detail=f"resent after rejection, at {position}")
        else:
            await self._reject(referral, key, value, position, admission)
        # Remembered once its output is on the broker (remember_pending).
        if admission.remember is not None and referral.referral_id:
            raw_state = admission.remember.model_dump_json().encode()
            self._seen_pending[id_key] = (position.partition, raw_state)
            self._to_remember.append((position.partition, id_key, raw_state))

    async def _reject(self, referral: Referral, key: bytes | None, value: bytes,
                      position: Position, admission: Admission) -> None:
        codes = ", ".join(p.code for p in admission.problems)
        await self.publisher.dead_letter(position, key, value, admission.reason_code, codes)
        self.metrics.rejections.labels(admission.reason_code).inc()
        await self.publisher.audit(
            AuditAction.REFERRAL_REJECTED, case_id=None, reference=referral.referral_id or None,
            detail=f"{admission.reason_code} #{admission.rejection_number}: {codes}")
        if referral.source_system in self.rules.known_sources and referral.referral_id:
            await self._notify_rejected(referral.referral_id, referral.source_system,
                                        admission.problems, admission.rejection_number)

    async def _notify_rejected(self, referral_id: str, recipient: str, problems: list[Problem],
                               number: int) -> None:
        note = rejected_notification(referral_id, recipient, problems, number, utcnow(),
                                     self._rule(recipient))
        await self.publisher.send(self.names.outcomes(recipient), referral_id, note)
        await self.publisher.audit(AuditAction.NOTIFICATION_SENT, case_id=None,
                                   reference=referral_id, agency=recipient,
                                   detail=f"REJECTED {note.notification_id}")

    # Erasure and retention (mash_ops.erasure) -----------------------------------------

    async def _forget_referral(self, key: bytes | None, position: Position) -> None:
        """A tombstone on a referral topic: erasure (or retention) of that referral. What
        admission remembers of it goes; nothing is dead-lettered, nobody is told."""
        if key is None or self.seen.get(key) is None:
            return
        await self.publisher.audit(AuditAction.CASE_ERASED, case_id=None, reference=key.decode(),
                                   detail=f"intake: admission state of the referral removed "
                                          f"(tombstone at {position})")
        await self.publisher.flush()  # the record of the purge first, then the purge
        del self.seen[key]

    async def _rectified_referral(self, key: bytes, position: Position) -> None:
        case_id = dict(position.headers)[RECTIFY_HEADER].decode() or None
        await self.publisher.audit(AuditAction.CASE_RECTIFIED, case_id=case_id,
                                   reference=key.decode(),
                                   detail=f"intake: the referral's corrected version supersedes "
                                          f"the original on its topic (at {position})")
        await self.publisher.flush()

    async def _relink(self, key: bytes, value: bytes, position: Position) -> None:
        """The corrected referral of a rectified case, under the corrected blocking key: the
        case joins that block with the corrected identifiers, so later referrals with the
        corrected details link to it (its old key's tombstone removes it from there)."""
        headers = dict(position.headers)
        linked = LinkedCase.model_validate_json(headers[RECTIFY_CASE_HEADER])
        referral = self.serde.decode(value, Referral)
        nhs, name_key, dob, postcode_key = identity_of(referral.subject)
        raw = self.cases.get(key)
        block = Block.model_validate_json(raw) if raw is not None else Block()
        block = block.upsert(OpenCase(
            case_id=linked.case_id, opened_at=linked.opened_at, due_at=linked.due_at,
            rag=linked.rag, nhs_number=nhs, name_key=name_key, date_of_birth=dob,
            postcode_key=postcode_key, referral_ids=linked.referral_ids))
        await self.publisher.audit(AuditAction.CASE_RECTIFIED, case_id=linked.case_id,
                                   detail=f"intake: linking state of the case corrected "
                                          f"(at {position})")
        await self.publisher.flush()  # the record of the correction first, then the state
        self.cases[key] = block.model_dump_json().encode()

    async def _forget_case(self, key: bytes, position: Position) -> None:
        """A tombstone on the link topic, keyed by the child's blocking key, naming the case in
        its ERASE_HEADER: the case leaves the block (so no later referral links to it) and
        its referrals leave the triage dedupe table."""
        case_id = dict(position.headers).get(ERASE_HEADER, b"").decode() or None
        raw = self.cases.get(key)
        if case_id is None or raw is None:
            return
        block = Block.model_validate_json(raw)
        gone = [c for c in block.cases if c.case_id == case_id]
        if not gone:
            return
        # A rectification moves the case to its corrected key (_relink) and keeps its
        # referrals in the dedupe table; an erasure forgets them.
        rectifying = RECTIFY_HEADER in dict(position.headers)
        await self.publisher.audit(
            AuditAction.CASE_RECTIFIED if rectifying else AuditAction.CASE_ERASED,
            case_id=case_id,
            detail=f"intake: linking state of the case removed from its "
                   f"{'old ' if rectifying else ''}blocking key (tombstone at {position})")
        await self.publisher.flush()
        kept = Block(cases=[c for c in block.cases if c.case_id != case_id])
        if kept.cases:
            self.cases[key] = kept.model_dump_json().encode()
        else:
            del self.cases[key]
        if rectifying:
            return
        for case in gone:
            for referral_id in case.referral_ids:
                if self.triaged.get(referral_id.encode()) is not None:
                    del self.triaged[referral_id.encode()]

    async def prune(self, owned: set[int]) -> int:
        """Retention of the linking state: remove the cases past their link window from
        every block on the partitions this worker owns, each removal audited first.
        Returns how many cases went."""
        now = utcnow()
        window = self.settings.link_window
        removed = 0
        for key, raw in list(self.cases.data.items()):
            partition = partition_for(key, PIPELINE_PARTITIONS)
            if partition not in owned:
                continue
            gone = Block.model_validate_json(raw).expired(now, window)
            if not gone:
                continue
            for case in gone:
                await self.publisher.audit(
                    AuditAction.RETENTION_PURGED, case_id=case.case_id,
                    detail="intake: linking state removed, the link window is over")
            await self.publisher.flush()  # the record of the purge first, then the purge
            if self.cases.data.get(key) != raw:
                continue  # triage changed the block meanwhile; the next sweep takes it
            kept = Block(cases=[c for c in Block.model_validate_json(raw).cases if c not in gone])
            write_table(self.cases, partition, key,
                        kept.model_dump_json().encode() if kept.cases else None)
            for case in gone:
                for referral_id in case.referral_ids:
                    if referral_id.encode() in self.triaged.data:
                        write_table(self.triaged, partition, referral_id.encode(), None)
            removed += len(gone)
        return removed

    def _rule(self, recipient: str) -> KindRule:
        return self.recipients.rule_for(self.kinds.get(recipient, ReferrerType.OTHER))

    # Triage ---------------------------------------------------------------------------

    async def on_link(self, key: bytes | None, value: bytes | None, position: Position) -> None:
        async with self.triage_lock:
            await self._on_link(key, value, position)

    async def _on_link(self, key: bytes | None, value: bytes | None, position: Position) -> None:
        started = perf_counter()
        if value is None:
            await self._forget_case(key or b"", position)
            return
        if RECTIFY_HEADER in dict(position.headers):
            await self._relink(key or b"", value, position)
            return
        # Admission wrote these bytes after decoding them: a failure here is a bug, not poison.
        referral = self.serde.decode(value or b"", Referral)
        id_key = referral.referral_id.encode()
        done = self.triaged.get(id_key)
        if done is not None:
            self.metrics.duplicates.inc()
            await self.publisher.audit(AuditAction.REFERRAL_DUPLICATE, case_id=done.decode(),
                                       reference=referral.referral_id,
                                       detail=f"already triaged, delivery at {position}")
        else:
            await self._triage(referral, key or b"", position)
        self.metrics.processing.labels("triage").observe(perf_counter() - started)

    async def _triage(self, referral: Referral, key: bytes, position: Position) -> None:
        raw = self.cases.get(key)
        block = Block.model_validate_json(raw) if raw is not None else Block()
        result = triage(referral, block, self.policy, window=self.settings.link_window, now=utcnow(),
                        rule=self._rule(referral.source_system))
        triaged, note = result.triaged, result.notification
        case_id, ref, source = triaged.case_id, referral.referral_id, referral.source_system
        # Red on its own lane: enrichment reads it beside the Amber and Green backlog.
        await self.publisher.send(self.names.triaged_for(triaged.rag), case_id, triaged)
        if note is not None:
            # Keyed by what the recipient may see: the case id only if the policy shares it.
            await self.publisher.send(self.names.outcomes(source), note.case_id or ref, note)
        audit = self.publisher.audit
        await audit(AuditAction.REFERRAL_RECEIVED, case_id=case_id, reference=ref, agency=source)
        if result.match is not None:
            await audit(AuditAction.REFERRAL_LINKED, case_id=case_id, reference=ref,
                        detail=result.match.match.value)
            self.metrics.linked.labels(result.match.match.value).inc()
        rules = ",".join(f.rule_id for f in triaged.fired_rules) or "default"
        await audit(AuditAction.REFERRAL_RATED, case_id=case_id, reference=ref,
                    detail=f"{triaged.rag.value} by {rules}; policy {triaged.policy_version}")
        if note is not None:
            await audit(AuditAction.NOTIFICATION_SENT, case_id=case_id, reference=ref, agency=source,
                        detail=f"RECEIVED {note.notification_id}")
        # The triaged record and RECEIVED must be on the broker before the state that says
        # this referral is done: otherwise a crash in between would lose them for good.
        await self.publisher.flush()
        self.cases[key] = result.block.model_dump_json().encode()
        self.triaged[ref.encode()] = case_id.encode()
        self.metrics.referrals.labels(source, triaged.rag.value).inc()
        logger.info("triaged %s into %s (%s) at %s", ref, case_id, triaged.rag.value, position)


Handler = Callable[[bytes | None, bytes | None, Position], Awaitable[None]]


def _each(handle: Handler) -> Callable[[EventT], Awaitable[None]]:
    async def one(event: EventT) -> None:
        await handle(event.key, event.value, position_of(event))
    return one


def create_app(settings: IntakeSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the app; reads and validates the roster and threshold policy (ConfigError if bad)."""
    hub = load_hub_config(settings.hub_config)
    policy = load_policy(settings.policy).with_overrides(
        *settings.due_overrides(), working_hours=settings.use_working_hours)
    rules = Rules(known_sources=frozenset(hub.source_systems), max_age_years=settings.max_age,
                  clock_skew=settings.clock_skew)
    metrics = IntakeMetrics(registry or CollectorRegistry())
    app = build_app(STAGE, settings.kafka, datadir=settings.datadir)
    recipients = load_recipient_policy(settings.recipient_policy)
    kinds = {system: entry.kind for system, entry in hub.source_systems.items()}
    intake = Intake(app, settings, policy, rules, metrics, AvroSerde(), recipients, kinds,
                    AuditKeys.from_env())
    names = settings.kafka.topics
    # One topic per source system: the topic, which only its owner may write, says who sent.
    referrals = app.topic(*[names.referrals(s) for s in sorted(hub.source_systems)],
                          key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw")

    @app.agent(referrals, concurrency=1, name="admit")
    async def admit_agent(stream: StreamT) -> None:
        queue = stream.channel.queue  # type: ignore[attr-defined]  # a topic's queue, not on ChannelT

        async def admit_one(event: EventT) -> None:
            await intake.on_event(event, more_queued=queue.qsize() > 0)

        await consume_events(stream.events(), admit_one)

    @app.agent(intake.link_topic, concurrency=1, name="triage")
    async def triage_agent(stream: StreamT) -> None:
        await consume_events(stream.events(), _each(intake.on_link))

    @app.agent(intake.red_link_topic, concurrency=1, name="triage-red")
    async def triage_red_agent(stream: StreamT) -> None:
        await consume_events(stream.events(), _each(intake.on_link))

    async def prune() -> None:
        if tables_ready(app):
            async with intake.triage_lock:  # both triage lanes write the cases table
                await intake.prune(owned_partitions(app, intake.link_topic.get_topic_name()))

    prune_guarded = guarded("the linking-state retention sweep", prune)

    @app.timer(interval=settings.prune_interval_s, name="prune-linking-state")
    async def prune_linking_state() -> None:
        await prune_guarded()

    app.intake = intake  # type: ignore[attr-defined]  # for tests and the REPL
    return app
