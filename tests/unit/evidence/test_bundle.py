"""Bundles from a real SQLite store: what verify says for each kind of change (no broker)."""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pytest

from mash_common.audittrail import AuditKeys, AuditKeySettings, new_key_file
from mash_common.contracts import AuditAction, AuditEvent, CategoryTerms, utcnow
from mash_ops.auditdb import AuditStore, create_schema, open_engine
from mash_ops.evidence import disclosure_report, export_bundle, main, verify_bundle
from tests.support.tamper import KINDS, run_trials, tamper_bundle


@pytest.fixture
def keys(tmp_path: Path) -> AuditKeys:
    new_key_file(tmp_path / "keys.json", "k1")
    loaded = AuditKeys.load(AuditKeySettings(keys_file=tmp_path / "keys.json"))
    assert loaded is not None
    return loaded


@pytest.fixture
def bundle(tmp_path: Path, keys: AuditKeys) -> bytes:
    engine = open_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    create_schema(engine)
    store = AuditStore(engine, keys)
    acts = [
        (AuditAction.REFERRAL_RECEIVED, "school-portal", None, []),
        (AuditAction.REQUEST_SENT, "police", "Children Act 1989 s47", ["crime"]),
        (AuditAction.REQUEST_SENT, "health", None, ["gp-record"]),
        (AuditAction.RESPONSE_RECEIVED, "police", "Children Act 1989 s47", ["crime"]),
        (AuditAction.REQUEST_CHASED, "health", None, ["gp-record"]),
        (AuditAction.CASE_ASSEMBLED, None, None, []),
        (AuditAction.NOTIFICATION_SENT, "school-portal", None, []),
    ]
    for n, (action, agency, basis, categories) in enumerate(acts, start=1):
        terms = ([CategoryTerms(category="gp-record", legal_basis="consent", purpose="assess",
                                consent_rule="REQUIRED")] if agency == "health" and
                 action is not AuditAction.RESPONSE_RECEIVED else [])
        event = AuditEvent(event_id=f"e{n}", at=utcnow(), actor="mash-hub/enrichment",
                           action=action, case_id="C-1", agency=agency, legal_basis=basis,
                           data_categories=categories, reference=f"r{n}", category_terms=terms)
        store.append(keys.sign(event), partition=1, source=f"audit[1]@{n}")
    out = tmp_path / "C-1.zip"
    assert export_bundle(store, "C-1", out, exported_by="test") == len(acts)
    return out.read_bytes()


def test_an_untouched_bundle_verifies_and_reads(bundle: bytes, keys: AuditKeys) -> None:
    verdict = verify_bundle(bundle, keys)
    assert verdict.ok and verdict.events == 7
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        report = json.loads(z.read("disclosures.json"))
        html = z.read("summary.html").decode()
    assert [a["agency"] for a in report["asked"]] == ["police", "health", "health"]
    assert report["asked"][1]["legal_basis"] == "consent"  # from the per-category terms
    assert [d["by"] for d in report["disclosed"]] == ["police"]
    assert [p["to"] for p in report["passed_on"]] == ["hub systems", "school-portal"]
    assert "Who disclosed what" in html and "Children Act 1989 s47" in html


