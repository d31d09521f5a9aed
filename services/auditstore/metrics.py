"""The audit store's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class AuditStoreMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Labels are outcome and reason codes only: bounded, never personal.
        self.events = Counter("mash_auditstore_events_total",
                              "Audit events read from mash.audit, by what the store did",
                              ["outcome"], registry=registry)
        self.rejected = Counter("mash_auditstore_rejected_total",
                                "Audit events refused a place in a chain (MAC missing, unknown "
                                "key, MAC wrong, undecodable), by reason", ["reason"],
                                registry=registry)
        self.chain_breaks = Counter("mash_auditstore_chain_breaks_total",
                                    "Times a chain failed verification (as events arrived or "
                                    "in the periodic full pass)", registry=registry)
        self.broken_chains = Gauge("mash_auditstore_broken_chains",
                                   "Chains failing verification at the last full pass",
                                   registry=registry)
        self.chains = Gauge("mash_auditstore_chains", "Chains in the store at the last full pass",
                            registry=registry)
        self.last_verified = Gauge("mash_auditstore_last_verification_timestamp_seconds",
                                   "When the last full verification pass ended (Unix time)",
                                   registry=registry)
