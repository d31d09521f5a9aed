"""Enrichment's Prometheus metrics, on a registry the caller owns (tests pass a fresh one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mash_common.metrics import DEADLINE_BUCKETS, PROCESSING_BUCKETS

# A deadline fires within a sweep interval (0.25 s) when the worker is healthy, and minutes
# late after an outage; the buckets cover both.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class EnrichmentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "mash_enrichment_requests_total", "Information requests sent, by agency, RAG and kind "
            "(NEW, CHASE, RERATED)", ["agency", "rag", "kind"], registry=registry)
        self.withheld = Counter(
            "mash_enrichment_requests_withheld_total", "Requests the sharing agreement withheld",
            ["agency", "reason"], registry=registry)
        self.responses = Counter(
            "mash_enrichment_responses_total", "Agency responses accepted, by agency and status",
            ["agency", "status"], registry=registry)
        # Seconds (test deadlines) to days (Green is 72 hours): DEADLINE_BUCKETS.
        self.response_time = Histogram(
            "mash_enrichment_agency_response_time_seconds",
            "From the first request to the agency's response, by agency", ["agency"],
            buckets=DEADLINE_BUCKETS, registry=registry)
        self.assembled = Counter(
            "mash_enrichment_cases_assembled_total", "Assembled case versions, by completeness "
            "and whether an amendment", ["completeness", "amended"], registry=registry)
        self.partial = Counter(
            "mash_enrichment_partial_cases_total", "Partial assemblies, once per missing agency",
            ["agency"], registry=registry)
        self.open_cases = Gauge(
            "mash_enrichment_open_cases", "Cases gathering on this worker's partitions",
            ["rag"], registry=registry)
        self.deadline_waits = Counter(
            "mash_enrichment_deadline_waits_total",
            "Deadlines held back a sweep because input accepted before them was still queued",
            registry=registry)
        self.forgotten = Counter(
            "mash_enrichment_cases_forgotten_total",
            "Assembled cases whose state was dropped after the retention period",
            registry=registry)
        self.next_due = Gauge(
            "mash_enrichment_next_due_seconds",
            "Seconds until the soonest deadline of an open case of this RAG on this worker "
            "(negative when overdue; absent when there is none)",
            ["rag"], registry=registry)
        self.overdue_cases = Gauge(
            "mash_enrichment_overdue_cases", "Gathering cases past their due time, not yet fired",
            registry=registry)
        self.lateness = Histogram(
            "mash_enrichment_deadline_lateness_seconds", "How late a deadline fired",
            buckets=LATENESS_BUCKETS, registry=registry)
        self.rejected = Counter(
            "mash_enrichment_deadlettered_total", "Input dead-lettered, by topic role and reason",
            ["input", "reason"], registry=registry)
        self.ignored = Counter(
            "mash_enrichment_ignored_total", "Redelivered or duplicate input that changed nothing",
            ["reason"], registry=registry)
        # Per agency only: a category an agency sends could be any text, so it is no label.
        self.excess_records = Counter(
            "mash_enrichment_excess_records_total",
            "Records an agency sent in a data category its request did not ask for (dropped)",
            ["agency"], registry=registry)
        # Causes and directions are a handful of fixed words; who decided is no label.
        self.rating_changes = Counter(
            "mash_enrichment_rating_changes_total",
            "Cases re-rated in flight, by cause (RESPONSE_RULE, MANAGER, ...) and direction",
            ["cause", "direction"], registry=registry)
        self.rating_refusals = Counter(
            "mash_enrichment_rating_refusals_total", "Managers' rating changes refused, by reason",
            ["reason"], registry=registry)
        self.processing = Histogram(
            "mash_enrichment_processing_seconds", "Handling one input or one due case",
            ["input"], buckets=PROCESSING_BUCKETS, registry=registry)
