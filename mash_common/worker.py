"""`run_worker`: the one way every stream-processing service's `__main__` starts.

Settings are built and logging configured by the caller (they are the service's own); this
validates the configuration by building the app (a ConfigError names the file and line and
exits 2 before anything connects), starts /metrics with /healthz and /readyz beside it
(see WorkerProbes), turns faust's own web server off unless
the service asked for it, creates the service's internal topics before its worker joins the
group, and runs the worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Callable, Mapping
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted
from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.metrics import serve_metrics
from mash_common.settings import KafkaSettings
from mash_common.streams import ensure_internal_topics

EXIT_CONFIG = 2


class WorkerProbes:
    """Liveness and readiness of one faust worker, asked of its own event loop.

    Each probe runs a tiny coroutine on the worker's loop (faust's state is only safe to
    read there) and waits at most `timeout` seconds: a loop that cannot answer in time is
    blocked, and the worker is not alive. Ready means the worker has partitions assigned, no
    rebalance is under way and its tables have recovered from their changelogs; a worker of a
    group with more members than partitions stays alive but not ready.
    """

    def __init__(self, app: faust.App, *, timeout: float = 5.0) -> None:
        self._app = app
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        app.task(self._attach)

    async def _attach(self) -> None:
        self._loop = asyncio.get_running_loop()

    def _ask(self, question: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any] | None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return None

        async def ask() -> Mapping[str, Any]:
            return question()

        future = asyncio.run_coroutine_threadsafe(ask(), loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def alive(self) -> tuple[bool, Mapping[str, Any]]:
        try:
            state = self._ask(lambda: {"crashed": self._app.crashed})
        except concurrent.futures.TimeoutError:
            return False, {"event_loop": f"no answer within {self._timeout:g} s"}
        if state is None:
            return True, {"worker": "starting"}
        return not state["crashed"], dict(state)

    def _state(self) -> Mapping[str, Any]:
        app = self._app
        try:
            assigned = len(app.consumer.assignment())
        except ConsumerNotStarted:  # the worker's tasks run before its consumer has started
            assigned = 0
        return {
            "crashed": app.crashed,
            "partitions_assigned": assigned,
            "rebalancing": bool(app.rebalancing),
            # TableManager has `recovery`; faust's TableManagerT interface does not declare it.
            "tables_recovered": (app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
                                 and not app.in_recovery),
        }

    def ready(self) -> tuple[bool, Mapping[str, Any]]:
        try:
            state = self._ask(self._state)
        except concurrent.futures.TimeoutError:
            return False, {"event_loop": f"no answer within {self._timeout:g} s"}
        if state is None:
            return False, {"worker": "starting"}
        ok = (not state["crashed"] and state["partitions_assigned"] > 0
              and not state["rebalancing"] and state["tables_recovered"])
        return ok, dict(state)


def worker_argv(argv: list[str], web_port: int | None, log_level: str) -> list[str]:
    """Faust's `worker` command turns its web server on (0.0.0.0:6066) whatever the app's
    settings say, and logs at WARN (hiding "[^Worker]: Ready"); the service's settings decide
    both unless the command line does."""
    args = list(argv)
    if "worker" not in args:
        return args
    at = args.index("worker") + 1
    if not any(a.startswith(("--with-web", "--without-web", "--web-port")) for a in args):
        extra = ["--without-web"] if web_port is None else ["--web-port", str(web_port)]
        args[at:at] = extra
    if not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in args):
        args += ["--loglevel", log_level.lower()]
    return args


def run_worker(service: str, build: Callable[[CollectorRegistry], faust.App], *,
               kafka: KafkaSettings, metrics_port: int, log_level: str,
               web_port: int | None = None) -> int:
    """Build, check and run one service's faust worker; returns only on a config error."""
    registry = CollectorRegistry()
    try:
        app = build(registry)
    except ConfigError as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    probes = WorkerProbes(app)
    serve_metrics(registry, metrics_port, alive=probes.alive, ready=probes.ready)
    sys.argv = worker_argv(sys.argv, web_port, log_level)  # faust's CLI (click) reads sys.argv
    ensure_internal_topics(app, kafka)
    app.main()
    return 0
