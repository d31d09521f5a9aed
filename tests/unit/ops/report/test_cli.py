"""The report command's options: the hub's configuration, and the overrides a demo needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mash_common.contracts import Rag
from mash_ops.report.__main__ import hub_options, parser

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def test_defaults_are_the_hubs_policy_calendar_and_roster() -> None:
    args = parser().parse_args(["hub", "--from", "2026-07-01", "--to", "2026-07-31",
                                "--out", "x"])
    options, settings = hub_options(args, NOW)
    # Days are the hub's (London: British Summer Time in July).
    assert options.start == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert options.end == datetime(2026, 7, 31, 23, tzinfo=UTC)
    assert options.as_of == NOW
    assert options.timescales[Rag.RED] == timedelta(hours=4)
    assert options.calendar is not None and Rag.AMBER in options.calendar.applies_to
    assert settings["working_hours"]["start"] == "09:00"
    assert "probation" in options.agencies and "public-portal" in options.source_systems
    assert options.hub_name == "Example Borough MASH"
    assert options.referrers_told is not None and "police-niche" in options.referrers_told


def test_a_demo_run_overrides_timescales_and_drops_the_calendar() -> None:
    args = parser().parse_args([
        "hub", "--from", "2026-12-01T10:00:00Z", "--to", "2026-12-01T11:00:00Z", "--out", "x",
        "--timescale", "RED=20s", "--timescale", "green=3m", "--no-working-hours",
        "--hub-name", "North", "--authoriser-role", "Duty manager"])
    options, settings = hub_options(args, NOW)
    assert options.start == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert options.end == datetime(2026, 12, 1, 11, tzinfo=UTC)
    assert options.timescales == {Rag.RED: timedelta(seconds=20), Rag.AMBER: timedelta(hours=24),
                                  Rag.GREEN: timedelta(minutes=3)}
    assert options.calendar is None and settings["working_hours"] is None
    assert settings["timescales_s"] == {"RED": 20.0, "AMBER": 86400.0, "GREEN": 180.0}
    assert options.authoriser_roles == frozenset({"Duty manager"})
    assert options.hub_name == "North"
