"""An HTTP endpoint for orchestrators and Prometheus: /healthz and /metrics.

/healthz answers 200 while every registered adapter has partitions assigned and has polled
Kafka recently, 503 otherwise (with a one-line reason per adapter, no personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from mash_common.health import HttpEndpoint, metrics_route

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, str]]


class HealthServer(HttpEndpoint):
    """Serves health and metrics from a daemon thread; port 0 picks a free port."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self._checks: list[HealthCheck] = []
        super().__init__({"/healthz": self._healthz, "/metrics": metrics_route(registry)},
                         host=host, port=port, name="health")

    def _healthz(self) -> tuple[int, bytes, str]:
        ok, text = self.check()
        return 200 if ok else 503, text.encode(), "text/plain; charset=utf-8"

    def add_check(self, check: HealthCheck) -> None:
        self._checks.append(check)

    def check(self) -> tuple[bool, str]:
        if not self._checks:
            return False, "no adapter registered\n"
        results = [c() for c in self._checks]
        ok = all(r[0] for r in results)
        return ok, "".join(f"{'ok' if r[0] else 'FAIL'} {r[1]}\n" for r in results)

    def start(self) -> HealthServer:
        logger.info("health and metrics on http://%s:%d/healthz", *self._start())
        return self
