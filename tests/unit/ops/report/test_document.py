"""The report's JSON conforms to schema-v1.json, holds no personal data, round-trips for the
roll-up, and renders to CSV, PNG and HTML."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mash_common.contracts import (
    AuditAction,
    Consent,
    ConsentStatus,
    DecisionOutcome,
    Rag,
    ResponseStatus,
)
from mash_ops.report.__main__ import write_report
from mash_ops.report.document import (
    Report,
    ReportFormatError,
    from_json,
    national,
    to_json,
    validate,
)
from mash_ops.report.figures import compute
from mash_ops.report.render import headlines
from mash_ops.report.tables import ALL, SECONDARY, SUPPRESSED
from tests.unit.ops.report.world import M, World, options

NOW = datetime(2026, 12, 5, tzinfo=UTC)
SETTINGS = {"hub": "Test MASH", "policy_version": "t", "working_hours": None,
            "timescales_s": {"RED": 14400.0, "AMBER": 86400.0, "GREEN": 259200.0}}


def busy_world(scale: int = 1) -> World:
    w = World()
    for i in range(12 * scale):
        cid = w.case(Rag.RED if i % 3 == 0 else Rag.AMBER if i % 3 == 1 else Rag.GREEN,
                     source="police-niche" if i % 2 else "school-portal",
                     cin_source="6" if i % 2 else "2A",
                     answers={"police": (ResponseStatus.FOUND, (5 + i) * M),
                              "health": (ResponseStatus.DECLINED, M) if i % 4 == 0 else
                              None if i % 5 == 0 else (ResponseStatus.NOT_KNOWN, 90 * M)},
                     consent=Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                                     override_reason="risk to the child",
                                     override_authorised_by="Jane Smith")
                     if i % 6 == 0 else None,
                     outcome=DecisionOutcome.EARLY_HELP if i % 2 else DecisionOutcome.NO_FURTHER_ACTION,
                     told={"school-portal": 2 * M, "police-niche": 3 * M, "police": M})
        if i % 7 == 0:
            w.audit(AuditAction.EXCESS_DISCLOSURE, cid, "police")
    w.deadletter("BAD_MARKER")
    return w


def report(world: World, hub: str = "Test MASH") -> Report:
    opts = options(hub_name=hub)
    return Report("hub", [hub], opts.start, opts.end, opts.as_of, NOW,
                  [{**SETTINGS, "hub": hub}], [{"hub": hub, "kind": "test"}],
                  compute(world.events, opts))


def test_both_forms_conform_to_the_schema() -> None:
    r = report(busy_world())
    validate(to_json(r, suppress=True))
    validate(to_json(r, suppress=False))


def test_the_schema_rejects_what_is_not_a_report() -> None:
    doc = to_json(report(busy_world()), suppress=True)
    broken = json.loads(json.dumps(doc))
    broken["tables"][0]["rows"][0]["values"]["referrals"] = "a few"
    with pytest.raises(ReportFormatError, match="values"):
        validate(broken)
    leaky = json.loads(json.dumps(doc))
    leaky["tables"][3]["rows"][0]["durations_s"] = {"elapsed": [1.0]}
    with pytest.raises(ReportFormatError):
        validate(leaky)  # a published report carries no durations
    missing = json.loads(json.dumps(doc))
    del missing["suppression"]
    with pytest.raises(ReportFormatError):
        validate(missing)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_no_personal_data_or_identifying_ids_in_either_form() -> None:
    w = busy_world()
    r = report(w)
    text = json.dumps(to_json(r, suppress=False)) + json.dumps(to_json(r, suppress=True))
    personal = {"Sam", "Example1", "EX1 1AA", "Jane Smith", "Jo Manager", "Pat Responder",
                "Ada Teacher", "Reasons recorded", "risk to the child", "Synthetic narrative"}
    personal |= {t.referral.subject.nhs_number or "" for t in w.events.triaged}
    personal |= {t.case_id for t in w.events.triaged}
    personal |= {t.referral.referral_id for t in w.events.triaged}
    for secret in personal:
        assert secret not in text, secret


def test_the_published_form_has_no_small_count() -> None:
    doc = to_json(report(busy_world()), suppress=True)
    for table in doc["tables"]:
        counts = [m["name"] for m in table["measures"] if m["kind"] == "count"]
        for row in table["rows"]:
            for name in counts:
                value = row["values"][name]
                assert value in (SUPPRESSED, SECONDARY) or value == 0 or value >= 5, (
                    table["id"], row)


def test_the_rollup_merges_unsuppressed_reports_and_refuses_suppressed_ones() -> None:
    north, south = report(busy_world(1), "North"), report(busy_world(2), "South")
    docs = [json.loads(json.dumps(to_json(r, suppress=False))) for r in (north, south)]
    merged = national([from_json(d) for d in docs], NOW)
    assert merged.hubs == ["North", "South"]
    mix = merged.table("rag_mix")
    for rag in ("RED", "AMBER", ALL):
        n = north.table("rag_mix").row(rag=rag).counts["referrals"]
        s = south.table("rag_mix").row(rag=rag).counts["referrals"]
        assert mix.row(hub="North", rag=rag).counts["referrals"] == n
        assert mix.row(hub=ALL, rag=rag).counts["referrals"] == n + s
    timing = merged.table("timeliness").row(hub=ALL, stage="assembled", rag=ALL)
    assert len(timing.durations["elapsed"]) == 36
    validate(to_json(merged, suppress=True))
    with pytest.raises(ReportFormatError, match="unsuppressed"):
        from_json(json.loads(json.dumps(to_json(north, suppress=True))))
    with pytest.raises(ReportFormatError, match="twice"):
        national([from_json(docs[0]), from_json(docs[0])], NOW)


def test_csv_png_and_html_are_written(tmp_path: Path) -> None:
    r = report(busy_world(2))
    document = write_report(r, tmp_path, tmp_path / "restricted.json")
    assert json.loads((tmp_path / "report.json").read_text()) == document
    with (tmp_path / "csv" / "rag_mix.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {row["rag"]: row["referrals"] for row in rows}["RED"] == "8"
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 7
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "report.html").read_text()
    assert all(name in page for name in pngs)
    assert "Jane Smith" not in page and "Sam" not in page
    heads = dict(headlines(r))
    assert heads["Referrals received"] == "24"
    assert heads["Referrers told the decision"] == "100%"
    merged = national([from_json(json.loads((tmp_path / "restricted.json").read_text())),
                       report_from(busy_world(1), "Other")], NOW)
    write_report(merged, tmp_path / "national")
    assert len(list((tmp_path / "national").glob("*.png"))) == 4


def report_from(world: World, hub: str) -> Report:
    return from_json(json.loads(json.dumps(to_json(report(world, hub), suppress=False))))
