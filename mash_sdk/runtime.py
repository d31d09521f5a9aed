"""The adapter runtime: consume an agency's requests Red first, call the handler, answer.

One consumer reads the agency's three request topics. Messages are sorted into a small
buffer per RAG and served most urgent first; Amber and Green partitions are paused while
Red has work or their buffer is full, so a Red request never queues behind a Green backlog
(it waits at most for the request in hand and one broker long-poll).

Delivery is at-least-once: a request's offset is committed only after its response (or its
dead letter) is acknowledged by the broker. A crash in between re-serves the request; the
hub deduplicates responses by request_id.

Supersession (#19). When the hub re-rates a case it re-sends each pending request as its
next `revision` (same request_id) on the new RAG's topic, and puts a notice (`superseded`)
on the old one. The runtime remembers the highest revision it has seen of each request: a
lower revision met later (the old request, still queued behind a Green backlog) is never
answered, and neither is a notice; the handler's `superseded` hook is told once. A revision
of a request this adapter has already answered is answered from the answer cache, without
calling the handler again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import CollectorRegistry

from mash_common.contracts import (
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    utcnow,
)
from mash_common.deadletters import error_headers, failure_name
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_sdk.answer import Answer, Handler, SupersessionHandler, WithdrawalHandler
from mash_sdk.errors import AdapterError, DropRequest, TransientError
from mash_sdk.health import HealthServer
from mash_sdk.metrics import AdapterMetrics
from mash_sdk.priority import backoff_s, next_rag, rags_to_pause
from mash_sdk.settings import AdapterSettings

logger = logging.getLogger(__name__)

# How long a lower-priority request may wait for Red requests the broker reports but the
# consumer has not fetched yet. Bounds the damage of a stale cached watermark.
RED_PENDING_MAX_WAIT_S = 1.0
LAG_REFRESH_S = 2.0
CONSUME_BATCH = 50


def where(msg: Message) -> str:
    """A message's position: the only thing about it a log line may name."""
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


