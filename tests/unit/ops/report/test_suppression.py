"""The disclosure-control rule: small counts hidden, and nothing hidden can be recovered."""

from __future__ import annotations

import itertools

from mash_ops.report.tables import (
    ALL,
    SECONDARY,
    SUPPRESSED,
    Measure,
    Row,
    Table,
    merge,
    publish,
    suppressed_cells,
)

COUNT = Measure("n", "count", "n")


def one_dim(values: dict[str, int]) -> Table:
    rows = [Row({"k": k}, {"n": v}) for k, v in values.items()]
    rows.append(Row({"k": ALL}, {"n": sum(values.values())}))
    return Table("t", "t", "t", ["k"], [COUNT], rows)


def shown(table: Table) -> dict[str, object]:
    return {r.labels["k"]: r.values["n"] for r in publish(table).rows}


def test_counts_from_one_to_four_are_hidden_zero_and_five_are_shown() -> None:
    got = shown(one_dim({"a": 0, "b": 1, "c": 4, "d": 5, "e": 40}))
    assert got["a"] == 0 and got["d"] == 5
    assert got["b"] == SUPPRESSED and got["c"] == SUPPRESSED


def test_a_lone_hidden_cell_in_a_total_takes_the_next_smallest_with_it() -> None:
    # 3 alone would be total - (10 + 20 + 7): the 7 is hidden too.
    got = shown(one_dim({"a": 3, "b": 10, "c": 20, "d": 7}))
    assert got == {"a": SUPPRESSED, "b": 10, "c": 20, "d": SECONDARY, ALL: 40}


def test_two_hidden_cells_need_nothing_more() -> None:
    got = shown(one_dim({"a": 3, "b": 2, "c": 20}))
    assert got == {"a": SUPPRESSED, "b": SUPPRESSED, "c": 20, ALL: 25}


def test_a_small_total_is_hidden_itself_so_its_zeros_may_show() -> None:
    got = shown(one_dim({"a": 2, "b": 0}))
    assert got == {"a": SUPPRESSED, "b": 0, ALL: SUPPRESSED}


def test_parts_within_a_row_are_protected_too() -> None:
    table = Table("t", "t", "t", ["k"], [
        Measure("asked", "count", "asked", parts=("yes", "no", "late")),
        Measure("yes", "count", "yes"), Measure("no", "count", "no"),
        Measure("late", "count", "late")],
        [Row({"k": "x"}, {"asked": 30, "yes": 20, "no": 8, "late": 2})])
    values = publish(table).rows[0].values
    assert values == {"asked": 30, "yes": 20, "no": SECONDARY, "late": SUPPRESSED}


def recoverable(table: Table) -> list[tuple[int, str]]:
    """Hidden cells some published sum gives away (exactly one unknown in it)."""
    hidden = suppressed_cells(table)
    found = []
    for i in range(len(table.rows)):
        for m in table.counts:
            if m.parts:
                cells = [(i, m.name), *((i, p) for p in m.parts)]
                unknown = [c for c in cells if c in hidden]
                if len(unknown) == 1:
                    found.append(unknown[0])
    for d in table.dimensions:
        others = [o for o in table.dimensions if o != d]
        for i, total in enumerate(table.rows):
            if total.labels[d] != ALL:
                continue
            members = [j for j, r in enumerate(table.rows) if r.labels[d] != ALL
                       and all(r.labels[o] == total.labels[o] for o in others)]
            for m in table.counts:
                cells = [(i, m.name), *((j, m.name) for j in members)]
                unknown = [c for c in cells if c in hidden]
                if members and len(unknown) == 1:
                    found.append(unknown[0])
    return found


def two_dims(grid: dict[tuple[str, str], int]) -> Table:
    rows: dict[tuple[str, str], Row] = {}
    for (a, b), n in grid.items():
        for key in itertools.product((a, ALL), (b, ALL)):
            row = rows.setdefault(key, Row({"agency": key[0], "rag": key[1]}, {"n": 0}))
            row.counts["n"] += n
    return Table("t", "t", "t", ["agency", "rag"], [COUNT], list(rows.values()))


def test_no_hidden_cell_is_recoverable_from_rows_or_columns_of_a_two_way_table() -> None:
    for seed in range(60):
        values = [(seed * 7 + i * 13) % 23 for i in range(9)]
        grid = {(a, b): values[i * 3 + j] for i, a in enumerate("pqr")
                for j, b in enumerate(("RED", "AMBER", "GREEN"))}
        table = two_dims(grid)
        assert recoverable(table) == [], (seed, grid)
        for row in publish(table).rows:
            n = row.values["n"]
            assert not (isinstance(n, int) and 0 < n < 5)


def test_shares_and_percentiles_on_small_bases_are_not_shown() -> None:
    table = Table("t", "t", "t", ["k"], [
        Measure("cases", "count", "cases"), Measure("on_time", "count", "on time"),
        Measure("share", "share", "share", numerator="on_time", denominator="cases"),
        Measure("p50", "percentile", "p50", of="d", q=50, unit="seconds")], [
        Row({"k": "small"}, {"cases": 4, "on_time": 4}, {"d": [1.0, 2.0, 3.0, 4.0]}),
        Row({"k": "complement"}, {"cases": 30, "on_time": 28}, {"d": [1.0] * 30}),
        Row({"k": "fine"}, {"cases": 30, "on_time": 20}, {"d": [1.0] * 10 + [5.0] * 20})])
    rows = {r.labels["k"]: r.values for r in publish(table).rows}
    assert rows["small"]["share"] is None and rows["small"]["p50"] is None
    assert rows["complement"]["share"] is None  # 28 of 30 gives away the 2
    assert rows["fine"]["share"] == round(20 / 30, 4) and rows["fine"]["p50"] == 5.0
    raw = {r.labels["k"]: r.values for r in publish(table, suppress=False).rows}
    assert raw["small"]["share"] == 1.0 and raw["small"]["p50"] == 2.0


def test_merged_hubs_are_suppressed_after_adding_up() -> None:
    north = one_dim({"a": 3, "b": 30})
    south = one_dim({"a": 4, "b": 12})
    merged = merge([("North", north), ("South", south)])
    rows = {(r.labels["hub"], r.labels["k"]): r.values["n"] for r in publish(merged).rows}
    assert rows[("ALL", "a")] == 7  # 3 + 4: shown nationally though hidden in each hub
    assert rows[("North", "a")] == SUPPRESSED and rows[("South", "a")] == SUPPRESSED
    assert rows[("North", "b")] == SECONDARY  # else 33 - 30 gives North's 3 away
    assert rows[("ALL", ALL)] == 49
    assert recoverable(merged) == []
