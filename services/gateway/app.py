"""The gateway's HTTP API (FastAPI): POST a referral, read its status and outcomes.

`create_app(settings, ...)` builds the app and connects nothing; the Kafka clients (one
producer and one outcome reader per source system, each as that source's principal) and
the idempotency store are opened in the app's lifespan and closed with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import make_asgi_app
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mash_common.contracts import OutcomeNotification, utcnow
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.services.gateway.auth import Authenticator
from mash_hub.services.gateway.metrics import GatewayMetrics
from mash_hub.services.gateway.models import (
    REFERRAL_ID_PATTERN,
    Accepted,
    Health,
    OutcomePage,
    ReferralStatus,
    ReferralSubmission,
    derived_referral_id,
)
from mash_hub.services.gateway.outcomes import OutcomeBook
from mash_hub.services.gateway.settings import GatewaySettings, SourceEntry
from mash_hub.services.gateway.store import IdempotencyStore, State, Verdict
from mash_hub.services.webkit.changes import Changes
from mash_hub.services.webkit.problems import (
    PROBLEM_JSON,
    FieldProblem,
    Problem,
    http_problem,
    problem,
    validation_problem,
)
from mash_hub.services.webkit.producer import AsyncProducer
from mash_hub.services.webkit.reader import TopicReader

logger = logging.getLogger(__name__)

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                       description="The source system's API key (one per source system)")


def _problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    titles = {400: "The body is not JSON", 401: "Missing or unknown API key", 404: "No such referral for this source",
              403: "source_system names another source system",
              409: "The referral id was used before with a different body",
              413: "The body is too large", 422: "The request is not valid",
              503: "The broker did not acknowledge the referral in time"}
    return {code: {"model": Problem, "description": titles[code],
                   "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in codes}


class Unauthorised(Exception):
    pass


def source_of(request: Request, key: Annotated[str | None, Depends(API_KEY)]) -> str:
    """The source system the request's API key belongs to (401 otherwise)."""
    source = request.app.state.gateway.auth.source_for(key)
    if source is None:
        raise Unauthorised()
    return str(source)


Source = Annotated[str, Depends(source_of)]


