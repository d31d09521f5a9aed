"""The whole pipeline on a real broker, as the main job runs it.

Every referral is assembled and its referrer told the decision; the rule-breaker is rejected
and its sender told; garbage is dead-lettered; and each service's Prometheus counters hold
exactly the counts that flowed through Kafka.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.observer import Observer
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.synthetic import referral_stream
from mash_ops.scrape import Scrape, scrape
from mash_sdk.simulated.agency import Behaviour, Profile, run_agencies

pytestmark = pytest.mark.integration

# Agencies answer at once, except probation, which never does: every case probation is
# asked about is assembled PARTIAL at its deadline.
PROFILE = Profile(agencies={"probation": Behaviour(silence_rate=1.0)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settle(check: Callable[[], list[str]], timeout_s: float) -> list[str]:
    """Re-check until no differences remain or the deadline passes; return what remains."""
    deadline = time.monotonic() + timeout_s
    while (problems := check()) and time.monotonic() < deadline:
        time.sleep(0.5)  # between scrapes; the condition itself is re-checked each time
    return problems


def test_referrals_flow_to_outcomes_and_metrics_match(
    provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path
) -> None:
    kafka = provisioned
    ports = {"intake": _free_port(), "enrichment": _free_port(), "routing": _free_port()}
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=6, due_amber_s=8, due_green_s=10, metrics_ports=ports))
    items = list(referral_stream(14, seed=3, reject_share=0.1, run_tag="e2e"))
    expected = {i.referral.referral_id: i.expect_rejected for i in items if i.referral}
    assert any(expected.values()) and not all(expected.values())
    agencies = hub = observer = None
    try:
        pipeline.start(lambda _: None)
        # Every party connects as itself, with only its own ACLs.
        agencies = run_agencies({a: secured_hub.agency(a) for a in sorted(secured_hub.hub.agencies)},
                                profile=PROFILE)
        hub = HubSystem(secured_hub.hub_system()).start()
        observer = Observer(secured_hub.ops_reader).start()
        serde = AvroSerde()
        producers = {s: Producer(secured_hub.source(s).producer_config())
                     for s in secured_hub.hub.source_systems}
        producers["public-portal"].produce(kafka.topics.referrals("public-portal"), key=b"junk",
                                           value=b"\x00not avro")
        for item in items:
            assert item.referral is not None
            source = item.referral.source_system
            observer.note_sent(item.referral.referral_id, source)
            producers[source].produce(kafka.topics.referrals(source),
                                      key=item.referral.referral_id.encode(),
                                      value=serde.encode(item.referral))
        assert all(p.flush(30) == 0 for p in producers.values())

        # While Red and Amber cases wait for silent probation, the gauges operations watch
        # show them, with time left no longer than their timescales.
        enrichment_url = f"http://127.0.0.1:{ports['enrichment']}/metrics"

        def waiting_cases_shown() -> list[str]:
            got = scrape(enrichment_url)
            shown = [(s.labels["rag"], s.value) for s in got.find("mash_enrichment_next_due_seconds")]
            if got.total("mash_enrichment_open_cases") < 1 or not shown:
                return ["no open case shown yet"]
            return [f"{rag} due in {left:.1f}s" for rag, left in shown if not left <= 8]

        assert _settle(waiting_cases_shown, timeout_s=30) == []

        outstanding = _settle(lambda: observer.outstanding(expected), timeout_s=120)
        assert outstanding == [], f"not through: {outstanding}"

        snapshot = observer.snapshot()
        assert snapshot.partial >= 1, "probation never answers, so some case must be PARTIAL"
        assert snapshot.deadletters_by_reason["BAD_MARKER"] == 1
        rejected = sum(expected.values())

        def differences() -> list[str]:
            s = observer.snapshot()
            got: dict[str, Scrape] = {
                name: scrape(f"http://127.0.0.1:{port}/metrics") for name, port in ports.items()
            }
            pairs = {
                "intake referrals": (got["intake"].total("mash_intake_referrals_total"),
                                     s.counts["TriagedReferral"]),
                "intake rejections": (got["intake"].total("mash_intake_rejections_total"),
                                      rejected + 1),
                "enrichment requests": (got["enrichment"].total("mash_enrichment_requests_total"),
                                        s.counts["InformationRequest"]),
                "enrichment responses": (got["enrichment"].total("mash_enrichment_responses_total"),
                                         s.counts["InformationResponse"]),
                "enrichment assemblies": (got["enrichment"].total("mash_enrichment_cases_assembled_total"),
                                          s.counts["AssembledCase"]),
                "routing notifications": (got["routing"].total("mash_routing_notifications_total"),
                                          s.outcomes_by_kind["INFORMATION_GATHERED"]
                                          + s.outcomes_by_kind["DECISION"]),
                "routing decisions": (got["routing"].total("mash_routing_decisions_total"),
                                      s.counts["Decision"]),
                # One dead-letter counter, by stage: the services' own add up to the topic's.
                "dead letters": (sum(g.total("mash_deadletters_total") for g in got.values()),
                                 sum(s.deadletters_by_reason.values())),
            }
            return [f"{k}: metrics {m:g} vs Kafka {k_:g}" for k, (m, k_) in pairs.items() if m != k_]

        assert _settle(differences, timeout_s=30) == []
        # The gauges are refreshed about once a second, not per event.
        def still_open() -> list[str]:
            drained = scrape(enrichment_url)
            left = drained.total("mash_enrichment_open_cases")
            shown = drained.find("mash_enrichment_next_due_seconds")
            return [f"{left:g} open, {len(shown)} next-due gauges"] if left or shown else []

        assert _settle(still_open, timeout_s=10) == []
    finally:
        for part in (observer, hub, agencies):
            if part is not None:
                part.stop()
        pipeline.stop()
