"""Parsing a Prometheus endpoint's text for checks."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from mash_ops.errors import ScrapeError
from mash_ops.scrape import parse


def test_values_and_totals() -> None:
    registry = CollectorRegistry()
    c = Counter("mash_intake_referrals", "x", ["source", "rag"], registry=registry)
    c.labels("school-portal", "RED").inc(3)
    c.labels("police-niche", "AMBER").inc(2)
    Gauge("mash_enrichment_overdue_cases", "x", registry=registry).set(1)
    m = parse(generate_latest(registry).decode())
    assert m.value("mash_intake_referrals_total", source="school-portal", rag="RED") == 3
    assert m.total("mash_intake_referrals_total") == 5
    assert m.value("mash_enrichment_overdue_cases") == 1
    assert m.value("mash_absent") is None
    with pytest.raises(ScrapeError):
        m.value("mash_intake_referrals_total")


def test_garbage_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError):
        parse("this is { not prometheus\n")
