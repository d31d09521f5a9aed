"""The report's figures as tables of counts, and the one disclosure-control rule every table
goes through before anyone outside the hub sees it.

A table is raw while the hub holds it: whole counts and, where a measure is a percentile, the
list of durations it is taken from. `publish` turns a raw table into what is printed: shares
and percentiles derived, small counts suppressed (primary), and enough other cells
suppressed that no suppressed count can be found again by subtraction (secondary). Pure: no
Kafka, no clock, no files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# Cells below this (and above zero) are shown as SUPPRESSED (primary suppression); cells
# hidden only so that those cannot be recovered by subtraction are shown as SECONDARY.
THRESHOLD = 5
SUPPRESSED = "<5"
SECONDARY = "c"
# The label a dimension takes in a row that totals over it.
ALL = "ALL"

Value = int | float | str | None


@dataclass(frozen=True)
class Measure:
    """One column of a table.

    kind "count": a whole number of things (cases, requests...);
    kind "share": numerator / denominator, both count measures of the same row;
    kind "percentile": the q-th nearest-rank percentile of the row's durations named `of`.
    `parts`: for a count, the counts of the same row that add up to it (used by secondary
    suppression, and checked when a table is built).
    """

    name: str
    kind: Literal["count", "share", "percentile"]
    title: str
    numerator: str | None = None
    denominator: str | None = None
    of: str | None = None
    q: float | None = None
    parts: tuple[str, ...] = ()
    unit: str | None = None


@dataclass
class Row:
    labels: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=dict)

    def key(self, dimensions: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.labels[d] for d in dimensions)


@dataclass
class Table:
    id: str
    title: str
    description: str
    dimensions: list[str]
    measures: list[Measure]
    rows: list[Row] = field(default_factory=list)
    # Label columns that describe a dimension's value (a census code's words): not counted.
    descriptions: list[str] = field(default_factory=list)

    @property
    def counts(self) -> list[Measure]:
        return [m for m in self.measures if m.kind == "count"]

    def measure(self, name: str) -> Measure:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    def row(self, **labels: str) -> Row:
        """The row with exactly these dimension labels (KeyError if there is none)."""
        want = tuple(labels[d] for d in self.dimensions)
        for r in self.rows:
            if r.key(self.dimensions) == want:
                return r
        raise KeyError(want)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# -- publishing --------------------------------------------------------------------------


@dataclass
class PublishedRow:
    labels: dict[str, str]
    values: dict[str, Value]


@dataclass
class PublishedTable:
    table: Table
    rows: list[PublishedRow]


def derive(table: Table, row: Row) -> dict[str, Value]:
    """Every measure of a raw row, shares and percentiles computed, nothing suppressed."""
    out: dict[str, Value] = {}
    for m in table.measures:
        if m.kind == "count":
            out[m.name] = row.counts.get(m.name, 0)
        elif m.kind == "share":
            assert m.numerator and m.denominator
            den = row.counts.get(m.denominator, 0)
            out[m.name] = None if den == 0 else round(row.counts.get(m.numerator, 0) / den, 4)
        else:
            assert m.of and m.q is not None
            p = percentile(row.durations.get(m.of, []), m.q)
            out[m.name] = None if p is None else round(p, 1)
    return out


def _small(n: int) -> bool:
    return 0 < n < THRESHOLD


def _constraints(table: Table) -> list[tuple[tuple[int, str], list[tuple[int, str]]]]:
    """(total cell, part cells) for every sum the published table lets a reader check.

    Within a row: a count and its declared parts. Across rows: for each dimension, a row
    whose label is ALL totals the rows that agree with it on every other dimension and do
    not total over this one."""
    out: list[tuple[tuple[int, str], list[tuple[int, str]]]] = []
    for i, _ in enumerate(table.rows):
        for m in table.counts:
            if m.parts:
                out.append(((i, m.name), [(i, p) for p in m.parts]))
    for d in table.dimensions:
        others = [o for o in table.dimensions if o != d]
        for i, total in enumerate(table.rows):
            if total.labels[d] != ALL:
                continue
            members = [j for j, r in enumerate(table.rows)
                       if r.labels[d] != ALL
                       and all(r.labels[o] == total.labels[o] for o in others)]
            if not members:
                continue
            for m in table.counts:
                out.append(((i, m.name), [(j, m.name) for j in members]))
    return out


def suppressed_cells(table: Table) -> set[tuple[int, str]]:
    """The (row index, count name) cells to hide.

    Primary: every count from 1 to THRESHOLD - 1. Secondary: while some published sum
    (see _constraints) has exactly one hidden cell, hide one more of its cells, the
    smallest non-zero part (else the smallest part, else the total), so no hidden count is
    the difference of shown ones."""
    value = {(i, m.name): r.counts.get(m.name, 0)
             for i, r in enumerate(table.rows) for m in table.counts}
    hidden = {cell for cell, n in value.items() if _small(n)}
    constraints = _constraints(table)
    changed = True
    while changed:
        changed = False
        for total, parts in constraints:
            cells = [total, *parts]
            if sum(1 for c in cells if c in hidden) != 1:
                continue
            open_parts = [p for p in parts if p not in hidden]
            nonzero = [p for p in open_parts if value[p] > 0]
            pick = (min(nonzero, key=lambda c: (value[c], c)) if nonzero
                    else min(open_parts, key=lambda c: (value[c], c)) if open_parts
                    else total)
            if pick in hidden:
                continue  # only the total was left and it is the hidden one
            hidden.add(pick)
            changed = True
    return hidden


def publish(table: Table, *, suppress: bool = True) -> PublishedTable:
    """The table as printed. With suppress, a hidden count shows as SUPPRESSED (1 to 4) or
    SECONDARY (hidden to protect another cell: 0 or at least 5); a share is
    null when its numerator or denominator is hidden or the two differ by 1 to 4 (the
    complement would be a small count); a percentile is null over fewer than THRESHOLD
    durations."""
    hidden = suppressed_cells(table) if suppress else set()
    rows = []
    for i, row in enumerate(table.rows):
        values = derive(table, row)
        if suppress:
            for m in table.measures:
                if m.kind == "count" and (i, m.name) in hidden:
                    values[m.name] = (SUPPRESSED if _small(row.counts.get(m.name, 0))
                                      else SECONDARY)
                elif m.kind == "share":
                    assert m.numerator and m.denominator
                    num = row.counts.get(m.numerator, 0)
                    den = row.counts.get(m.denominator, 0)
                    if ((i, m.numerator) in hidden or (i, m.denominator) in hidden
                            or _small(den - num) or _small(den)):
                        values[m.name] = None
                elif m.kind == "percentile":
                    assert m.of
                    if len(row.durations.get(m.of, [])) < THRESHOLD:
                        values[m.name] = None
        rows.append(PublishedRow(dict(row.labels), values))
    return PublishedTable(table, rows)


# -- merging hubs --------------------------------------------------------------------------


def merge(hub_tables: Sequence[tuple[str, Table]], dimension: str = "hub") -> Table:
    """One table of the same figure from several hubs: each hub's rows under its name in a
    new first dimension, and the hubs' sums under ALL (counts added, durations pooled)."""
    first = hub_tables[0][1]
    merged = Table(first.id, first.title, first.description, [dimension, *first.dimensions],
                   list(first.measures), descriptions=list(first.descriptions))
    totals: dict[tuple[str, ...], Row] = {}
    for hub, table in hub_tables:
        if table.measures != first.measures or table.dimensions != first.dimensions:
            raise ValueError(f"table {table.id} of hub {hub} has another shape")
        for row in table.rows:
            merged.rows.append(Row({dimension: hub, **row.labels}, dict(row.counts),
                                   {k: list(v) for k, v in row.durations.items()}))
            total = totals.setdefault(row.key(first.dimensions),
                                      Row({dimension: ALL, **row.labels}))
            for name, n in row.counts.items():
                total.counts[name] = total.counts.get(name, 0) + n
            for name, values in row.durations.items():
                total.durations.setdefault(name, []).extend(values)
    merged.rows.extend(totals.values())
    return merged