def test_each_kind_of_change_is_named(bundle: bytes, keys: AuditKeys) -> None:
    rng = random.Random(3)
    for kind, word in (("delete", "removed"), ("reorder", "reordered"), ("insert", "inserted")):
        data, what = tamper_bundle(bundle, kind, rng)
        verdict = verify_bundle(data, keys)
        assert any(p.startswith(word) for p in verdict.problems), (what, verdict.problems)
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    lines = files["events.jsonl"].decode().splitlines()
    line = json.loads(lines[1])
    line["event"]["agency"] = "education"
    lines[1] = json.dumps(line)
    files["events.jsonl"] = ("\n".join(lines) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    problems = verify_bundle(out.getvalue(), keys).problems
    assert "altered: event #2 (e2), field(s) agency (at events.jsonl line 2)" in problems


def test_random_tampering_is_always_found(bundle: bytes, keys: AuditKeys) -> None:
    figures = run_trials(50, seed=9,
                         trial=lambda kind, rng: not verify_bundle(
                             tamper_bundle(bundle, kind, rng)[0], keys).ok)
    assert figures == {kind: (50, 50) for kind in KINDS}


def test_the_command_exits_non_zero_on_a_change(bundle: bytes, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASH_AUDIT_KEYS_FILE", str(tmp_path / "keys.json"))
    # main() configures logging onto this test's captured stderr, which pytest closes
    # afterwards; later tests would log into a closed stream.
    monkeypatch.setattr("mash_ops.evidence.configure_logging", lambda level: None)
    (tmp_path / "ok.zip").write_bytes(bundle)
    assert main(["verify", str(tmp_path / "ok.zip")]) == 0
    assert capsys.readouterr().out.startswith("OK")
    (tmp_path / "bad.zip").write_bytes(tamper_bundle(bundle, "delete", random.Random(1))[0])
    assert main(["verify", str(tmp_path / "bad.zip")]) == 1
    assert "removed: event #" in capsys.readouterr().out


def test_disclosure_report_leaves_out_acts_that_disclose_nothing() -> None:
    event = AuditEvent(event_id="x", at=utcnow(), actor="a", action=AuditAction.REFERRAL_RATED,
                       case_id="C")
    assert disclosure_report("C", [event]) == {"case_id": "C", "asked": [], "disclosed": [],
                                               "refused": [], "passed_on": []}


def test_anyone_with_the_public_key_can_verify_without_the_hubs_secret(
        tmp_path: Path, keys: AuditKeys) -> None:
    from mash_common.audittrail import load_public_key, new_signing_key

    new_signing_key(tmp_path / "keys.json", "bundles-2026", tmp_path / "bundles.pub.json")
    signer = AuditKeys.load(AuditKeySettings(keys_file=tmp_path / "keys.json"))
    assert signer is not None and signer.signing_id == "bundles-2026"
    engine = open_engine(f"sqlite:///{tmp_path / 'signed.db'}")
    create_schema(engine)
    store = AuditStore(engine, signer)
    for n in range(1, 6):
        event = AuditEvent(event_id=f"s{n}", at=utcnow(), actor="mash-hub/routing",
                           action=AuditAction.NOTIFICATION_SENT, case_id="C-2", agency="police",
                           detail=f"DECISION revision {n}")
        store.append(signer.sign(event), partition=0, source=f"a@{n}")
    export_bundle(store, "C-2", tmp_path / "C-2.zip", exported_by="test")
    signed = (tmp_path / "C-2.zip").read_bytes()
    public = load_public_key(tmp_path / "bundles.pub.json")
    assert verify_bundle(signed, None, public).ok
    assert verify_bundle(signed, signer, public).ok
    figures = run_trials(40, seed=21, trial=lambda kind, rng: not verify_bundle(
        tamper_bundle(signed, kind, rng)[0], None, public).ok)
    assert figures == {kind: (40, 40) for kind in KINDS}
    # A bundle signed by no key, or another, is not vouched for by this one.
    with zipfile.ZipFile(io.BytesIO(signed)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(files["manifest.json"])
    manifest["signing_key_id"] = "bundles-2025"
    files["manifest.json"] = json.dumps(manifest).encode()
    renamed = io.BytesIO()
    with zipfile.ZipFile(renamed, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    assert not verify_bundle(renamed.getvalue(), None, public).ok
    engine.dispose()
    unsigned_store = AuditStore(open_engine(f"sqlite:///{tmp_path / 'signed.db'}"), keys)
    export_bundle(unsigned_store, "C-2", tmp_path / "unsigned.zip", exported_by="test")
    problems = verify_bundle((tmp_path / "unsigned.zip").read_bytes(), None, public).problems
    assert any("is not signed by key bundles-2026" in p for p in problems)
