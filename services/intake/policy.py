"""The hub's threshold policy (config/threshold-policy.yaml): RAG rules, timescales, calendar.

Pure: rating and due-time arithmetic take the time they are asked about; nothing here reads
the clock, the environment or Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mash_common.configfile import load_yaml_model
from mash_common.contracts import (
    Concern,
    ConsentStatus,
    FiredRule,
    Indicator,
    Rag,
    Referral,
    ReferrerType,
)
from mash_common.workinghours import Weekday, WorkingHours, zone_name

__all__ = ["Weekday", "WorkingHours"]  # re-exported: their home is mash_common.workinghours

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> timedelta:
    """'4h', '90m', '30s', '3d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 4h, 90m, 30s")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("a duration is a number of seconds or text like 4h, 90m, 30s")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timescales(_Model):
    """How long each RAG gives the hub to gather information."""

    RED: Duration = timedelta(hours=4)
    AMBER: Duration = timedelta(hours=24)
    GREEN: Duration = timedelta(hours=72)

    def of(self, rag: Rag) -> timedelta:
        return {Rag.RED: self.RED, Rag.AMBER: self.AMBER, Rag.GREEN: self.GREEN}[rag]


class Conditions(_Model):
    """All the conditions a rule names must hold (AND); a list condition holds if any item does."""

    any_concern: list[Concern] = Field(default_factory=list)
    any_indicator: list[Indicator] = Field(default_factory=list)
    all_indicators: list[Indicator] = Field(default_factory=list)
    min_concerns: int | None = Field(default=None, ge=1)
    age_under_years: float | None = Field(default=None, gt=0)
    consent_in: list[ConsentStatus] = Field(default_factory=list)
    referrer_type_in: list[ReferrerType] = Field(default_factory=list)
    already_open: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Conditions:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a rule needs at least one condition")
        return self


class Rule(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")]
    description: str = Field(min_length=1)
    rag: Rag
    when: Conditions


class ThresholdPolicy(_Model):
    version: str = Field(min_length=1)
    default_rag: Rag = Rag.GREEN
    display_timezone: Annotated[str, BeforeValidator(zone_name)] = "Europe/London"
    timescales: Timescales = Field(default_factory=Timescales)
    working_hours: WorkingHours | None = None
    rules: list[Rule]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    def with_overrides(self, red: timedelta | None = None, amber: timedelta | None = None,
                       green: timedelta | None = None, *, working_hours: bool = True
                       ) -> ThresholdPolicy:
        """A copy with some timescales replaced, or the calendar dropped (settings override
        the file: tests and demos)."""
        ts = self.timescales
        new = Timescales(RED=red or ts.RED, AMBER=amber or ts.AMBER, GREEN=green or ts.GREEN)
        calendar = self.working_hours if working_hours else None
        return self.model_copy(update={"timescales": new, "working_hours": calendar})


def load_policy(path: Path) -> ThresholdPolicy:
    """Load and validate; a ConfigError names the file and line of every problem."""
    return load_yaml_model(path, ThresholdPolicy)


# Rating ---------------------------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def age_under(dob: date | None, years: float, on: date) -> bool:
    """True if a child born on dob is younger than `years` on the given day."""
    if dob is None:
        return False
    whole = int(years)
    limit = _add_years(dob, whole) + timedelta(days=round((years - whole) * 365.25))
    return on < limit


def _holds(when: Conditions, referral: Referral, already_open: bool, today: date) -> bool:
    if when.any_concern and not set(when.any_concern) & set(referral.concerns):
        return False
    if when.any_indicator and not set(when.any_indicator) & set(referral.indicators):
        return False
    if when.all_indicators and not set(when.all_indicators) <= set(referral.indicators):
        return False
    if when.min_concerns is not None and len(set(referral.concerns)) < when.min_concerns:
        return False
    if when.age_under_years is not None and not age_under(
        referral.subject.date_of_birth, when.age_under_years, today
    ):
        return False
    if when.consent_in and referral.consent.status not in when.consent_in:
        return False
    if when.referrer_type_in and referral.referrer.agency_type not in when.referrer_type_in:
        return False
    return not (when.already_open is not None and when.already_open != already_open)


@dataclass(frozen=True)
class Rating:
    rag: Rag
    fired: list[FiredRule]


def highest(rags: Sequence[Rag]) -> Rag:
    return min(rags, key=lambda r: r.rank)


def rate(policy: ThresholdPolicy, referral: Referral, *, already_open: bool, now: datetime) -> Rating:
    """Every rule that fires, and the highest RAG among them (the default if none fires)."""
    today = now.astimezone(ZoneInfo(policy.display_timezone)).date()
    fired = [
        FiredRule(rule_id=rule.id, description=rule.description, rag=rule.rag)
        for rule in policy.rules
        if _holds(rule.when, referral, already_open, today)
    ]
    rag = highest([f.rag for f in fired]) if fired else policy.default_rag
    return Rating(rag, fired)


def due_at(policy: ThresholdPolicy, rag: Rag, start: datetime) -> datetime:
    """When work started at `start` with this RAG is due; Red always runs round the clock."""
    duration = policy.timescales.of(rag)
    calendar = policy.working_hours
    if calendar is not None and rag in calendar.applies_to:
        return calendar.add(start, duration)
    return start + duration
