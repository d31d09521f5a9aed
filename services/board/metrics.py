"""The board's Prometheus metrics, on an injected registry so each test gets a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# From an answer's submit to the broker's acknowledgement (as the gateway's accept time).
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)


class BoardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Labels: record type names, roles, configured agency ids and enum values only.
        self.records = Counter("mash_board_records_total",
                               "Pipeline records read, by record type and whether they changed the board",
                               ["record", "changed"], registry=registry)
        self.unreadable = Counter("mash_board_unreadable_records_total",
                                  "Records the board could not decode (skipped; enrichment and "
                                  "routing dead-letter them)", registry=registry)
        self.logins = Counter("mash_board_logins_total", "Login attempts by result",
                              ["result"], registry=registry)
        self.answers = Counter("mash_board_agency_answers_total",
                               "Answers sent from the agency response page, by agency and status",
                               ["agency", "status"], registry=registry)
        self.answer_seconds = Histogram("mash_board_agency_answer_seconds",
                                        "From an answer's submit to the broker's acknowledgement",
                                        buckets=ANSWER_BUCKETS, registry=registry)
        self.live_clients = Gauge("mash_board_live_clients", "Open live-update streams, by role",
                                  ["role"], registry=registry)
        self.open_cases = Gauge("mash_board_open_cases", "Cases on the board not yet decided, by RAG",
                                ["rag"], registry=registry)
