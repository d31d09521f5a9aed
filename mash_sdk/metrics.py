"""The adapter's Prometheus metrics, on an injected registry so each test gets a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mash_common.metrics import PROCESSING_BUCKETS, dead_letter_counter


class AdapterMetrics:
    """Labels are agency, rag, status and reason codes only: never anything about a person.

    Several simulated agencies share one registry in one process, hence the agency label.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "mash_adapter_requests_total", "Requests answered, by RAG and answer status",
            ["agency", "rag", "status"], registry=registry,
        )
        # A handler queries an agency system: milliseconds to tens of seconds with retries.
        self.handler_latency = Histogram(
            "mash_adapter_handler_latency_seconds", "Time in the agency's handler per request",
            ["agency", "rag"], registry=registry,
            buckets=PROCESSING_BUCKETS + (10.0, 30.0, 60.0),
        )
        # Request age when picked up: seconds (Red) to days (a Green backlog after an outage).
        self.queue_wait = Histogram(
            "mash_adapter_queue_wait_seconds", "From requested_at to the handler starting",
            ["agency", "rag"], registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400),
        )
        self.lag = Gauge(
            "mash_adapter_queue_lag", "Requests not yet answered (broker lag plus local buffer)",
            ["agency", "rag"], registry=registry,
        )
        # The one dead-letter counter every stage shares (stage adapter.<agency>).
        self.dead_letters = dead_letter_counter(registry)
        self.deadletters = Counter(
            "mash_adapter_deadletters_total", "Requests that could not be read, by reason code",
            ["agency", "reason"], registry=registry,
        )
        self.retries = Counter(
            "mash_adapter_retries_total", "Retries after a transient failure",
            ["agency", "kind"], registry=registry,
        )
        self.withdrawals = Counter(
            "mash_adapter_withdrawals_total", "Requests the hub withdrew (consent refused)",
            ["agency"], registry=registry,
        )
        self.superseded = Counter(
            "mash_adapter_superseded_total",
            "Request revisions not answered because the hub re-rated them (a later revision "
            "stands)", ["agency"], registry=registry,
        )
        self.dropped = Counter(
            "mash_adapter_dropped_total", "Requests deliberately left unanswered (simulation)",
            ["agency"], registry=registry,
        )
        self.chases = Counter(
            "mash_adapter_chases_total", "Chase requests, by whether a cached answer was re-sent",
            ["agency", "source"], registry=registry,
        )
