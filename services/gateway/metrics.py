"""The gateway's Prometheus metrics, on an injected registry so each test gets a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# From the POST arriving to the broker's acknowledgement: a few milliseconds on a healthy
# broker, seconds when it is failing over; the delivery timeout (15 s) caps it.
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Labels are configured source ids ("unknown" for a failed login) and fixed words.
        self.referrals = Counter(
            "mash_gateway_referrals_total",
            "Referral POSTs by source and result (accepted, replayed, conflict, invalid, unavailable)",
            ["source", "result"], registry=registry)
        self.unauthorised = Counter(
            "mash_gateway_unauthorised_total", "Requests refused for a missing or unknown API key",
            registry=registry)
        self.accept_seconds = Histogram(
            "mash_gateway_accept_seconds",
            "From a new referral's POST to the broker's acknowledgement",
            ["source"], buckets=REQUEST_BUCKETS, registry=registry)
        self.outcomes = Counter(
            "mash_gateway_outcomes_total", "Outcome notifications read for each source, by kind",
            ["source", "kind"], registry=registry)
        self.streams = Gauge(
            "mash_gateway_outcome_streams", "Open server-sent event streams of outcomes",
            registry=registry)
