"""The report for people: PNG plots (matplotlib, Agg backend) and one HTML page.

Plots and tables are drawn from the published (suppressed) figures only, so nothing a plot
shows is finer than what the JSON publishes: a hidden count is drawn as nothing and marked
"<5".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window (and no display on a server)

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mash_ops.report.document import SUPPRESSION_RULE, Report  # noqa: E402
from mash_ops.report.tables import (  # noqa: E402
    ALL,
    SECONDARY,
    SUPPRESSED,
    PublishedTable,
    Value,
    publish,
)

RAG_COLOURS = {"RED": "#c0392b", "AMBER": "#e69f00", "GREEN": "#2e8b57"}
PART_COLOURS = {
    "answered_on_time": "#2e8b57", "answered_late": "#e69f00", "declined": "#7f7f7f",
    "error": "#9467bd", "no_response": "#c0392b", "withdrawn": "#bcbd22", "pending": "#c7c7c7",
}
HUB_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def _num(value: Value) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _rows(pub: PublishedTable, **fixed: str) -> list[tuple[dict[str, str], dict[str, Value]]]:
    return [(r.labels, r.values) for r in pub.rows
            if all(r.labels.get(k) == v for k, v in fixed.items())]


def _mark(ax: Axes, x: float, y: float, value: Value, horizontal: bool = True) -> None:
    text = str(value) if value in (SUPPRESSED, SECONDARY) else (
        f"{value:.0%}" if isinstance(value, float) else str(value))
    if horizontal:
        ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    else:
        # Words stand upright so that neighbouring bars' labels do not overlap.
        upright = not isinstance(value, int | float)
        ax.annotate(text, (x, y), xytext=(0, 3), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7 if upright else 8, rotation=90 if upright else 0)


def _hbar(ax: Axes, labels: list[str], values: list[Value], colour: str | list[str],
          share: bool = False) -> None:
    ys = list(range(len(labels)))[::-1]
    ax.barh(ys, [_num(v) for v in values], color=colour)
    ax.set_yticks(ys, labels, fontsize=8)
    for y, v in zip(ys, values, strict=True):
        _mark(ax, _num(v), y, "not shown" if v is None else v)
    if share:
        ax.set_xlim(0, 1.15)
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.spines[["top", "right"]].set_visible(False)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- one hub ----------------------------------------------------------------------------------


def plot_sources(report: Report, out: Path) -> Path:
    pub = publish(report.table("referrals_by_cin_source"))
    rows = [(lab, val) for lab, val in _rows(pub) if lab["cin_referral_source"] != ALL
            and val["referrals"] != 0]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(3, len(rows)) + 1))
    _hbar(ax, [f"{lab['cin_referral_source']}  {lab['description'][:45]}" for lab, _ in rows],
          [val["referrals"] for _, val in rows], "#1f77b4")
    ax.set_xlabel("referrals")
    ax.set_title("Referrals by CIN census source of referral")
    return _save(fig, out / "referrals_by_source.png")


def plot_rag(report: Report, out: Path) -> Path:
    pub = publish(report.table("rag_mix"))
    rows = [(lab, val) for lab, val in _rows(pub) if lab["rag"] != ALL]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = range(len(rows))
    ax.bar(xs, [_num(v["referrals"]) for _, v in rows],
           color=[RAG_COLOURS[lab["rag"]] for lab, _ in rows])
    ax.set_xticks(list(xs), [lab["rag"] for lab, _ in rows])
    for x, (_, v) in zip(xs, rows, strict=True):
        _mark(ax, x, _num(v["referrals"]), v["referrals"], horizontal=False)
    ax.set_ylabel("referrals")
    ax.set_title("RAG mix")
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out / "rag_mix.png")


def plot_timeliness(report: Report, out: Path) -> Path:
    pub = publish(report.table("timeliness"))
    settings = report.settings[0]
    calendar = settings["working_hours"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharey="row")
    for col, stage, title in ((0, "assembled", "Case assembled"), (1, "decided", "Decision")):
        rows = _rows(pub, stage=stage)
        ax = axes[0][col]
        xs = list(range(len(rows)))
        ax.bar(xs, [_num(v["on_time_share"]) for _, v in rows],
               color=[RAG_COLOURS.get(lab["rag"], "#555555") for lab, _ in rows])
        ax.set_xticks(xs, [f"{lab['rag'] if lab['rag'] != ALL else 'all'}\n"
                           f"{v['cases']} cases" for lab, v in rows], fontsize=8)
        for x, (_, v) in zip(xs, rows, strict=True):
            share = v["on_time_share"]
            _mark(ax, x, _num(share), "hidden" if share is None else share, horizontal=False)
        ax.set_ylim(0, 1.15)
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
        ax.set_title(f"{title}: share within the RAG timescale", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        # Median and 90th percentile against the timescale, in minutes.
        ax = axes[1][col]
        rags = [(lab, v) for lab, v in rows if lab["rag"] != ALL]
        ys = list(range(len(rags)))[::-1]
        for y, (lab, v) in zip(ys, rags, strict=True):
            p50, p90 = _opt(v["p50_s"]), _opt(v["p90_s"])
            colour = RAG_COLOURS[lab["rag"]]
            if p50 is not None and p90 is not None:
                ax.plot([p50 / 60, p90 / 60], [y, y], color=colour, linewidth=6, alpha=0.5)
                ax.plot([p50 / 60], [y], "o", color=colour)
            else:
                ax.annotate("too few cases to show", (0, y), fontsize=8, va="center")
            counted_in_hours = calendar is not None and lab["rag"] in calendar["applies_to"]
            if not counted_in_hours:
                limit = settings["timescales_s"][lab["rag"]] / 60
                ax.plot([limit, limit], [y - 0.35, y + 0.35], color="black", linewidth=2)
        ax.set_yticks(ys, [lab["rag"] for lab, _ in rags])
        ax.set_xlabel("minutes from receipt (dot: median; bar to 90th percentile; "
                      "black: timescale)", fontsize=8)
        ax.set_xlim(left=0)
        ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out / "timeliness.png")


def _opt(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def plot_agencies(report: Report, out: Path) -> Path:
    pub = publish(report.table("agency_contribution"))
    table = report.table("agency_contribution")
    parts = [m for m in table.measure("asked").parts]
    rows = [(lab, val) for lab, val in _rows(pub, rag=ALL) if lab["agency"] != ALL]
    fig, ax = plt.subplots(figsize=(9, 0.55 * max(3, len(rows)) + 2))
    ys = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for part in parts:
        widths = [_num(v[part]) for _, v in rows]
        ax.barh(ys, widths, left=left, color=PART_COLOURS[part],
                label=table.measure(part).title)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, (_, v), end in zip(ys, rows, left, strict=True):
        hidden = [table.measure(p).title.lower() for p in parts
                  if v[p] in (SUPPRESSED, SECONDARY)]
        note = f"asked {v['asked']}" + (f"; hidden: {', '.join(hidden)}" if hidden else "")
        ax.annotate(note, (end, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)
    ax.set_yticks(ys, [lab["agency"] for lab, _ in rows])
    ax.set_xlabel("requests")
    ax.set_title("Each agency's answers to the hub's requests")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=4)
    ax.set_xlim(0, max([*left, 1.0]) * 1.7)  # room for the notes beside the bars
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out / "agency_contribution.png")


def plot_decisions(report: Report, out: Path) -> Path:
    outcome = publish(report.table("decisions_by_outcome"))
    need = publish(report.table("decisions_by_primary_need"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    rows = [(lab, val) for lab, val in _rows(outcome) if lab["outcome"] != ALL]
    _hbar(axes[0], [lab["outcome"].replace("_", " ").lower() for lab, _ in rows],
          [v["cases"] for _, v in rows], "#1f77b4")
    axes[0].set_title("Decisions by outcome", fontsize=10)
    rows = [(lab, val) for lab, val in _rows(need) if lab["cin_primary_need"] != ALL
            and val["cases"] != 0]
    _hbar(axes[1], [f"{lab['cin_primary_need']} {lab['description'][:28]}" for lab, _ in rows],
          [v["cases"] for _, v in rows], "#8c564b")
    axes[1].set_title("Decisions by CIN primary need", fontsize=10)
    return _save(fig, out / "decisions.png")


def plot_told(report: Report, out: Path) -> Path:
    pub = publish(report.table("told"))
    rows = [(lab, val) for lab, val in _rows(pub) if lab["recipient"] != ALL
            and lab["role"] != ALL]
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * max(3, len(rows)) + 1.2))
    _hbar(ax, [f"{lab['role']}: {lab['recipient']}  (median {human(_opt(v['delay_p50_s']))})"
               for lab, v in rows], [v["told_share"] for _, v in rows],
          ["#1f77b4" if lab["role"] == "referrer" else "#17becf" for lab, _ in rows],
          share=True)
    ax.set_title("Told the decision (share of those due to be told)")
    return _save(fig, out / "told.png")


def plot_consent_and_deadletters(report: Report, out: Path) -> Path:
    consent = publish(report.table("consent"))
    letters = publish(report.table("deadletters"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    rows = [(lab, val) for lab, val in _rows(consent) if lab["consent_status"] != ALL]
    _hbar(axes[0], [lab["consent_status"].replace("_", " ").lower() for lab, _ in rows],
          [v["referrals"] for _, v in rows], "#9467bd")
    axes[0].set_title("Consent recorded on referrals", fontsize=10)
    rows = [(lab, val) for lab, val in _rows(letters, stage=ALL) if lab["reason_code"] != ALL]
    if rows:
        _hbar(axes[1], [lab["reason_code"] for lab, _ in rows],
              [v["dead_letters"] for _, v in rows], "#7f7f7f")
    else:
        axes[1].text(0.5, 0.5, "no dead letters", ha="center", va="center")
        axes[1].set_axis_off()
    axes[1].set_title("Dead letters by reason", fontsize=10)
    return _save(fig, out / "consent_deadletters.png")


HUB_PLOTS: list[Callable[[Report, Path], Path]] = [
    plot_sources, plot_rag, plot_timeliness, plot_agencies, plot_decisions, plot_told,
    plot_consent_and_deadletters]


# -- national ---------------------------------------------------------------------------------


def _grouped(ax: Axes, hubs: list[str], groups: list[str],
             value: Callable[[str, str], Value], share: bool = True) -> None:
    width = 0.8 / max(1, len(hubs))
    for i, hub in enumerate(hubs):
        xs = [g + i * width for g in range(len(groups))]
        vals = [value(hub, group) for group in groups]
        ax.bar(xs, [_num(v) for v in vals], width, label=hub,
               color=HUB_COLOURS[i % len(HUB_COLOURS)])
        for x, v in zip(xs, vals, strict=True):
            _mark(ax, x, _num(v), "not shown" if v is None else v, horizontal=False)
    ax.set_xticks([g + width * (len(hubs) - 1) / 2 for g in range(len(groups))], groups,
                  fontsize=8)
    if share:
        ax.set_ylim(0, 1.2)
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    ax.spines[["top", "right"]].set_visible(False)


def _lookup(pub: PublishedTable, measure: str, **labels: str) -> Value:
    for _lab, val in _rows(pub, **labels):
        return val[measure]
    return None


def plot_national_timeliness(report: Report, out: Path) -> Path:
    pub = publish(report.table("timeliness"))
    hubs = [*report.hubs, ALL]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, stage in zip(axes, ("assembled", "decided"), strict=True):
        def share(hub: str, rag: str, stage: str = stage) -> Value:
            return _lookup(pub, "on_time_share", hub=hub, stage=stage, rag=rag)
        _grouped(ax, hubs, ["RED", "AMBER", "GREEN", ALL], share)
        ax.set_title(f"{stage}: share within the RAG timescale", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper left", labels=[h if h != ALL else "all hubs"
                                                         for h in hubs])
    return _save(fig, out / "national_timeliness.png")


def plot_national_mix(report: Report, out: Path) -> Path:
    pub = publish(report.table("rag_mix"))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    _grouped(ax, report.hubs, ["RED", "AMBER", "GREEN"],
             lambda hub, rag: _lookup(pub, "referrals", hub=hub, rag=rag), share=False)
    ax.set_ylabel("referrals")
    ax.set_title("RAG mix by hub")
    ax.legend(fontsize=7)
    return _save(fig, out / "national_rag_mix.png")


def plot_national_agencies(report: Report, out: Path) -> Path:
    pub = publish(report.table("agency_contribution"))
    agencies = sorted({lab["agency"] for lab, _ in _rows(pub) if lab["agency"] != ALL})
    fig, ax = plt.subplots(figsize=(9, 3.6))
    _grouped(ax, report.hubs, [*agencies, ALL],
             lambda hub, agency: _lookup(pub, "on_time_share", hub=hub, agency=agency, rag=ALL))
    ax.set_title("Share of requests each agency answered on time, by hub")
    ax.legend(fontsize=7)
    return _save(fig, out / "national_agencies.png")


def plot_national_told(report: Report, out: Path) -> Path:
    pub = publish(report.table("told"))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    _grouped(ax, report.hubs, ["referrer", "contributor"],
             lambda hub, role: _lookup(pub, "told_share", hub=hub, role=role, recipient=ALL))
    ax.set_title("Share told the decision, by hub")
    ax.legend(fontsize=7)
    return _save(fig, out / "national_told.png")


NATIONAL_PLOTS: list[Callable[[Report, Path], Path]] = [
    plot_national_timeliness, plot_national_mix, plot_national_agencies, plot_national_told]


# -- HTML ---------------------------------------------------------------------------------


def _cell(value: Value, kind: str) -> str:
    if value is None:
        return "<td class=na>-</td>"
    if value in (SUPPRESSED, SECONDARY):
        return f"<td class=sup>{value}</td>"
    if kind == "share" and isinstance(value, float):
        return f"<td>{value:.0%}</td>"
    if kind == "percentile" and isinstance(value, int | float):
        return f"<td>{human(float(value))}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def table_html(pub: PublishedTable) -> str:
    t = pub.table
    heads = [*t.dimensions, *t.descriptions]
    out = [f"<h3 id={t.id}>{html.escape(t.title)}</h3>",
           f"<p class=desc>{html.escape(t.description)}</p>", "<table><tr>"]
    out += [f"<th>{html.escape(h.replace('_', ' '))}</th>" for h in heads]
    out += [f"<th>{html.escape(m.title)}</th>" for m in t.measures]
    out.append("</tr>")
    for row in pub.rows:
        total = any(row.labels.get(d) == ALL for d in t.dimensions)
        out.append("<tr class=total>" if total else "<tr>")
        out += [f"<td>{html.escape(row.labels.get(h, ''))}</td>" for h in heads]
        out += [_cell(row.values[m.name], m.kind) for m in t.measures]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


STYLE = """
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0}td:first-child{text-align:left}
tr.total td{font-weight:bold;background:#fafafa}
td.sup{color:#a33}td.na{color:#999}
p.desc{font-size:13px;color:#444;max-width:900px}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
"""


def _headline_value(report: Report, table_id: str, measure: str, **labels: str) -> str:
    pub = publish(report.table(table_id))
    for _lab, values in _rows(pub, **labels):
        value = values[measure]
        if value is None:
            return "not shown"
        if isinstance(value, float) and report.table(table_id).measure(measure).kind == "share":
            return f"{value:.0%}"
        return str(value)
    return "-"


def headlines(report: Report) -> list[tuple[str, str]]:
    """The few figures a board asks first, from the published tables (all hubs together in
    a national report)."""
    hub = {"hub": ALL} if report.scope == "national" else {}
    return [
        ("Referrals received", _headline_value(report, "rag_mix", "referrals", rag=ALL, **hub)),
        ("Re-referrals within 12 months",
         _headline_value(report, "rag_mix", "re_referrals", rag=ALL, **hub)),
        ("Cases assembled within their RAG timescale",
         _headline_value(report, "timeliness", "on_time_share", stage="assembled", rag=ALL,
                         **hub)),
        ("Cases decided within their RAG timescale",
         _headline_value(report, "timeliness", "on_time_share", stage="decided", rag=ALL,
                         **hub)),
        ("Cases assembled partial",
         _headline_value(report, "partial_cases", "partial_share", rag=ALL, **hub)),
        ("Requests answered on time",
         _headline_value(report, "agency_contribution", "on_time_share", agency=ALL, rag=ALL,
                         **hub)),
        ("Referrers told the decision",
         _headline_value(report, "told", "told_share", role="referrer", recipient=ALL, **hub)),
        ("Contributing agencies told the decision",
         _headline_value(report, "told", "told_share", role="contributor", recipient=ALL,
                         **hub)),
    ]


def write_html(report: Report, folder: Path, plots: list[Path], meta: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    title = ("National roll-up" if report.scope == "national" else report.hubs[0])
    period = f"{meta['period']['from']} to {meta['period']['to']} (end exclusive)"
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}: monitoring report</title><style>{STYLE}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}: monitoring report</h1>",
        f"<p>Period {html.escape(period)}; figures as of {html.escape(meta['as_of'])}. "
        f"Hubs: {html.escape(', '.join(report.hubs))}. Schema {meta['schema']} "
        f"v{meta['schema_version']} (the JSON beside this page; CSV files in csv/).</p>",
        f"<p class=desc><b>Suppression.</b> {html.escape(SUPPRESSION_RULE)}</p>",
        "<h2>Headlines</h2><table>",
        *(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
          for k, v in headlines(report)),
        "</table>",
        "<h2>Settings</h2><ul>",
    ]
    for s in report.settings:
        ts = ", ".join(f"{k} {human(v)}" for k, v in s["timescales_s"].items())
        wh = s["working_hours"]
        calendar = ("elapsed time (no working-hours calendar)" if wh is None else
                    f"working hours {wh['start']}-{wh['end']} {'/'.join(wh['days'])} "
                    f"({wh['timezone']}) for {', '.join(wh['applies_to'])}")
        parts.append(f"<li>{html.escape(s['hub'])}: timescales {html.escape(ts)}; "
                     f"{html.escape(calendar)}</li>")
    parts.append("</ul><h2>Plots</h2>")
    parts += [f"<img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}'>" for p in plots]
    parts.append("<h2>Figures</h2>")
    parts += [table_html(publish(t)) for t in report.tables]
    parts.append("</body></html>")
    path = folder / "report.html"
    path.write_text("\n".join(parts))
    return path