# -- JSON -----------------------------------------------------------------------------------


def measure_json(m: Measure) -> dict[str, Any]:
    out: dict[str, Any] = {"name": m.name, "kind": m.kind, "title": m.title}
    for key in ("numerator", "denominator", "of", "q", "unit"):
        if getattr(m, key) is not None:
            out[key] = getattr(m, key)
    if m.parts:
        out["parts"] = list(m.parts)
    return out


def table_json(table: Table, *, suppress: bool) -> dict[str, Any]:
    published = publish(table, suppress=suppress)
    rows = []
    for raw, row in zip(table.rows, published.rows, strict=True):
        entry: dict[str, Any] = {"labels": row.labels, "values": row.values}
        if not suppress and raw.durations:
            entry["durations_s"] = {k: sorted(v) for k, v in raw.durations.items()}
        rows.append(entry)
    return {
        "id": table.id,
        "title": table.title,
        "description": table.description,
        "dimensions": table.dimensions,
        "descriptions": table.descriptions,
        "measures": [measure_json(m) for m in table.measures],
        "rows": rows,
    }


def table_from_json(data: dict[str, Any]) -> Table:
    """A raw table back from an unsuppressed report's JSON."""
    measures = [Measure(name=m["name"], kind=m["kind"], title=m["title"],
                        numerator=m.get("numerator"), denominator=m.get("denominator"),
                        of=m.get("of"), q=m.get("q"), parts=tuple(m.get("parts", ())),
                        unit=m.get("unit"))
                for m in data["measures"]]
    counts = [m.name for m in measures if m.kind == "count"]
    rows = []
    for r in data["rows"]:
        values = r["values"]
        if any(not isinstance(values[c], int) for c in counts):
            raise ValueError(f"table {data['id']}: a count is not a whole number; only an "
                             "unsuppressed report can be merged")
        rows.append(Row(dict(r["labels"]), {c: values[c] for c in counts},
                        {k: list(v) for k, v in r.get("durations_s", {}).items()}))
    return Table(data["id"], data["title"], data["description"], list(data["dimensions"]),
                 measures, rows, list(data.get("descriptions", [])))


def check_parts(tables: Iterable[Table]) -> list[str]:
    """Every declared sum that does not hold (a bug in a figure, never expected)."""
    problems = []
    for t in tables:
        for r in t.rows:
            for m in t.counts:
                if m.parts and r.counts.get(m.name, 0) != sum(r.counts.get(p, 0) for p in m.parts):
                    problems.append(f"{t.id} {r.labels}: {m.name} is not the sum of its parts")
    return problems
