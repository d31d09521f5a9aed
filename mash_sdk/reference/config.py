"""Configuration of the reference adapters: what an agency writes instead of code.

One YAML file per adapter, validated with mash_common.configfile.load_yaml_model so a
mistake is reported with its file and line. See docs/adapters.md for examples.
"""

from __future__ import annotations

import string
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mash_common.contracts import AgencyRecord, SubjectIdentifiers
from mash_common.hubconfig import EndpointId
from mash_sdk.errors import SdkError

# FieldMap has a field called "date", which would shadow the type inside that class.
CalendarDate = date

# What a request may be searched by: the subject identifiers the hub sends, nothing else.
SUBJECT_FIELDS: frozenset[str] = frozenset(SubjectIdentifiers.model_fields)


class MappingError(SdkError):
    """An agency system's row lacks a configured field or has one in the wrong shape.

    Names the field and category, never the value.
    """


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldMap(_Model):
    """Which of the agency system's fields become an AgencyRecord's fields."""

    summary: str
    reference: str
    date: str | None = None
    risk_flag: str | None = None
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of text dates")

    def to_record(self, category: str, row: dict[str, Any]) -> AgencyRecord:
        def get(name: str) -> Any:
            if name not in row:
                raise MappingError(f"{category}: the agency system returned no field {name!r}")
            return row[name]

        summary, reference = get(self.summary), get(self.reference)
        if summary is None or reference is None:
            raise MappingError(f"{category}: summary or reference is empty")
        return AgencyRecord(
            category=category,
            summary=str(summary),
            reference=str(reference),
            date=self._date(category, get(self.date)) if self.date else None,
            risk_flag=_truthy(get(self.risk_flag)) if self.risk_flag else False,
        )

    def _date(self, category: str, value: Any) -> CalendarDate | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return datetime.strptime(str(value), self.date_format).date()
        except ValueError:
            raise MappingError(f"{category}: field {self.date!r} is not a date in "
                               f"{self.date_format!r}") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "t"}
    return bool(value)


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _check_template(template: str) -> str:
    unknown = template_fields(template) - SUBJECT_FIELDS - {"category"}
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: "
                         f"{sorted(SUBJECT_FIELDS | {'category'})}")
    return template


class HttpQuery(_Model):
    """One call to the agency system's REST API for one data category.

    `path` and `params` are templates over the subject identifiers ({nhs_number},
    {family_name}, ...) and {category}. A param whose identifier the request lacks is left
    out; a path that needs a missing identifier means no search (no records).
    """

    method: Literal["GET", "POST"] = "GET"
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    records_path: str = Field(default="", description="dotted path to the list of records "
                              "in the JSON body; empty if the body is the list")
    fields: FieldMap

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _check_template(v)

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, str]) -> dict[str, str]:
        for template in v.values():
            _check_template(template)
        return v


class HttpBackend(_Model):
    base_url: str
    timeout_s: float = Field(default=10.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    headers_from_env: dict[str, str] = Field(
        default_factory=dict, description="header name -> environment variable (secrets)")
    categories: dict[str, HttpQuery]


class SqlQuery(_Model):
    """One parametrised SELECT for one data category; :name parameters are subject
    identifiers, bound by the driver, never pasted into the SQL."""

    query: str
    fields: FieldMap

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        head = v.lstrip().split(None, 1)[0].lower() if v.strip() else ""
        if head not in {"select", "with"}:
            raise ValueError("must be a SELECT (or WITH ... SELECT) query")
        unknown = sql_parameters(v) - SUBJECT_FIELDS
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; allowed: "
                             f"{sorted(SUBJECT_FIELDS)}")
        return v


def sql_parameters(query: str) -> set[str]:
    from sqlalchemy import text  # imported here: only SQL adapters need SQLAlchemy

    return set(text(query).compile().params)


class SqlBackend(_Model):
    url: str | None = Field(default=None, description="SQLAlchemy URL; prefer url_env")
    url_env: str | None = Field(default=None, description="environment variable holding the URL")
    pool_size: int = Field(default=2, ge=1)
    categories: dict[str, SqlQuery]

    @model_validator(mode="after")
    def _one_url(self) -> SqlBackend:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self


class CsvSource(_Model):
    """A category's CSV exports: which files, which columns hold which identifiers, and the
    identifier combinations a row is matched on (any one combination, all of its parts)."""

    files: str = Field(description="glob within the drop folder, e.g. 'attendance-*.csv'")
    columns: dict[str, str] = Field(description="subject identifier -> CSV column")
    keys: list[list[str]] = Field(default_factory=lambda: [["nhs_number"]], min_length=1)
    identifier_date_format: str = "%Y-%m-%d"
    fields: FieldMap

    @model_validator(mode="after")
    def _keys_known(self) -> CsvSource:
        unknown = set(self.columns) - SUBJECT_FIELDS
        if unknown:
            raise ValueError(f"columns: unknown identifier(s) {sorted(unknown)}")
        for key in self.keys:
            if not key:
                raise ValueError("keys: an empty key would match every row")
            missing = set(key) - set(self.columns)
            if missing:
                raise ValueError(f"keys: {sorted(missing)} have no column in 'columns'")
        return self


class CsvBackend(_Model):
    folder: Path
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    categories: dict[str, CsvSource]


class ResponderConfig(_Model):
    name: str
    role: str


class ReferenceConfig(_Model):
    """A reference adapter: the agency, who answers, what it declines, and exactly one
    backend section (http, sql or csv). A section per kind, rather than a tagged union,
    lets a validation error point at the exact line of the YAML file."""

    agency: EndpointId
    responder: ResponderConfig
    declined_categories: dict[str, str] = Field(
        default_factory=dict,
        description="data category -> reason given to the hub when it is asked for it")
    http: HttpBackend | None = None
    sql: SqlBackend | None = None
    csv: CsvBackend | None = None

    @model_validator(mode="after")
    def _one_backend(self) -> ReferenceConfig:
        given = [k for k in ("http", "sql", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one backend section (http, sql or csv), got {given}")
        return self

    @property
    def backend(self) -> HttpBackend | SqlBackend | CsvBackend:
        backend = self.http or self.sql or self.csv
        assert backend is not None  # guaranteed by _one_backend
        return backend
