"""The parts of the threshold policy (config/threshold-policy.yaml) more than one service reads.

Intake rates referrals with the whole policy (services/intake/policy.py). Enrichment re-rates
a case in flight, so it needs the timescales (a raised case's tighter deadline), the
working-hours calendar and the rules over agency responses ("police report a domestic abuse
incident in the last 28 days: at least Amber"). Pure: the time is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mash_common.configfile import load_yaml_model
from mash_common.contracts import AgencyRecord, FiredRule, InformationResponse, Rag, ResponseStatus
from mash_common.workinghours import WorkingHours, zone_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
RULE_ID = r"^[a-z0-9][a-z0-9-]{1,60}$"


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

    def with_overrides(self, red: timedelta | None = None, amber: timedelta | None = None,
                       green: timedelta | None = None) -> Timescales:
        return Timescales(RED=red or self.RED, AMBER=amber or self.AMBER, GREEN=green or self.GREEN)


def due_at(timescales: Timescales, calendar: WorkingHours | None, rag: Rag,
           start: datetime) -> datetime:
    """When work started at `start` with this RAG is due; Red always runs round the clock
    unless the calendar names it."""
    duration = timescales.of(rag)
    if calendar is not None and rag in calendar.applies_to:
        return calendar.add(start, duration)
    return start + duration


def highest(rags: Sequence[Rag]) -> Rag:
    return min(rags, key=lambda r: r.rank)


# Rules over agency responses -------------------------------------------------------------


class ResponseConditions(_Model):
    """All the conditions a response rule names must hold. The record conditions
    (any_category, risk_flag, within_days) must hold together for at least `min_records`
    records of the answer (1 by default) - records the request asked for; anything else the
    agency sent is not looked at."""

    agency_in: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]] = Field(default_factory=list)
    status_in: list[ResponseStatus] = Field(default_factory=list)
    any_category: list[str] = Field(default_factory=list)
    risk_flag: bool | None = None
    within_days: int | None = Field(default=None, ge=0, le=3660)
    min_records: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _not_empty(self) -> ResponseConditions:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a response rule needs at least one condition")
        return self

    def _record_holds(self, record: AgencyRecord, today: date) -> bool:
        if self.any_category and record.category not in self.any_category:
            return False
        if self.risk_flag is not None and record.risk_flag != self.risk_flag:
            return False
        if self.within_days is not None:
            if record.date is None:
                return False
            age = (today - record.date).days
            if age < 0 or age > self.within_days:
                return False  # a date in the future is a mistake, not a recent incident
        return True

    def holds(self, response: InformationResponse, today: date) -> bool:
        if self.agency_in and response.agency not in self.agency_in:
            return False
        if self.status_in and response.status not in self.status_in:
            return False
        record_rule = (self.any_category or self.risk_flag is not None
                       or self.within_days is not None or self.min_records is not None)
        if not record_rule:
            return True
        matching = sum(1 for r in response.records if self._record_holds(r, today))
        return matching >= (self.min_records or 1)


class ResponseRule(_Model):
    """When an agency's answer shows this, the case is at least `rag` (a rule never lowers)."""

    id: Annotated[str, Field(pattern=RULE_ID)]
    description: str = Field(min_length=1)
    rag: Rag
    when: ResponseConditions


def fired_response_rules(rules: Sequence[ResponseRule], response: InformationResponse,
                         now: datetime, zone: str = "Europe/London") -> list[FiredRule]:
    """Every response rule the answer satisfies ("the last 28 days" counts in the hub's
    local calendar, from the day the hub received the answer)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return [FiredRule(rule_id=rule.id, description=rule.description, rag=rule.rag)
            for rule in rules if rule.when.holds(response, today)]


class RatingPolicy(BaseModel):
    """What enrichment reads of the threshold policy (the rest is intake's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    display_timezone: Annotated[str, BeforeValidator(zone_name)] = "Europe/London"
    timescales: Timescales = Field(default_factory=Timescales)
    working_hours: WorkingHours | None = None
    response_rules: list[ResponseRule] = Field(default_factory=list)


def load_rating_policy(path: Path) -> RatingPolicy:
    return load_yaml_model(path, RatingPolicy)
