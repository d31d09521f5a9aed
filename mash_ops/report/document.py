"""The report as a document: the versioned JSON (schema-v1.json beside this module), its CSV
files, and the national roll-up that merges several hubs' documents.

Two forms of one document: published (suppressed: every figure through the disclosure
rule, safe to file and share) and unsuppressed (whole counts and the durations behind each
percentile: restricted, for the national group under the hubs' data-sharing agreement, and
the only form a roll-up can merge, since suppressed cells cannot be added).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from mash_ops.errors import OpsError
from mash_ops.report.tables import (
    SECONDARY,
    SUPPRESSED,
    THRESHOLD,
    Table,
    merge,
    publish,
    table_from_json,
    table_json,
)

SCHEMA_NAME = "mash-hub/monitoring-report"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schema-v1.json"

SUPPRESSION_RULE = (
    f"Counts from 1 to {THRESHOLD - 1} are shown as \"{SUPPRESSED}\" (primary suppression). "
    "Wherever a published total lets a reader subtract (a row's parts and their total, or "
    "the rows a total row adds up), a sum with exactly one hidden cell has one more cell "
    "hidden, the smallest non-zero one, shown as \"c\" (secondary suppression: that cell "
    "is not small, it is hidden to protect another), until no hidden count can be "
    "recovered. A share is not shown (null) when its numerator or denominator is hidden "
    f"or they differ by 1 to {THRESHOLD - 1}; a percentile is not shown over fewer than "
    f"{THRESHOLD} values. Zero is shown as 0.")


class ReportFormatError(OpsError, ValueError):
    """A document that is not a report this code can read (or merge)."""


@dataclass
class Report:
    """A report in memory: raw tables and what they are about."""

    scope: str  # "hub" or "national"
    hubs: list[str]
    period_from: datetime
    period_to: datetime
    as_of: datetime
    generated_at: datetime
    settings: list[dict[str, Any]]  # per hub: timescales and calendar used
    sources: list[dict[str, Any]]  # per hub: where the events came from
    tables: list[Table]

    def table(self, table_id: str) -> Table:
        for t in self.tables:
            if t.id == table_id:
                return t
        raise KeyError(table_id)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_json(report: Report, *, suppress: bool = True) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "scope": report.scope,
        "hubs": report.hubs,
        "period": {"from": _iso(report.period_from), "to": _iso(report.period_to)},
        "as_of": _iso(report.as_of),
        "generated_at": _iso(report.generated_at),
        "suppressed": suppress,
        "suppression": {"threshold": THRESHOLD, "shown_as": SUPPRESSED,
                        "secondary_shown_as": SECONDARY, "rule": SUPPRESSION_RULE},
        "settings": report.settings,
        "sources": report.sources,
        "tables": [table_json(t, suppress=suppress) for t in report.tables],
    }


def validate(document: dict[str, Any]) -> None:
    """Raise ReportFormatError unless the document conforms to schema-v1.json."""
    schema = json.loads(SCHEMA_PATH.read_text())
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ReportFormatError(f"not a v1 report at /{where}: {exc.message}") from None


def from_json(document: dict[str, Any]) -> Report:
    """An unsuppressed document back into a Report (for the roll-up)."""
    validate(document)
    if document["suppressed"]:
        raise ReportFormatError(
            "this report is suppressed: its small counts are hidden and cannot be added up; "
            "the roll-up needs each hub's unsuppressed report (--unsuppressed-json)")
    return Report(
        scope=document["scope"], hubs=list(document["hubs"]),
        period_from=_parse(document["period"]["from"]),
        period_to=_parse(document["period"]["to"]),
        as_of=_parse(document["as_of"]), generated_at=_parse(document["generated_at"]),
        settings=list(document["settings"]), sources=list(document["sources"]),
        tables=[table_from_json(t) for t in document["tables"]])


def national(reports: Sequence[Report], generated_at: datetime) -> Report:
    """Several hubs' reports of one period as one comparison, hub by hub and in total."""
    if not reports:
        raise ReportFormatError("no reports to merge")
    hubs = [h for r in reports for h in r.hubs]
    if len(set(hubs)) != len(hubs):
        raise ReportFormatError(f"a hub appears twice: {hubs}")
    if any(r.scope != "hub" for r in reports):
        raise ReportFormatError("only hub reports can be merged")
    periods = {(r.period_from, r.period_to) for r in reports}
    if len(periods) != 1:
        raise ReportFormatError("the reports cover different periods; a comparison needs one")
    ids = [t.id for t in reports[0].tables]
    for r in reports[1:]:
        if [t.id for t in r.tables] != ids:
            raise ReportFormatError(f"hub {r.hubs[0]} has other tables than {reports[0].hubs[0]}")
    tables = [merge([(r.hubs[0], r.table(table_id)) for r in reports]) for table_id in ids]
    first = reports[0]
    return Report("national", hubs, first.period_from, first.period_to,
                  max(r.as_of for r in reports), generated_at,
                  [s for r in reports for s in r.settings],
                  [s for r in reports for s in r.sources], tables)


def write_csv(report: Report, folder: Path, *, suppress: bool = True) -> list[Path]:
    """One CSV per table: its label columns, then its measures (published values)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in report.tables:
        published = publish(table, suppress=suppress)
        path = folder / f"{table.id}.csv"
        columns = [*table.dimensions, *table.descriptions, *(m.name for m in table.measures)]
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            for row in published.rows:
                labels = [row.labels.get(c, "") for c in (*table.dimensions, *table.descriptions)]
                values = ["" if row.values[m.name] is None else row.values[m.name]
                          for m in table.measures]
                writer.writerow([*labels, *values])
        paths.append(path)
    return paths
