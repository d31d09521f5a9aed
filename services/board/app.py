"""The board's web app (FastAPI, Jinja2 pages, server-sent events).

`create_app(settings, ...)` connects nothing; the lifespan starts the reader (as the board's
own principal, replaying the topics it shows) and one producer per agency that answers on
the response page (each as that agency's own principal). Pages render from JSON endpoints
and refetch them when the live stream says the board changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import make_asgi_app
from sse_starlette.sse import EventSourceResponse
from starlette.middleware.sessions import SessionMiddleware

from mash_common.contracts import (
    AgencyRecord,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    utcnow,
)
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.services.board.logic import (
    Board,
    case_view,
    find_request,
    pending_requests,
    staff_view,
    wall_view,
)
from mash_hub.services.board.metrics import BoardMetrics
from mash_hub.services.board.settings import AccessFile, BoardSettings
from mash_hub.services.board.users import Role, User, check_password
from mash_hub.services.webkit.changes import Changes
from mash_hub.services.webkit.producer import AsyncProducer
from mash_hub.services.webkit.reader import TopicReader

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
SHOWN = ("TriagedReferral", "InformationRequest", "InformationResponse", "AssembledCase", "Decision")


def board_topics(kafka: KafkaSettings, agencies: list[str]) -> list[str]:
    """Exactly what the board principal may read (mash_common.access)."""
    names = kafka.topics
    return [*names.triaged_lanes, *[names.requests(a, rag) for a in agencies for rag in Rag],
            *[names.responses(a) for a in agencies], names.assembled, names.decisions]


class Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


class Forbidden(Exception):
    pass


class Runtime:
    """What the handlers share while the app runs."""

    def __init__(self, settings: BoardSettings, access: AccessFile, agencies: list[str],
                 metrics: BoardMetrics) -> None:
        self.settings = settings
        self.access = access
        self.agencies = agencies
        self.metrics = metrics
        self.board = Board()
        self.lock = threading.Lock()
        self.changes = Changes()
        self.serde = AvroSerde()
        self.answered_here: set[str] = set()
        self.responders: dict[str, AsyncProducer] = {}
        self.reader = TopicReader(settings.kafka, f"{settings.kafka.topic_prefix}mash-board-{uuid.uuid4().hex[:8]}",
                                  board_topics(settings.kafka, agencies), self._handle, name="board-reader")

    def _handle(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            # A tombstone: the case is erased (mash_ops.erasure); it leaves the board too.
            if key is not None:
                with self.lock:
                    forgot = self.board.forget(key.decode("utf-8", errors="replace"))
                if forgot:
                    self.changes.bump()
            return
        try:
            record = self.serde.decode_any(value)
        except SerdeError:
            self.metrics.unreadable.inc()
            return
        name = type(record).__name__
        if name not in SHOWN:
            return
        with self.lock:
            changed = self.board.apply(record)
        self.metrics.records.labels(name, str(changed).lower()).inc()
        if changed:
            self.changes.bump()

    def open(self) -> None:
        self.changes.bind(asyncio.get_running_loop())
        self.reader.start()
        for agency, entry in sorted(self.access.agencies.items()):
            kafka = self.settings.kafka.as_principal(entry.client_config)
            self.responders[agency] = AsyncProducer(kafka, f"answers-{agency}").start()
            logger.info("the response page answers for %s as %s", agency, kafka.principal)

    def close(self) -> None:
        self.reader.stop()
        for producer in self.responders.values():
            producer.stop()

    def view(self, role: Role) -> dict[str, Any]:
        now = utcnow()
        with self.lock:
            view = staff_view(self.board, now) if role is Role.STAFF else wall_view(self.board, now)
        for rag, count in view["counts"].items():
            self.metrics.open_cases.labels(rag).set(count)
        return view


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def create_app(settings: BoardSettings, *, access: AccessFile, agencies: list[str],
               metrics: BoardMetrics) -> FastAPI:
    runtime = Runtime(settings, access, agencies, metrics)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.open()
        logger.info("board ready on http://%s:%d reading as %s", settings.host, settings.port,
                    settings.kafka.principal)
        try:
            yield
        finally:
            await asyncio.to_thread(runtime.close)

    app = FastAPI(title="mash-hub case board", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.runtime = runtime
    secret = settings.session_secret.get_secret_value() or secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="mash_board",
                       max_age=int(settings.session_hours * 3600), same_site="strict",
                       https_only=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/metrics", make_asgi_app(registry=metrics.registry))

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        if request.url.path.startswith("/api/") or request.url.path == "/events":
            return JSONResponse({"detail": "log in first"}, status_code=401)
        return RedirectResponse(exc.to, status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return HTMLResponse("<h1>Not for this login</h1>", status_code=403)

    app.add_exception_handler(Redirect, to_login)
    app.add_exception_handler(Forbidden, forbidden)

    def user_of(request: Request, *roles: Role) -> tuple[str, User]:
        name = request.session.get("user")
        user = access.users.get(name) if isinstance(name, str) else None
        if user is None or not isinstance(name, str):
            raise Redirect("/login")
        if roles and user.role not in roles:
            raise Forbidden()
        return name, user

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return token

    def page(request: Request, template: str, user: User | None, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {"user": user, "csrf": csrf(request), **context})

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, failed=False)

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        user = access.users.get(name)
        ok = user is not None and await asyncio.to_thread(check_password, password, user.password_scrypt)
        metrics.logins.labels("ok" if ok else "refused").inc()
        if not ok or user is None:
            return page(request, "login.html", None, failed=True)
        request.session.clear()
        request.session["user"] = name
        return RedirectResponse("/agency" if user.role is Role.AGENCY else "/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    async def board_page(request: Request) -> Response:
        _, user = user_of(request)
        if user.role is Role.AGENCY:
            return RedirectResponse("/agency", status_code=303)
        return page(request, "board.html", user, wall=user.role is Role.WALL)

    @app.get("/api/board")
    async def board_data(request: Request) -> JSONResponse:
        _, user = user_of(request, Role.STAFF, Role.WALL)
        return JSONResponse({**runtime.view(user.role), "broker": runtime.reader.ready})

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: str) -> Response:
        _, user = user_of(request, Role.STAFF)
        return page(request, "case.html", user, case_id=case_id)

    @app.get("/api/cases/{case_id}")
    async def case_data(request: Request, case_id: str) -> JSONResponse:
        user_of(request, Role.STAFF)
        with runtime.lock:
            view = case_view(runtime.board, case_id, utcnow())
        if view is None:
            return JSONResponse({"detail": "no such case"}, status_code=404)
        return JSONResponse({**view, "now": utcnow().isoformat(), "broker": runtime.reader.ready})

    @app.get("/events")
    async def events(request: Request) -> Response:
        _, user = user_of(request)

        async def stream() -> AsyncIterator[dict[str, str]]:
            metrics.live_clients.labels(user.role.value).inc()
            try:
                seen = -1
                while True:
                    # Every change, and a heartbeat that carries the broker's state.
                    yield {"event": "changed",
                           "data": json.dumps({"version": runtime.changes.version,
                                               "broker": runtime.reader.ready})}
                    seen = runtime.changes.version
                    await runtime.changes.wait(seen, 5)
                    await asyncio.sleep(0.05)  # coalesce a burst of records into one refetch
            finally:
                metrics.live_clients.labels(user.role.value).dec()

        return EventSourceResponse(stream(), ping=15)

    @app.get("/agency", response_class=HTMLResponse)
    async def agency_page(request: Request) -> Response:
        _, user = user_of(request, Role.AGENCY)
        return page(request, "agency.html", user, answered=request.query_params.get("answered"))

    @app.get("/api/agency/requests")
    async def agency_requests(request: Request) -> JSONResponse:
        _, user = user_of(request, Role.AGENCY)
        assert user.agency is not None
        now = utcnow()
        with runtime.lock:
            found = pending_requests(runtime.board, user.agency, now, runtime.answered_here)
        return JSONResponse({"now": now.isoformat(), "agency": user.agency, "requests": found,
                             "broker": runtime.reader.ready})

    def request_for(user: User, request_id: str) -> InformationRequest:
        assert user.agency is not None
        with runtime.lock:
            found = find_request(runtime.board, user.agency, request_id)
        if found is None:
            raise Forbidden()  # not this agency's, or not known
        return found

    @app.get("/agency/requests/{request_id}", response_class=HTMLResponse)
    async def answer_form(request: Request, request_id: str) -> Response:
        _, user = user_of(request, Role.AGENCY)
        req = request_for(user, request_id)
        return page(request, "answer.html", user, req=req, problems=[])

    @app.post("/agency/requests/{request_id}", response_model=None)
    async def answer(request: Request, request_id: str) -> Response:
        _, user = user_of(request, Role.AGENCY)
        req = request_for(user, request_id)
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), csrf(request)):
            raise Forbidden()
        problems: list[str] = []
        try:
            status = ResponseStatus(str(form.get("status", "")))
        except ValueError:
            status = ResponseStatus.ERROR
            problems.append("Choose whether you found records, know nothing, or decline.")
        records = []
        for index, category in enumerate(req.data_categories):
            summaries = form.getlist(f"summary-{index}")
            dates = form.getlist(f"date-{index}")
            references = form.getlist(f"reference-{index}")
            flags = {str(v) for v in form.getlist(f"risk-{index}")}
            for row, summary in enumerate(summaries):
                text = str(summary).strip()
                if not text:
                    continue
                when = str(dates[row]) if row < len(dates) else ""
                reference = (str(references[row]).strip() if row < len(references) else "") or f"{category}-{row + 1}"
                if when and _parse_date(when) is None:
                    problems.append(f"{category}, record {row + 1}: the date is not a date.")
                records.append(AgencyRecord(category=category, summary=text, date=_parse_date(when),
                                            risk_flag=str(row) in flags, reference=reference))
        reason = str(form.get("reason", "")).strip() or None
        if status is ResponseStatus.FOUND and not records:
            problems.append("You said records were found: add at least one, under its category.")
        if status is ResponseStatus.DECLINED and not reason:
            problems.append("Say why you decline to share.")
        if status is not ResponseStatus.FOUND and records:
            problems.append("Records go with 'records found' only.")
        if problems:
            return page(request, "answer.html", user, req=req, problems=problems)
        assert user.agency is not None
        response = InformationResponse(
            request_id=req.request_id, case_id=req.case_id, agency=user.agency, responded_at=utcnow(),
            status=status, reason=reason, records=records,
            responder=Responder(name=user.name, role=user.job_role), response_id=uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            # Keyed by case_id (murmur2, as every producer): enrichment's state is there.
            await runtime.responders[user.agency].produce(
                settings.kafka.topics.responses(user.agency), req.case_id.encode(),
                runtime.serde.encode(response), settings.delivery_timeout_s)
        except (KafkaException, BufferError, TimeoutError) as exc:
            logger.warning("answer for %s not acknowledged by the broker (%s)", user.agency,
                           type(exc).__name__)
            return page(request, "answer.html", user, req=req,
                        problems=["The hub did not receive the answer (its broker did not "
                                  "acknowledge it). Nothing was sent; try again."])
        metrics.answer_seconds.observe(time.perf_counter() - started)
        metrics.answers.labels(user.agency, status.value).inc()
        runtime.answered_here.add(req.request_id)
        runtime.changes.bump()
        return RedirectResponse(f"/agency?answered={req.case_id}", status_code=303)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        detail = {"reader": runtime.reader.ready}
        detail.update(await asyncio.to_thread(lambda: {
            f"answers.{a}": p.reachable(settings.kafka.topics.responses(a))
            for a, p in runtime.responders.items()}))
        ok = all(detail.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "detail": detail},
                            status_code=200 if ok else 503)

    return app



