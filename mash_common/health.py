"""One HTTP port per process for Prometheus and orchestrators: /metrics, /healthz, /readyz.

/healthz says the process is alive (a liveness probe restarts it when not); /readyz says it
is doing its job (a readiness probe keeps traffic and rollouts waiting until it is). Both
answer JSON {"status": ..., "detail": {...}} with 200 or 503, like the gateway's and the
board's endpoints of the same names. Details are counts and flags, never personal data.
A process without a readiness check of its own is ready while it is alive.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

# A probe answers (ok, detail); detail is small JSON-able facts (counts, flags, reasons).
Probe = Callable[[], tuple[bool, Mapping[str, Any]]]


def always_alive() -> tuple[bool, Mapping[str, Any]]:
    return True, {}


Route = Callable[[], tuple[int, bytes, str]]  # -> (status, body, content type)


class HttpEndpoint:
    """A small HTTP server on a daemon thread answering GETs from `routes` (path -> answer,
    the query string ignored); port 0 picks a free port. ProbeServer and the SDK's
    HealthServer are built on it."""

    def __init__(self, routes: Mapping[str, Route], *, host: str, port: int, name: str,
                 not_found: bytes = b"not found\n") -> None:
        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                route = routes.get(self.path.split("?", 1)[0])
                code, body, ctype = (route() if route is not None
                                     else (404, not_found, "text/plain"))
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # probes every few seconds would drown the log

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name,
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _start(self) -> tuple[str, int]:
        self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def metrics_route(registry: CollectorRegistry) -> Route:
    return lambda: (200, generate_latest(registry), CONTENT_TYPE_LATEST)


class ProbeServer(HttpEndpoint):
    """Serves /metrics, /healthz and /readyz from a daemon thread; port 0 picks a free port."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int,
                 alive: Probe | None = None, ready: Probe | None = None) -> None:
        self._alive = alive or always_alive
        self._ready = ready
        super().__init__({"/metrics": metrics_route(registry),
                          "/healthz": lambda: _answer(*self.alive(), "ok", "not alive"),
                          "/readyz": lambda: _answer(*self.ready(), "ready", "not ready")},
                         host=host, port=port, name="probes",
                         not_found=b"not found: /metrics, /healthz, /readyz\n")

    def alive(self) -> tuple[bool, Mapping[str, Any]]:
        return self._run(self._alive)

    def ready(self) -> tuple[bool, Mapping[str, Any]]:
        ok, detail = self.alive()
        if not ok or self._ready is None:
            return ok, detail
        return self._run(self._ready)

    @staticmethod
    def _run(probe: Probe) -> tuple[bool, Mapping[str, Any]]:
        try:
            return probe()
        except Exception as exc:  # a probe that breaks says so; the type, never a value
            logger.warning("health probe failed: %s", type(exc).__name__)
            return False, {"error": type(exc).__name__}

    def start(self) -> ProbeServer:
        logger.info("metrics and probes on http://%s:%d/metrics, /healthz, /readyz",
                    *self._start())
        return self


def _answer(ok: bool, detail: Mapping[str, Any], ok_word: str,
            bad_word: str) -> tuple[int, bytes, str]:
    body = json.dumps({"status": ok_word if ok else bad_word, "detail": dict(detail)},
                      sort_keys=True, default=str).encode()
    return 200 if ok else 503, body, "application/json"
