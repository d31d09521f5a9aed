"""The working-hours calendar: Amber and Green clocks run only inside it, Red never stops.

Shared by intake (deadlines) and enrichment (chases), so a chase for Amber or Green work
goes out inside the same hours its deadline counts. Pure: every method takes the time it is
asked about.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mash_common.configfile import load_yaml_model
from mash_common.contracts import Rag


class Weekday(StrEnum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)


def zone_name(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


class WorkingHours(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    """A working-hours calendar; Amber and Green clocks run only inside it, Red never stops."""

    timezone: Annotated[str, BeforeValidator(zone_name)] = "Europe/London"
    days: list[Weekday] = Field(default_factory=lambda: [Weekday(d) for d in ("MON", "TUE", "WED", "THU", "FRI")])
    start: time = time(9, 0)
    end: time = time(17, 0)
    bank_holidays: list[date] = Field(default_factory=list)
    applies_to: list[Rag] = Field(default_factory=lambda: [Rag.AMBER, Rag.GREEN])

    @model_validator(mode="after")
    def _sane(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not self.days:
            raise ValueError("days must name at least one working day")
        if Rag.RED in self.applies_to:
            raise ValueError("RED work runs round the clock; applies_to may name AMBER and GREEN only")
        return self

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in {d.number for d in self.days} and day not in self.bank_holidays

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """start plus duration in working time.

        Whole days count as working days (24h is the same time next working day, 72h three
        working days on, the way hubs state timescales); the remainder counts working hours
        only. Work arriving out of hours starts at the next opening.
        """
        zone = ZoneInfo(self.timezone)
        days, remainder = divmod(duration, timedelta(days=1))
        current = self._working_moment(start.astimezone(zone))
        for _ in range(days):
            day = self._next_working_day(current.date())
            current = datetime.combine(day, current.timetz().replace(tzinfo=None), zone)
        remaining = remainder
        for _ in range(_SEARCH_DAYS):
            day = current.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                current = max(current, opens)
                if current < closes:
                    available = closes - current
                    if remaining <= available:
                        return (current + remaining).astimezone(UTC)
                    remaining -= available
            current = datetime.combine(day + timedelta(days=1), time(0), zone)
        raise ValueError("the working-hours calendar has no working time in the next two years")

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        return (self.is_working_day(local.date())
                and self.start <= local.time().replace(tzinfo=None) < self.end)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments (zero if end is not after start)."""
        zone = ZoneInfo(self.timezone)
        total = timedelta(0)
        current = start.astimezone(zone)
        end = end.astimezone(zone)
        for _ in range(_SEARCH_DAYS):
            if current >= end:
                break
            day = current.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                lo, hi = max(current, opens), min(end, closes)
                if hi > lo:
                    total += hi - lo
            current = datetime.combine(day + timedelta(days=1), time(0), zone)
        return total

    def advance(self, start: datetime, working: timedelta) -> datetime:
        """The moment `working` of working time after start, counted in open hours only
        (unlike add, whole days are not counted as working days)."""
        zone = ZoneInfo(self.timezone)
        current = self._working_moment(start.astimezone(zone))
        remaining = working
        for _ in range(_SEARCH_DAYS):
            day = current.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                current = max(current, opens)
                if current < closes:
                    available = closes - current
                    if remaining < available:
                        return (current + remaining).astimezone(UTC)
                    remaining -= available
            current = datetime.combine(day + timedelta(days=1), time(0), zone)
        raise ValueError("the working-hours calendar has no working time in the next two years")

    def _working_moment(self, moment: datetime) -> datetime:
        """moment if it is inside working hours, else the next opening."""
        zone = moment.tzinfo
        for _ in range(_SEARCH_DAYS):
            day = moment.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                if moment < closes:
                    return max(moment, opens)
            moment = datetime.combine(day + timedelta(days=1), time(0), zone)
        raise ValueError("the working-hours calendar has no working time in the next two years")

    def _next_working_day(self, day: date) -> date:
        for _ in range(_SEARCH_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError("the working-hours calendar has no working day in the next two years")


# Two years of calendar days is far more than any timescale needs; the bound only protects
# against a calendar whose every working day is a bank holiday.
_SEARCH_DAYS = 366 * 2




class _PolicyCalendar(BaseModel):
    """The part of config/threshold-policy.yaml other services than intake read."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    working_hours: WorkingHours | None = None


def load_calendar(path: Path) -> WorkingHours | None:
    """The threshold policy's working-hours calendar, or None if it has none."""
    return load_yaml_model(path, _PolicyCalendar).working_hours
