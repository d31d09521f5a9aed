"""Intake's Prometheus metrics, on a registry the caller injects (tests pass a fresh one).

Labels are codes from configuration or the contract (source system ids from the roster, RAG,
reason codes), never values from a referral, so no personal data and bounded cardinality.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from mash_common.metrics import PROCESSING_BUCKETS


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.referrals = Counter(
            "mash_intake_referrals_total", "Referrals triaged, by source system and RAG",
            ["source_system", "rag"], registry=registry)
        self.linked = Counter(
            "mash_intake_linked_total", "Referrals that joined an open case, by match",
            ["match"], registry=registry)
        self.rejections = Counter(
            "mash_intake_rejections_total", "Referrals dead-lettered, by reason code",
            ["reason"], registry=registry)
        # Security events: a referral on a source system's own topic naming another sender.
        self.sender_mismatches = Counter(
            "mash_intake_sender_mismatches_total",
            "Referrals dead-lettered SENDER_MISMATCH, by the source system whose topic carried it",
            ["topic_owner"], registry=registry)
        self.duplicates = Counter(
            "mash_intake_duplicates_total", "Redelivered or resent referrals ignored",
            registry=registry)
        # One message's handling: decode, decide, queue the sends. Sub-millisecond to seconds.
        self.processing = Histogram(
            "mash_intake_processing_seconds", "Time to handle one message, by stage",
            ["stage"], buckets=PROCESSING_BUCKETS, registry=registry)