class Adapter:
    """Runs one agency's handler against its request topics until stop() or SIGTERM.

    `run()` blocks (call it from main, or use `start_in_thread()`); `stop()` is safe from any
    thread or a signal handler: the request in hand is finished, answered and committed.
    """

    def __init__(
        self,
        settings: AdapterSettings,
        handler: Handler,
        *,
        registry: CollectorRegistry | None = None,
        metrics: AdapterMetrics | None = None,
        serde: AvroSerde | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_withdrawal: WithdrawalHandler | None = None,
        on_superseded: SupersessionHandler | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        withdraw = getattr(handler, "withdraw", None)
        self.on_withdrawal: WithdrawalHandler | None = on_withdrawal or (
            withdraw if callable(withdraw) else None)
        superseded = getattr(handler, "superseded", None)
        self.on_superseded: SupersessionHandler | None = on_superseded or (
            superseded if callable(superseded) else None)
        self.metrics = metrics or AdapterMetrics(registry or CollectorRegistry())
        self.serde = serde or AvroSerde()
        self._sleep = sleep
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.failure: BaseException | None = None
        topics = settings.kafka.topics
        self._rag_of: dict[str, Rag] = {topics.requests(settings.agency, r): r for r in Rag}
        self._topic_of: dict[Rag, str] = {r: t for t, r in self._rag_of.items()}
        self._responses_topic = topics.responses(settings.agency)
        self._deadletter_topic = topics.deadletter
        self._responder = Responder(name=settings.responder_name, role=settings.responder_role)
        self._buffers: dict[Rag, deque[Message]] = {r: deque() for r in Rag}
        self._assigned: set[tuple[str, int]] = set()
        self._paused: set[Rag] = set()
        self._last_poll = 0.0
        self._red_wait_since: float | None = None
        self._lag_refreshed = 0.0
        self._answers: OrderedDict[str, InformationResponse] = OrderedDict()
        # request_id -> the highest revision seen, and whether the handler heard of a
        # supersession of it (bounded like the answer cache).
        self._revisions: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._health: HealthServer | None = None

    # Lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run_catching, name=f"adapter-{self.settings.agency}",
                                  daemon=True)
        thread.start()
        return thread

    def _run_catching(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # recorded for the owner of the thread to inspect
            self.failure = exc
            logger.error("adapter %s stopped: %s", self.settings.agency, exc)

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): assigned partitions and a poll within health_max_poll_age_s."""
        agency = self.settings.agency
        if not self._assigned:
            return False, f"{agency}: no partitions assigned"
        age = time.monotonic() - self._last_poll
        if age > self.settings.health_max_poll_age_s:
            return False, f"{agency}: last poll {age:.0f}s ago"
        return True, f"{agency}: {len(self._assigned)} partitions, polled {age:.1f}s ago"

    def run(self) -> None:
        s = self.settings
        self._consumer = Consumer(s.kafka.confluent_config(**{
            "group.id": s.consumer_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": s.fetch_wait_max_ms,
            # A small prefetch queue lets a pause take effect quickly.
            "queued.max.messages.kbytes": 2048,
            "topic.metadata.refresh.interval.ms": 5000,
        }))
        self._producer = Producer(s.kafka.producer_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 0,
        }))
        if s.health_port:
            self._health = HealthServer(self.metrics.registry, s.health_host, s.health_port)
            self._health.add_check(self.health)
            self._health.start()
        self._consumer.subscribe(list(self._rag_of), on_assign=self._on_assign,
                                 on_revoke=self._on_revoke)
        logger.info("adapter %s consuming %s as group %s", s.agency, ", ".join(self._rag_of),
                    s.consumer_group)
        try:
            while not self._stop.is_set():
                self._step()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        logger.info("adapter %s shutting down", self.settings.agency)
        if self._producer is not None:
            self._producer.flush(self.settings.delivery_timeout_s)
        if self._consumer is not None:
            self._consumer.close()  # leaves the group; only answered requests were committed
        if self._health is not None:
            self._health.stop()
        if self._loop is not None:
            self._loop.close()
        self._assigned.clear()
        self.stopped.set()

    # Rebalance ----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = {(p.topic, p.partition) for p in partitions}
        self._paused.clear()  # a fresh assignment starts unpaused
        # Assignment is delivered inside poll(): the adapter is polling now, and /healthz
        # must not report "never polled" between this callback and poll() returning.
        self._last_poll = time.monotonic()
        logger.info("adapter %s assigned %d partitions", self.settings.agency, len(partitions))
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        # Unanswered buffered requests are not committed: the new owner serves them.
        for rag, buf in self._buffers.items():
            self._buffers[rag] = deque(m for m in buf if (m.topic(), m.partition()) not in revoked)
        self._assigned -= revoked
        logger.info("adapter %s revoked %d partitions", self.settings.agency, len(partitions))

    # The loop -----------------------------------------------------------------------------

    def _step(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        busy = any(self._buffers.values())
        msgs = consumer.consume(CONSUME_BATCH, 0 if busy else self.settings.poll_timeout_s)
        self._last_poll = time.monotonic()
        for msg in msgs:
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise AdapterError(f"fatal consumer error: {error.str()}")
                logger.warning("consumer error on %s: %s", msg.topic(), error.str())
                continue
            self._buffers[self._rag_of[msg.topic()]].append(msg)
        self._apply_pauses()
        if self._last_poll - self._lag_refreshed > LAG_REFRESH_S:
            self._refresh_lag()
        counts = {r: len(b) for r, b in self._buffers.items()}
        red_pending = False
        if counts[Rag.RED] == 0 and (counts[Rag.AMBER] or counts[Rag.GREEN]):
            red_pending = self._red_pending()
        rag = next_rag(counts, red_pending)
        if rag is None:
            return
        self._handle_message(self._buffers[rag].popleft(), rag)

    def _partitions(self, rag: Rag) -> list[TopicPartition]:
        topic = self._topic_of[rag]
        return [TopicPartition(t, p) for t, p in sorted(self._assigned) if t == topic]

    def _apply_pauses(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        want = rags_to_pause({r: len(b) for r, b in self._buffers.items()},
                             self.settings.lower_priority_buffer)
        for rag in want - self._paused:
            if parts := self._partitions(rag):
                consumer.pause(parts)
        for rag in self._paused - want:
            if parts := self._partitions(rag):
                consumer.resume(parts)
        self._paused = want

    def _broker_lag(self, rag: Rag) -> int:
        """Messages on the broker past our fetch position, from cached watermarks (no I/O)."""
        consumer = self._consumer
        assert consumer is not None
        parts = self._partitions(rag)
        if not parts:
            return 0
        lag = 0
        for tp in consumer.position(parts):
            if tp.offset < 0:  # nothing fetched yet on this partition: position unknown
                continue
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                lag += max(0, high - tp.offset)
        return lag

    def _red_pending(self) -> bool:
        if self._broker_lag(Rag.RED) == 0:
            self._red_wait_since = None
            return False
        now = time.monotonic()
        if self._red_wait_since is None:
            self._red_wait_since = now
        return now - self._red_wait_since < RED_PENDING_MAX_WAIT_S

    def _refresh_lag(self) -> None:
        self._lag_refreshed = time.monotonic()
        for rag in Rag:
            self.metrics.lag.labels(self.settings.agency, rag.value).set(
                self._broker_lag(rag) + len(self._buffers[rag]))

    # One request --------------------------------------------------------------------------

    def _handle_message(self, msg: Message, rag: Rag) -> None:
        agency = self.settings.agency
        value = msg.value()
        if value is None and msg.key() is not None:
            # A tombstone: the hub erased the case. Forget any answer kept for its chases.
            case_id = (msg.key() or b"").decode("utf-8", errors="replace")
            for request_id in [r for r, a in self._answers.items() if a.case_id == case_id]:
                del self._answers[request_id]
            self._commit(msg)
            return
        try:
            request = self.serde.decode(value or b"", InformationRequest)
        except SerdeError as exc:
            self._dead_letter(msg, exc.reason_code, str(exc), type(exc))
            return
        if request.agency != agency:
            self._dead_letter(msg, "WRONG_AGENCY",
                              "request addressed to another agency; not answered")
            return
        if request.withdrawn:
            self._withdraw(request, msg)
            self._commit(msg)
            return
        if self._is_superseded(request):
            self._supersede(request, msg)
            self._commit(msg)
            return
        response = self._respond(request, rag, msg)
        if response is not None:
            self._deliver(self._responses_topic, request.case_id.encode(),
                          self.serde.encode(response), msg)
            self.metrics.requests.labels(agency, rag.value, response.status.value).inc()
        self._commit(msg)

    def _is_superseded(self, request: InformationRequest) -> bool:
        """Whether this is a notice, or a revision lower than one already seen; remembers
        the highest revision either way."""
        seen, told = self._revisions.get(request.request_id, (-1, False))
        self._revisions[request.request_id] = (max(seen, request.revision), told)
        self._revisions.move_to_end(request.request_id)
        while len(self._revisions) > max(1000, self.settings.answer_cache_size):
            self._revisions.popitem(last=False)
        return request.superseded or request.revision < seen

    def _supersede(self, request: InformationRequest, msg: Message) -> None:
        """A superseded revision: never answered; the handler is told once per request."""
        agency = self.settings.agency
        self.metrics.superseded.labels(agency).inc()
        revision, told = self._revisions[request.request_id]
        logger.info("request %s revision %d at %s superseded by the hub's re-rating; not "
                    "answered here", request.request_id, request.revision, where(msg))
        if told or self.on_superseded is None:
            return
        self._revisions[request.request_id] = (revision, True)
        try:
            self.on_superseded(request)
        except Exception as exc:  # the text may quote the agency's data: its type only
            logger.error("request %s at %s: superseded hook raised %s", request.request_id,
                         where(msg), type(exc).__name__)

    def _respond(self, request: InformationRequest, rag: Rag,
                 msg: Message) -> InformationResponse | None:
        agency = self.settings.agency
        if request.revision > 0 and not request.is_chase:
            cached = self._answers.get(request.request_id)
            if cached is not None:
                # Re-rated after this adapter answered: the answer stands, at the new RAG.
                logger.info("request %s revision %d at %s already answered; re-sending that "
                            "answer", request.request_id, request.revision, where(msg))
                return cached
        if request.is_chase:
            cached = self._answers.get(request.request_id)
            self.metrics.chases.labels(agency, "cache" if cached else "handler").inc()
            if cached is not None:
                logger.info("chase %s at %s: re-sending the earlier answer",
                            request.request_id, where(msg))
                return cached
        self.metrics.queue_wait.labels(agency, rag.value).observe(
            max(0.0, (utcnow() - request.requested_at).total_seconds()))
        started = time.monotonic()
        try:
            answer = self._call_handler(request, msg)
        except DropRequest:
            self.metrics.dropped.labels(agency).inc()
            logger.info("request %s at %s deliberately left unanswered", request.request_id,
                        where(msg))
            return None
        finally:
            self.metrics.handler_latency.labels(agency, rag.value).observe(
                time.monotonic() - started)
        response = InformationResponse(
            request_id=request.request_id,
            case_id=request.case_id,
            agency=agency,
            responded_at=utcnow(),
            status=answer.status,
            reason=answer.reason,
            records=answer.records,
            responder=self._responder,
        )
        self._remember(response)
        return response

    def _withdraw(self, request: InformationRequest, msg: Message) -> None:
        """The hub withdrew a request: never answer it; tell the handler, forget any answer."""
        agency = self.settings.agency
        self._answers.pop(request.request_id, None)
        self.metrics.withdrawals.labels(agency).inc()
        if self.on_withdrawal is None:
            logger.info("request %s at %s withdrawn by the hub; the handler has no withdraw "
                        "hook", request.request_id, where(msg))
            return
        try:
            self.on_withdrawal(request)
        except Exception as exc:  # the text may quote the agency's data: its type only
            logger.error("request %s at %s: withdraw hook raised %s", request.request_id,
                         where(msg), type(exc).__name__)
        else:
            logger.info("request %s at %s withdrawn by the hub; handler told", request.request_id,
                        where(msg))

    def _remember(self, response: InformationResponse) -> None:
        if self.settings.answer_cache_size == 0:
            return
        self._answers[response.request_id] = response
        self._answers.move_to_end(response.request_id)
        while len(self._answers) > self.settings.answer_cache_size:
            self._answers.popitem(last=False)

    def _call_handler(self, request: InformationRequest, msg: Message) -> Answer:
        """The handler's Answer; TransientError retried with backoff; any failure -> ERROR."""
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            try:
                result: Any = self.handler(request)
                if inspect.isawaitable(result):
                    result = self._event_loop().run_until_complete(result)
            except DropRequest:
                raise
            except TransientError as exc:
                if attempt == s.max_attempts:
                    logger.warning("request %s at %s: transient failure persisted after %d "
                                   "attempts (%s)", request.request_id, where(msg), attempt,
                                   type(exc).__name__)
                    return Answer.error(f"agency system unavailable after {attempt} attempts")
                delay = backoff_s(attempt, s.backoff_initial_s, s.backoff_max_s)
                self.metrics.retries.labels(s.agency, "handler").inc()
                logger.info("request %s at %s: transient failure, retry %d in %.2fs",
                            request.request_id, where(msg), attempt, delay)
                self._sleep(delay)
                continue
            except Exception as exc:  # any handler bug becomes an ERROR answer, never a drop
                # The exception text may quote the agency's data: log and answer its type only.
                logger.error("request %s at %s: handler raised %s", request.request_id,
                             where(msg), type(exc).__name__)
                return Answer.error(f"adapter handler failed ({type(exc).__name__})")
            if not isinstance(result, Answer):
                logger.error("request %s at %s: handler returned %s, not an Answer",
                             request.request_id, where(msg), type(result).__name__)
                return Answer.error("adapter handler returned no answer")
            return result
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    # Output -------------------------------------------------------------------------------

    def _dead_letter(self, msg: Message, reason_code: str, error: str,
                     exception: type[BaseException] | None = None) -> None:
        """DeadLetter value; the original's headers and timestamp; Kafka Connect's error
        headers (mash_common.deadletters). error holds no personal data."""
        logger.warning("dead-lettering %s: %s", where(msg), reason_code)
        letter = DeadLetter(
            topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
            key=msg.key(), value=msg.value(), stage=f"adapter.{self.settings.agency}",
            error=error, at=utcnow(), reason_code=reason_code,
        )
        headers = error_headers(
            msg.headers(), topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
            stage=letter.stage, exception_class=failure_name(exception, reason_code),
            message=error,
        )
        kind, timestamp_ms = msg.timestamp()
        self._deliver(self._deadletter_topic, msg.key(), self.serde.encode(letter), msg,
                      headers=headers,
                      timestamp_ms=timestamp_ms if kind != TIMESTAMP_NOT_AVAILABLE else None)
        self.metrics.deadletters.labels(self.settings.agency, reason_code).inc()
        self.metrics.dead_letters.labels(f"adapter.{self.settings.agency}", reason_code).inc()
        self._commit(msg)

    def _deliver(self, topic: str, key: bytes | None, value: bytes, source: Message,
                 headers: list[tuple[str, bytes]] | None = None,
                 timestamp_ms: int | None = None) -> None:
        """Produce and wait for the broker's acknowledgement, retrying with backoff."""
        producer = self._producer
        assert producer is not None
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            outcome: list[KafkaError | None] = []

            def on_delivery(err: KafkaError | None, _msg: Message, box: list[Any] = outcome) -> None:
                box.append(err)

            try:
                extra: dict[str, Any] = {}
                if headers:
                    extra["headers"] = headers
                if timestamp_ms is not None:
                    extra["timestamp"] = timestamp_ms
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                producer.flush(s.delivery_timeout_s)
            except (KafkaException, BufferError) as exc:
                outcome.append(KafkaError(KafkaError._FAIL, type(exc).__name__))
            if outcome and outcome[0] is None:
                return
            err = outcome[0] if outcome else None
            detail = err.str() if err is not None else "no delivery report"
            if attempt == s.max_attempts:
                raise AdapterError(f"cannot deliver to {topic} for {where(source)} after "
                                   f"{attempt} attempts: {detail}")
            self.metrics.retries.labels(s.agency, "produce").inc()
            delay = backoff_s(attempt, s.backoff_initial_s, s.backoff_max_s)
            logger.warning("delivery to %s for %s failed (%s); retry in %.2fs", topic,
                           where(source), detail, delay)
            self._sleep(delay)

    def _commit(self, msg: Message) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            consumer.commit(offsets=[TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)],
                            asynchronous=False)
        except KafkaException as exc:
            # A rebalance took the partition: the new owner re-serves it, and the hub
            # deduplicates the second answer by request_id.
            logger.warning("commit of %s failed (%s); it will be served again", where(msg),
                           exc.args[0].str() if exc.args else exc)

