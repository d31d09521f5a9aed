"""Serving a service's Prometheus registry over HTTP, beside its health probes."""

from __future__ import annotations

import logging
import os

from prometheus_client import CollectorRegistry, Counter

from mash_common.health import Probe, ProbeServer

logger = logging.getLogger(__name__)

# Shared histogram buckets, in seconds.
# Processing of one message: sub-millisecond to a few seconds.
PROCESSING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Agency response times and deadlines: seconds (test deadlines) to days (Green is 72 hours).
DEADLINE_BUCKETS = (
    1, 5, 15, 30, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600,
    24 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600,
)


def metrics_host() -> str:
    """Where /metrics listens: loopback unless MASH_METRICS_HOST says otherwise (a container
    behind a Prometheus in another container needs 0.0.0.0). Read when called, in main()."""
    return os.environ.get("MASH_METRICS_HOST", "127.0.0.1")


def serve_metrics(registry: CollectorRegistry, port: int, host: str | None = None, *,
                  alive: Probe | None = None, ready: Probe | None = None) -> ProbeServer | None:
    """Start /metrics, /healthz and /readyz on one port in a daemon thread; port 0 disables
    them. Without `ready`, the process is ready while it is alive."""
    if port == 0:
        return None
    host = host or metrics_host()
    return ProbeServer(registry, host=host, port=port, alive=alive, ready=ready).start()


def dead_letter_counter(registry: CollectorRegistry) -> Counter:
    """The one dead-letter counter every stage uses, by stage and reason code (bounded:
    stage names and reason codes, never values)."""
    return Counter("mash_deadletters_total", "Messages dead-lettered, by stage and reason code",
                   ["stage", "reason"], registry=registry)
