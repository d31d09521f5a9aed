"""The worker refuses a bad policy before connecting; metrics live on an injected registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from mash_hub.services.routing.metrics import RoutingMetrics

ROOT = Path(__file__).resolve().parents[3]


def test_a_bad_recipient_policy_stops_the_worker_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "recipient-policy.yaml"
    bad.write_text('version: "1"\nkinds:\n  EDUCATION:\n    decision_as_referrer: [gossip]\n')
    env = {**os.environ, "MASH_ROUTING_RECIPIENT_POLICY": str(bad),
           "MASH_ROUTING_METRICS_PORT": "0",
           # Nothing listens here: the policy must be refused before any connection.
           "MASH_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "mash_hub.services.routing", "worker"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{bad}:4: kinds.EDUCATION.decision_as_referrer" in done.stderr


def test_metrics_register_on_the_registry_they_are_given() -> None:
    registry = CollectorRegistry()
    metrics = RoutingMetrics(registry)
    metrics.notifications.labels("school-portal", "DECISION").inc()
    metrics.decision_latency.observe(3600)
    metrics.dead_letters.labels("UNKNOWN_CASE").inc()
    metrics.decisions.labels("EARLY_HELP").inc()
    assert registry.get_sample_value(
        "mash_routing_notifications_total", {"recipient": "school-portal", "kind": "DECISION"}
    ) == 1
    assert registry.get_sample_value("mash_routing_decision_latency_seconds_count") == 1
    assert registry.get_sample_value(
        "mash_routing_dead_letters_total", {"reason": "UNKNOWN_CASE"}) == 1
    assert registry.get_sample_value("mash_routing_decisions_total", {"outcome": "EARLY_HELP"}) == 1
    # A second instance on a fresh registry does not clash with the first.
    RoutingMetrics(CollectorRegistry())
