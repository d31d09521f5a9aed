"""Threshold policy: loading with line numbers, rating rules, due times and the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from mash_common.contracts import Concern, Consent, ConsentStatus, Indicator, Rag, Subject
from mash_common.errors import ConfigError
from mash_hub.services.intake.policy import (
    ThresholdPolicy,
    WorkingHours,
    age_under,
    due_at,
    load_policy,
    parse_duration,
    rate,
)
from tests.support.factories import referral
from tests.unit.intake.support import NOW

DEFAULT = Path(__file__).resolve().parents[3] / "config" / "threshold-policy.yaml"
POLICY = load_policy(DEFAULT)


def child(dob: date | None) -> Subject:
    return Subject(given_name="Sam", family_name="Example", date_of_birth=dob)


@pytest.mark.parametrize(("overrides", "already_open", "rag", "fired"), [
    ({"concerns": [Concern.NEGLECT], "indicators": []}, False, Rag.GREEN, []),
    ({"indicators": [Indicator.IMMEDIATE_DANGER]}, False, Rag.RED, ["red-immediate-danger"]),
    ({"concerns": [Concern.PHYSICAL_ABUSE], "indicators": [Indicator.CHILD_DISCLOSURE]}, False,
     Rag.RED, ["red-disclosed-abuse", "amber-abuse"]),
    ({"concerns": [Concern.SEXUAL_EXPLOITATION], "indicators": []}, False, Rag.AMBER,
     ["amber-exploitation"]),
    ({"subject": child(date(2026, 3, 1)), "indicators": []}, False, Rag.AMBER, ["amber-baby"]),
    ({"subject": child(date(2025, 11, 4)), "indicators": []}, False, Rag.GREEN, []),  # one today
    ({"subject": child(date(2026, 3, 1)), "indicators": [Indicator.INJURY]}, False, Rag.RED,
     ["red-injured-baby", "amber-baby"]),
    ({"subject": child(None), "indicators": [Indicator.PREGNANCY_OR_UNBORN]}, False, Rag.AMBER,
     ["amber-unborn"]),
    ({"indicators": []}, True, Rag.AMBER, ["amber-already-open"]),
    ({"consent": Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION, override_reason="r",
                         override_authorised_by="m"), "indicators": []}, False, Rag.AMBER,
     ["amber-consent-overridden"]),
    ({"concerns": [Concern.NEGLECT, Concern.MISSING, Concern.OTHER], "indicators": []}, False,
     Rag.AMBER, ["amber-several-concerns"]),
    ({"concerns": [Concern.FGM], "indicators": [Indicator.DISABLED_CHILD]}, False, Rag.RED,
     ["red-fgm", "green-disabled-child"]),
])
def test_rating(overrides: dict[str, Any], already_open: bool, rag: Rag, fired: list[str]) -> None:
    rating = rate(POLICY, referral("R1", **overrides), already_open=already_open, now=NOW)
    assert rating.rag is rag
    assert [f.rule_id for f in rating.fired] == fired


def test_default_rag_applies_when_no_rule_fires() -> None:
    policy = POLICY.model_copy(update={"default_rag": Rag.AMBER, "rules": []})
    assert rate(policy, referral("R1"), already_open=False, now=NOW).rag is Rag.AMBER


@pytest.mark.parametrize(("dob", "years", "on", "under"), [
    (date(2025, 11, 5), 1, date(2026, 11, 4), True),
    (date(2025, 11, 4), 1, date(2026, 11, 4), False),
    (date(2024, 2, 29), 1, date(2025, 2, 27), True),
    (date(2024, 2, 29), 1, date(2025, 2, 28), False),
    (None, 1, date(2026, 11, 4), False),
])
def test_age_under(dob: date | None, years: float, on: date, under: bool) -> None:
    assert age_under(dob, years, on) is under


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400), ("90m", 5400), ("30s", 30),
                                               ("3d", 259200), (5, 5), ("2.5", 2.5)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


# The calendar: Mon-Fri 09:00-17:00 London, with the Christmas 2026 bank holidays.
CAL = WorkingHours(bank_holidays=[date(2026, 12, 25), date(2026, 12, 28)])


def london(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


@pytest.mark.parametrize(("start", "duration", "due"), [
    # Wednesday 10:00 + 24h = Thursday 10:00; + 72h = the next Monday 10:00.
    (london(2026, 11, 4, 10), timedelta(hours=24), london(2026, 11, 5, 10)),
    (london(2026, 11, 4, 10), timedelta(hours=72), london(2026, 11, 9, 10)),
    # Friday 16:00 + 24h = Monday 16:00.
    (london(2026, 11, 6, 16), timedelta(hours=24), london(2026, 11, 9, 16)),
    # Saturday: the clock starts at Monday's opening.
    (london(2026, 11, 7, 11), timedelta(hours=24), london(2026, 11, 10, 9)),
    # Less than a day counts working hours: Friday 16:00 + 2h = Monday 10:00.
    (london(2026, 11, 6, 16), timedelta(hours=2), london(2026, 11, 9, 10)),
    # Evening arrival, seconds: next morning's opening plus the seconds.
    (london(2026, 11, 4, 20), timedelta(seconds=30), london(2026, 11, 5, 9) + timedelta(seconds=30)),
    # Christmas: Thu 24 Dec + 24h skips Fri 25 (holiday), the weekend and Mon 28 (holiday).
    (london(2026, 12, 24, 12), timedelta(hours=24),
     london(2026, 12, 29, 12)),
    # Summer time: Friday 27 March 2026 12:00 GMT + 24h = Monday 30 March 12:00 BST.
    (london(2026, 3, 27, 12), timedelta(hours=24), london(2026, 3, 30, 12)),
])
def test_working_hours(start: datetime, duration: timedelta, due: datetime) -> None:
    assert CAL.add(start, duration) == due


def test_a_day_is_a_working_day_unless_listed_as_a_holiday() -> None:
    assert WorkingHours().add(london(2026, 12, 24, 12), timedelta(hours=24)) == london(2026, 12, 25, 12)


def test_red_runs_round_the_clock_and_amber_uses_the_calendar() -> None:
    policy = POLICY.with_overrides(red=timedelta(seconds=4))
    saturday = london(2026, 11, 7, 23)
    assert due_at(policy, Rag.RED, saturday) == saturday + timedelta(seconds=4)
    assert due_at(policy, Rag.AMBER, saturday) == london(2026, 11, 10, 9)
    no_calendar = POLICY.with_overrides(amber=timedelta(seconds=8), working_hours=False)
    assert due_at(no_calendar, Rag.AMBER, saturday) == saturday + timedelta(seconds=8)


def test_default_policy_timescales() -> None:
    assert timedelta(hours=4) == POLICY.timescales.RED
    assert timedelta(hours=24) == POLICY.timescales.AMBER
    assert timedelta(hours=72) == POLICY.timescales.GREEN
    assert POLICY.working_hours is not None and POLICY.working_hours.start == time(9)


@pytest.mark.parametrize(("yaml_text", "where"), [
    ("version: v1\nrules:\n  - id: r1\n    description: d\n    rag: PURPLE\n    when: {min_concerns: 1}\n",
     ":5: rules.0.rag"),
    ("version: v1\nrules:\n  - id: r1\n    description: d\n    rag: RED\n    when: {}\n",
     ":6: rules.0.when"),
    ("version: v1\nrules:\n  - id: r1\n    description: d\n    rag: RED\n    when: {any_concern: [BURGLARY]}\n",
     ":6: rules.0.when.any_concern.0"),
    ("version: v1\ntimescales:\n  RED: soon\nrules: []\n", ":3: timescales.RED"),
    ("version: v1\nworking_hours:\n  timezone: Mars/Olympus\nrules: []\n", ":3: working_hours.timezone"),
    ("version: v1\nworking_hours:\n  applies_to: [RED]\nrules: []\n", ":2: working_hours"),
    ("version: v1\nrules:\n  - {id: a1, description: d, rag: RED, when: {min_concerns: 1}}\n"
     "  - {id: a1, description: d, rag: RED, when: {min_concerns: 1}}\n", ":2: rules"),
])
def test_bad_policy_names_the_line(tmp_path: Path, yaml_text: str, where: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert f"{path}{where}" in str(caught.value)


def test_policy_model_round_trip() -> None:
    assert ThresholdPolicy.model_validate(POLICY.model_dump()) == POLICY
