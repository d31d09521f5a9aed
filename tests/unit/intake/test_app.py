"""The app's wiring without a broker: topics, tables, agents; the stop-on-bug path; metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from prometheus_client import CollectorRegistry

from mash_common.processing import EXIT_ON_ERROR, stop_worker
from mash_common.streams import Position
from mash_hub.services.intake.app import create_app
from mash_hub.services.intake.metrics import IntakeMetrics
from mash_hub.services.intake.settings import IntakeSettings
from tests.support.kafka import offline_settings


def test_create_app_wires_agents_tables_and_internal_topic(tmp_path: Path) -> None:
    settings = IntakeSettings(kafka=offline_settings("t1."), datadir=tmp_path,
                              metrics_port=0)
    app = create_app(settings)
    assert app.conf.id == "t1.mash-intake"
    assert {a.name for a in app.agents.values()} >= {"admit", "triage"}
    assert all(a.concurrency == 1 for a in app.agents.values())
    assert set(app.tables) == {"referrals-seen", "cases", "triaged"}
    assert app.intake.link_topic.get_topic_name() == "t1.mash-intake-link"  # type: ignore[attr-defined]


def test_stop_worker_exits_without_returning_and_logs_no_message(caplog: pytest.LogCaptureFixture) -> None:
    exit_process = MagicMock(spec_set=lambda code: None)
    try:
        raise ValueError("Sam Example 9434765919")
    except ValueError as exc:
        with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
            stop_worker(Position("mash.referrals", 2, 41), exc, exit_process)
    exit_process.assert_called_once_with(EXIT_ON_ERROR)
    assert "mash.referrals[2]@41" in caplog.text and "ValueError" in caplog.text
    assert "9434765919" not in caplog.text and "Sam" not in caplog.text


def test_metrics_on_an_injected_registry() -> None:
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry)
    metrics.referrals.labels("school-portal", "RED").inc()
    metrics.rejections.labels("VALIDATION").inc(2)
    metrics.processing.labels("admit").observe(0.002)
    value = registry.get_sample_value
    assert value("mash_intake_referrals_total", {"source_system": "school-portal", "rag": "RED"}) == 1
    assert value("mash_intake_rejections_total", {"reason": "VALIDATION"}) == 2
    assert value("mash_intake_processing_seconds_count", {"stage": "admit"}) == 1


def test_worker_runs_without_faust_web_server_unless_asked() -> None:
    from mash_common.worker import worker_argv

    assert worker_argv(["x", "worker", "-l", "info"], None, "INFO") == [
        "x", "worker", "--without-web", "-l", "info"]
    assert worker_argv(["x", "worker", "--with-web"], None, "INFO") == [
        "x", "worker", "--with-web", "--loglevel", "info"]
    assert worker_argv(["x", "worker"], 6070, "WARNING") == [
        "x", "worker", "--web-port", "6070", "--loglevel", "warning"]
    assert worker_argv(["x", "--help"], None, "INFO") == ["x", "--help"]
