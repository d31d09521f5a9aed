"""The hub's threshold policy (config/threshold-policy.yaml): RAG rules, timescales, calendar.

Pure: rating and due-time arithmetic take the time they are asked about; nothing here reads
the clock, the environment or Kafka.
"""

from __future__ import annotations

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
from mash_common.threshold import (
    RULE_ID,
    Duration,
    ResponseRule,
    Timescales,
    highest,
    parse_duration,
)
from mash_common.threshold import due_at as shared_due_at
from mash_common.workinghours import Weekday, WorkingHours, zone_name

# Re-exported: their home is mash_common (enrichment reads them too).
__all__ = ["Duration", "ResponseRule", "Timescales", "Weekday", "WorkingHours", "highest",
           "parse_duration"]

class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    id: Annotated[str, Field(pattern=RULE_ID)]
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
    # Rules over agency responses: enrichment re-rates a case in flight (mash_common.threshold).
    response_rules: list[ResponseRule] = Field(default_factory=list)

    @field_validator("rules", "response_rules")
    @classmethod
    def _unique_ids(cls, rules: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    @model_validator(mode="after")
    def _one_namespace(self) -> ThresholdPolicy:
        # A case records which rule fired, by id: one id must mean one rule.
        both = {r.id for r in self.rules} & {r.id for r in self.response_rules}
        if both:
            raise ValueError(f"rule id {sorted(both)[0]!r} names a referral rule and a response rule")
        return self

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
    return shared_due_at(policy.timescales, policy.working_hours, rag, start)
