"""A simulated hub case system: reads assembled cases and records a decision for each.

Stands in for the MASH's case management system in the demo and benchmarks. Its choice of
outcome is a plain rule over RAG and risk flags, not a model of social work judgement.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, Producer

from mash_common.contracts import AssembledCase, Decision, DecisionOutcome, Rag, utcnow
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.background import BackgroundLoop

logger = logging.getLogger(__name__)

_OUTCOME_BY_RAG = {
    Rag.RED: (DecisionOutcome.STRATEGY_DISCUSSION, "social-care", "N1"),
    Rag.AMBER: (DecisionOutcome.CHILD_IN_NEED_ASSESSMENT, "social-care", "N1"),
    Rag.GREEN: (DecisionOutcome.EARLY_HELP, "education", "N9"),
}


def decide(case: AssembledCase, revision: int = 1) -> Decision:
    """The demo's decision: by RAG, escalated one step when any agency flags a risk."""
    outcome, lead, need = _OUTCOME_BY_RAG[case.rag]
    flagged = any(r.risk_flag for c in case.contributions for r in c.records)
    if case.rag is Rag.GREEN and flagged:
        outcome, lead, need = _OUTCOME_BY_RAG[Rag.AMBER]
    return Decision(
        case_id=case.case_id,
        decided_at=utcnow(),
        outcome=outcome,
        rationale=f"Demo decision from RAG {case.rag.value}"
        + (" escalated on an agency risk flag" if flagged else ""),
        decided_by="Demo MASH manager",
        lead_agency=lead,
        lead_contact=f"{lead} duty desk, 01234 000000",
        revision=revision,
        cin_primary_need=need,
    )


class HubSystem(BackgroundLoop):
    """Consumes mash.cases.assembled and publishes a Decision per case.

    A later version that brings in referrals the last decision did not cover gets a revised
    decision, so the new referrers hear the outcome too (docs/hub-systems.md).
    """

    thread_name = "hub-system"

    def __init__(self, kafka: KafkaSettings, decision_delay_s: float = 0.0) -> None:
        super().__init__()
        self.kafka = kafka
        self.decision_delay_s = decision_delay_s
        # case_id -> (revision, referral ids the decision covered)
        self.decided: dict[str, tuple[int, frozenset[str]]] = {}

    def _run(self) -> None:
        serde = AvroSerde()
        consumer = Consumer(self.kafka.confluent_config(**{
            "group.id": f"{self.kafka.topic_prefix}mash-hub-case-management-demo",
            "auto.offset.reset": "earliest",
        }))
        producer = Producer(self.kafka.producer_config())
        consumer.subscribe([self.kafka.topics.assembled])
        pending: list[tuple[float, Decision]] = []
        try:
            while not self.stopping:
                msg = consumer.poll(0.1)
                if msg is not None and not msg.error() and msg.value() is not None:
                    try:
                        case = serde.decode(msg.value(), AssembledCase)
                    except SerdeError as exc:
                        logger.warning("hub system skipped %s[%s]@%s: %s",
                                       msg.topic(), msg.partition(), msg.offset(), exc)
                        continue
                    revision, covered = self.decided.get(case.case_id, (0, frozenset()))
                    if not set(case.referral_ids) <= covered:
                        self.decided[case.case_id] = (revision + 1, frozenset(case.referral_ids))
                        pending.append((time.monotonic() + self.decision_delay_s,
                                        decide(case, revision + 1)))
                now = time.monotonic()
                due = [d for t, d in pending if t <= now]
                pending = [(t, d) for t, d in pending if t > now]
                for decision in due:
                    producer.produce(self.kafka.topics.decisions, key=decision.case_id.encode(),
                                     value=serde.encode(decision))
                producer.poll(0)
        finally:
            producer.flush(10)
            consumer.close()
