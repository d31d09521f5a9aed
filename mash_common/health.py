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


class ProbeServer:
    """Serves /metrics, /healthz and /readyz from a daemon thread; port 0 picks a free port."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int,
                 alive: Probe | None = None, ready: Probe | None = None) -> None:
        self._registry = registry
        self._alive = alive or always_alive
        self._ready = ready
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer._registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._answer(*outer.alive(), ok_word="ok", bad_word="not alive")
                elif path == "/readyz":
                    self._answer(*outer.ready(), ok_word="ready", bad_word="not ready")
                else:
                    self._send(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")

            def _answer(self, ok: bool, detail: Mapping[str, Any], *, ok_word: str,
                        bad_word: str) -> None:
                body = json.dumps({"status": ok_word if ok else bad_word, "detail": dict(detail)},
                                  sort_keys=True, default=str).encode()
                self._send(200 if ok else 503, body, "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # probes every few seconds would drown the log

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="probes",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

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
        self._thread.start()
        host, port = self._server.server_address[:2]
        logger.info("metrics and probes on http://%s:%d/metrics, /healthz, /readyz", host, port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