def no_unknown_query(request: Request) -> None:
    """A query parameter the operation does not declare is a client's mistake: say so
    (422) rather than ignore it. Its name is not echoed back."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    declared: set[str] = set()
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop()
        declared.update(p.alias for p in current.query_params)
        pending.extend(current.dependencies)
    if set(request.query_params) - declared:
        raise RequestValidationError([{"loc": ("query",), "type": "extra_forbidden"}])


class SourcePipe:
    """One source system's producer and outcome reader, both as its own principal."""

    def __init__(self, source: str, kafka: KafkaSettings, book: OutcomeBook, changes: Changes,
                 metrics: GatewayMetrics, serde: AvroSerde) -> None:
        self.source = source
        self.kafka = kafka
        self.producer = AsyncProducer(kafka, source, **{"linger.ms": 1})

        def handle(topic: str, key: bytes | None, value: bytes | None) -> None:
            if value is None:
                # A tombstone: the case or referral is erased; its outcomes go too.
                if key is not None and book.forget(source, key.decode("utf-8", errors="replace")):
                    changes.bump()
                return
            try:
                notification = serde.decode(value, OutcomeNotification)
            except SerdeError as exc:
                logger.warning("outcome for %s on %s not readable (%s); skipped", source, topic,
                               exc.reason_code)
                return
            if book.add(source, notification) is not None:
                metrics.outcomes.labels(source, notification.kind.value).inc()
                changes.bump()

        self.reader = TopicReader(kafka, f"{kafka.topic_prefix}mash-source-{source}-gateway",
                                  [kafka.topics.outcomes(source)], handle, name=f"outcomes-{source}")

    def start(self) -> None:
        self.producer.start()
        self.reader.start()

    def stop(self) -> None:
        self.reader.stop()
        self.producer.stop()

    async def produce(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> None:
        await self.producer.produce(topic, key, value, timeout_s)

    def reachable(self) -> bool:
        return self.producer.reachable(self.kafka.topics.referrals(self.source))


class Gateway:
    """What the app's handlers share while it runs."""

    def __init__(self, settings: GatewaySettings, sources: dict[str, SourceEntry],
                 metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.auth = Authenticator({s: e.api_key_sha256 for s, e in sources.items()})
        self.sources = sources
        self.book = OutcomeBook()
        self.changes = Changes()
        self.serde = AvroSerde()
        self.pipes: dict[str, SourcePipe] = {}
        self.store: IdempotencyStore | None = None
        self._in_flight: set[tuple[str, str]] = set()

    def open(self) -> None:
        self.changes.bind(asyncio.get_running_loop())
        self.store = IdempotencyStore(self.settings.datadir / "idempotency.sqlite3")
        pruned = self.store.prune(utcnow(), timedelta(days=self.settings.idempotency_retention_days))
        if pruned:
            logger.info("forgot %d idempotency entries older than %d days", pruned,
                        self.settings.idempotency_retention_days)
        for source, entry in sorted(self.sources.items()):
            pipe = SourcePipe(source, self.settings.kafka.as_principal(entry.client_config),
                              self.book, self.changes, self.metrics, self.serde)
            pipe.start()
            self.pipes[source] = pipe
            logger.info("acting for %s as %s", source, pipe.kafka.principal)

    def close(self) -> None:
        for pipe in self.pipes.values():
            pipe.stop()
        if self.store is not None:
            self.store.close()

    async def submit(self, request: Request, source: str, body: ReferralSubmission,
                     idempotency_key: str | None) -> Response:
        assert self.store is not None
        if body.source_system is not None and body.source_system != source:
            # Authenticated, but claiming to be another sender: intake would dead-letter it
            # SENDER_MISMATCH; refuse it here, where the sender can still act on it.
            self.metrics.referrals.labels(source, "forbidden").inc()
            return problem(403, "source_system is not the API key's source system",
                           "Leave source_system out, or give your own.",
                           errors=[FieldProblem(field="source_system", code="sender_mismatch")],
                           kind="/problems/sender-mismatch")
        if body.referral_id is not None:
            referral_id = body.referral_id
        elif idempotency_key:
            referral_id = derived_referral_id(source, idempotency_key)
        else:
            # Neither: a plain POST, a new referral each time (the spec says so).
            referral_id = f"{source}-{uuid.uuid4()}"
        now = utcnow()
        verdict, entry = self.store.reserve(source, referral_id, body.digest(), now)
        key = (source, referral_id)
        if verdict is Verdict.CONFLICT:
            self.metrics.referrals.labels(source, "conflict").inc()
            return problem(409, "The referral id was used before with a different body",
                           "A resend must be the same referral; a new referral needs a new id.",
                           kind="/problems/conflict")
        replay = verdict is Verdict.SAME and (entry.state is State.ACCEPTED or key in self._in_flight)
        if not replay:
            # New, or reserved by a send that never got the broker's acknowledgement.
            started = time.perf_counter()
            referral = body.to_referral(referral_id, source, entry.accepted_at)
            try:
                value = self.serde.encode(referral)
            except SerdeError:
                self.store.release(source, referral_id)
                self.metrics.referrals.labels(source, "invalid").inc()
                return problem(422, "The request is not valid",
                               "The referral does not fit the contract's schema.",
                               kind="/problems/validation")
            self._in_flight.add(key)
            try:
                await self.pipes[source].produce(self.settings.kafka.topics.referrals(source),
                                                 referral_id.encode(), value,
                                                 self.settings.delivery_timeout_s)
            except (KafkaException, BufferError, TimeoutError) as exc:
                self.store.release(source, referral_id)
                self.metrics.referrals.labels(source, "unavailable").inc()
                logger.warning("referral from %s not acknowledged by the broker (%s)", source,
                               type(exc).__name__)
                return problem(503, "The broker did not acknowledge the referral in time",
                               "Nothing was accepted; send it again.", headers={"Retry-After": "5"},
                               kind="/problems/unavailable")
            finally:
                self._in_flight.discard(key)
            self.store.accept(source, referral_id)
            self.metrics.accept_seconds.labels(source).observe(time.perf_counter() - started)
        self.metrics.referrals.labels(source, "replayed" if replay else "accepted").inc()
        url = str(request.url_for("referral_status", referral_id=referral_id))
        answer = Accepted(referral_id=referral_id, status="ACCEPTED", status_url=url,
                          accepted_at=entry.accepted_at)
        headers = {"Location": url}
        if replay:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(answer.model_dump(mode="json"), status_code=202, headers=headers)


def create_app(settings: GatewaySettings, *, sources: dict[str, SourceEntry],
               metrics: GatewayMetrics) -> FastAPI:
    gateway = Gateway(settings, sources, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.open()  # on the loop: the change signal binds to it
        logger.info("gateway ready on http://%s:%d for %d source systems", settings.host,
                    settings.port, len(gateway.pipes))
        try:
            yield
        finally:
            await asyncio.to_thread(gateway.close)

    app = FastAPI(
        title="mash-hub referral gateway",
        version="1.0.0",
        summary="Referrals into the Multi-Agency Safeguarding Hub over HTTP, and their outcomes.",
        description=(
            "Each source system has its own API key; the gateway writes its referrals to "
            "Kafka as that source system's principal and shows it only its own outcomes. "
            "POST is idempotent on referral_id (or the Idempotency-Key header). Errors are "
            "application/problem+json and never quote what was sent."),
        lifespan=lifespan,
        responses=_problem_responses(400, 422),
        dependencies=[Depends(no_unknown_query)],
    )
    app.state.gateway = gateway
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(StarletteHTTPException, http_problem)

    async def unauthorised(request: Request, exc: Exception) -> Response:
        metrics.unauthorised.inc()
        return problem(401, "Missing or unknown API key", headers={"WWW-Authenticate": "ApiKey"},
                       kind="/problems/unauthorised")

    app.add_exception_handler(Unauthorised, unauthorised)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return problem(413, "The body is too large", kind="/problems/too-large")
        response: Response = await call_next(request)
        return response

    @app.post("/v1/referrals", status_code=202, response_model=Accepted,
              responses=_problem_responses(401, 403, 409, 413, 503), tags=["referrals"],
              summary="Send a referral")
    async def post_referral(
        request: Request, body: ReferralSubmission, source: Source,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                      max_length=200)] = None,
    ) -> Response:
        """Answers 202 once the broker holds the referral. A resend (same referral_id, or
        same Idempotency-Key, and the same body) gets the same answer, also after a restart;
        a different body under the same id gets 409. With neither an id nor a key, each
        POST is a new referral with an id the gateway makes up."""
        return await gateway.submit(request, source, body, idempotency_key)

    @app.get("/v1/referrals/{referral_id}", response_model=ReferralStatus, name="referral_status",
             responses=_problem_responses(401, 404), tags=["referrals"],
             summary="A referral's status and outcomes")
    async def referral_status(
        source: Source, referral_id: Annotated[str, Path(pattern=REFERRAL_ID_PATTERN)],
    ) -> Response:
        assert gateway.store is not None
        entry = gateway.store.get(source, referral_id)
        if entry is None:
            return problem(404, "No such referral for this source", kind="/problems/not-found")
        case_id, outcomes = gateway.book.for_referral(source, referral_id)
        status = ReferralStatus(referral_id=referral_id, accepted_at=entry.accepted_at,
                                status=outcomes[-1].kind.value if outcomes else "ACCEPTED",
                                case_id=case_id, outcomes=outcomes)
        return JSONResponse(status.model_dump(mode="json"))

    @app.get("/v1/outcomes", response_model=OutcomePage, tags=["outcomes"],
             responses=_problem_responses(401), summary="This source's outcomes, by polling")
    async def outcomes(source: Source,
                       after: Annotated[int, Query(ge=0, description="Last sequence seen")] = 0,
                       ) -> OutcomePage:
        found = gateway.book.after(source, after)
        return OutcomePage(outcomes=found, next_after=found[-1].sequence if found else after)

    @app.get("/v1/outcomes/stream", tags=["outcomes"], responses={
        200: {"description": "Server-sent events: one `outcome` event per notification, its id "
                             "the sequence (reconnect with Last-Event-ID to resume)",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **_problem_responses(401)}, response_class=Response, summary="This source's outcomes, pushed")
    async def outcome_stream(
        source: Source,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,12}$")] = None,
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        position = int(last_event_id) if last_event_id else (after or 0)

        async def events() -> AsyncIterator[dict[str, str]]:
            nonlocal position
            metrics.streams.inc()
            try:
                while True:
                    # Read the version first: a change between it and the read is not missed.
                    seen = gateway.changes.version
                    for outcome in gateway.book.after(source, position):
                        position = outcome.sequence
                        yield {"event": "outcome", "id": str(outcome.sequence),
                               "data": json.dumps(outcome.model_dump(mode="json"))}
                    await gateway.changes.wait(seen, 15)
            finally:
                metrics.streams.dec()

        return EventSourceResponse(events(), ping=15)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], responses={
        503: {"model": Health, "description": "Not ready: the broker cannot be reached"}},
        summary="Ready to accept referrals")
    async def readyz() -> Response:
        reachable = await asyncio.to_thread(
            lambda: {s: p.reachable() for s, p in gateway.pipes.items()})
        detail = {f"{s}.broker": ok for s, ok in reachable.items()}
        detail.update({f"{s}.outcomes": p.reader.ready for s, p in gateway.pipes.items()})
        ok = bool(detail) and all(detail.values())
        return JSONResponse(Health(status="ready" if ok else "not ready", detail=detail).model_dump(),
                            status_code=200 if ok else 503)

    app.mount("/metrics", make_asgi_app(registry=metrics.registry))
    return app
