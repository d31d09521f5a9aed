"""An HTTP endpoint for orchestrators and Prometheus: /healthz and /metrics.

/healthz answers 200 while every registered adapter has partitions assigned and has polled
Kafka recently, 503 otherwise (with a one-line reason per adapter, no personal data).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, str]]


class HealthServer:
    """Serves health and metrics from a daemon thread; port 0 picks a free port."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self._checks: list[HealthCheck] = []
        self._registry = registry
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/healthz"):
                    ok, text = outer.check()
                    self._send(200 if ok else 503, text.encode(), "text/plain; charset=utf-8")
                elif self.path.startswith("/metrics"):
                    self._send(200, generate_latest(outer._registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # probes every few seconds would drown the log

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def add_check(self, check: HealthCheck) -> None:
        self._checks.append(check)

    def check(self) -> tuple[bool, str]:
        if not self._checks:
            return False, "no adapter registered\n"
        results = [c() for c in self._checks]
        ok = all(r[0] for r in results)
        return ok, "".join(f"{'ok' if r[0] else 'FAIL'} {r[1]}\n" for r in results)

    def start(self) -> HealthServer:
        self._thread.start()
        logger.info("health and metrics on http://%s:%d/healthz", *self._server.server_address[:2])
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
