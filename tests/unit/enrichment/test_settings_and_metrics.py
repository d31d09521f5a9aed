"""Settings from the environment, and metrics on a fresh registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from mash_hub.services.enrichment.metrics import EnrichmentMetrics
from mash_hub.services.enrichment.settings import EnrichmentSettings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASH_ENRICHMENT_CHASE_POINTS", "[0.8, 0.25]")
    monkeypatch.setenv("MASH_ENRICHMENT_METRICS_PORT", "0")
    monkeypatch.setenv("MASH_KAFKA_TOPIC_PREFIX", "x.")
    settings = EnrichmentSettings()
    assert settings.chase_points == (0.25, 0.8)
    assert settings.metrics_port == 0 and settings.kafka.topic_prefix == "x."
    assert EnrichmentSettings(metrics_port=9102).metrics_port == 9102


def test_chase_points_must_be_fractions() -> None:
    with pytest.raises(ValidationError):
        EnrichmentSettings(chase_points=(0.5, 1.0))


def test_metrics_register_on_the_given_registry() -> None:
    registry = CollectorRegistry()
    metrics = EnrichmentMetrics(registry)
    metrics.requests.labels("police", "RED", "NEW").inc()
    metrics.lateness.observe(0.1)
    metrics.partial.labels("health").inc()
    assert registry.get_sample_value(
        "mash_enrichment_requests_total", {"agency": "police", "rag": "RED", "kind": "NEW"}) == 1
    assert registry.get_sample_value("mash_enrichment_deadline_lateness_seconds_count") == 1
    assert registry.get_sample_value("mash_enrichment_partial_cases_total", {"agency": "health"}) == 1
    EnrichmentMetrics(CollectorRegistry())  # a second instance on a fresh registry is fine
