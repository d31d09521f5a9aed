"""Routing's Prometheus metrics, on an injected registry so each test gets a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mash_common.metrics import PROCESSING_BUCKETS

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# From the earliest referral reaching the hub to the decision. Red cases are decided in
# minutes to hours, Green within days; statutory guidance expects a decision within one
# working day, and a long tail of weeks is what we most need to see.
DECISION_LATENCY_BUCKETS = (
    5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 12 * HOUR,
    DAY, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY, 28 * DAY,
)


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Labels are configured recipient ids and enum values only: bounded, never personal.
        self.notifications = Counter(
            "mash_routing_notifications_total",
            "Outcome notifications sent, by recipient and kind",
            ["recipient", "kind"], registry=registry,
        )
        self.decision_latency = Histogram(
            "mash_routing_decision_latency_seconds",
            "From the earliest referral's received_at to the first decision's decided_at",
            buckets=DECISION_LATENCY_BUCKETS, registry=registry,
        )
        self.decisions = Counter(
            "mash_routing_decisions_total",
            "Decisions (and revisions) routed, by outcome",
            ["outcome"], registry=registry,
        )
        self.dead_letters = Counter(
            "mash_routing_dead_letters_total",
            "Input messages dead-lettered, by reason code",
            ["reason"], registry=registry,
        )
        self.ignored = Counter(
            "mash_routing_ignored_total",
            "Input that changed nothing (redelivered or out of date), by input and reason",
            ["input", "reason"], registry=registry,
        )
        self.unroutable = Counter(
            "mash_routing_unroutable_recipients_total",
            # Unlabelled: the ids come from input, so a label could grow without bound.
            "Recipients named by a case but absent from hub.yaml, so not notified",
            registry=registry,
        )
        self.parked = Gauge(
            "mash_routing_held_decisions",
            "Cases with a decision held because it arrived before the assembled case",
            registry=registry,
        )
        self.processing = Histogram(
            "mash_routing_processing_seconds",
            "Time to route one input message, including waiting for the broker's acks",
            ["input"], buckets=PROCESSING_BUCKETS, registry=registry,
        )
