"""Evidence bundles: one verifiable file per case, from the audit store.

    mash-evidence export --case CASE_ID --out FILE
    mash-evidence verify FILE
    mash-evidence disclosures --case CASE_ID [--case ...]
    mash-evidence check-store

A bundle is a zip: events.jsonl (the case's chain as stored: each event with its number,
content hash and chain link), disclosures.json (who was asked what, who disclosed what, to
whom it was passed on, when and on what legal basis), summary.html (both, for a person to
read) and manifest.json (every event's number, id, content hash, per-field hashes and
link, the chain's head, each file's SHA-256, all MACed with the hub's key). `verify` says
OK, or names each event altered (and which fields), removed, reordered or inserted, and
each file changed, added or missing; it exits 1 then. The database comes from
--database or MASH_AUDITSTORE_DATABASE_URL; the keys from MASH_AUDIT_* (docs/evidence.md).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mash_common.audittrail import (
    AuditKeys,
    check_ed25519,
    content_hash,
    dumps,
    event_from_body,
    load_public_key,
)
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_common.errors import ConfigError, MashError
from mash_common.logs import configure_logging
from mash_ops.auditdb import AuditStore, Row, open_engine, verify_rows

FORMAT = "mash-evidence/1"
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
DISCLOSURES = "disclosures.json"
SUMMARY = "summary.html"
EXIT_TAMPERED = 1
EXIT_USAGE = 2

# What each act tells the disclosure report.
_ASKED = {AuditAction.REQUEST_SENT, AuditAction.REQUEST_CHASED}
_DISCLOSED = {AuditAction.RESPONSE_RECEIVED, AuditAction.DISCLOSURE, AuditAction.RESPONSE_CORRECTED}
_REFUSED = {AuditAction.REFUSAL, AuditAction.REQUEST_WITHHELD, AuditAction.REQUEST_WITHDRAWN}
_PASSED_ON = {AuditAction.CASE_ASSEMBLED, AuditAction.CASE_AMENDED, AuditAction.NOTIFICATION_SENT}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def field_hashes(body: dict[str, Any]) -> dict[str, str]:
    return {name: _sha(dumps(value)) for name, value in sorted(body.items())}


# Disclosure report -----------------------------------------------------------------------


def disclosure_report(case_id: str, events: Iterable[AuditEvent]) -> dict[str, Any]:
    """Who was asked what, who disclosed what, to whom it was passed on, when, on what basis."""
    asked, disclosed, refused, passed_on = [], [], [], []
    for ev in events:
        at = ev.at.isoformat()
        basis = ev.legal_basis or ", ".join(sorted({t.legal_basis for t in ev.category_terms}))
        if ev.action in _ASKED:
            asked.append({"at": at, "agency": ev.agency, "what": ev.data_categories,
                          "legal_basis": basis or None, "purpose": ev.purpose,
                          "consent": ev.consent_status, "request": ev.reference,
                          "chase": ev.action is AuditAction.REQUEST_CHASED,
                          "override": (ev.consent_override.model_dump(mode="json")
                                       if ev.consent_override else None)})
        elif ev.action in _DISCLOSED:
            disclosed.append({"at": at, "by": ev.agency, "what": ev.data_categories,
                              "legal_basis": basis or None, "request": ev.reference,
                              "detail": ev.detail})
        elif ev.action in _REFUSED:
            refused.append({"at": at, "agency": ev.agency, "what": ev.data_categories,
                            "why": ev.detail, "action": ev.action.value})
        elif ev.action in _PASSED_ON:
            to = ev.agency if ev.action is AuditAction.NOTIFICATION_SENT else "hub systems"
            passed_on.append({"at": at, "to": to, "what": ev.action.value,
                              "detail": ev.detail, "by": ev.actor})
    return {"case_id": case_id, "asked": asked, "disclosed": disclosed, "refused": refused,
            "passed_on": passed_on}


# Export ---------------------------------------------------------------------------------


def _line(row: Row) -> dict[str, Any]:
    return {"seq": row.seq, "event_id": row.event_id, "event": json.loads(row.body),
            "content_hash": row.content_hash, "link": row.link, "link_key_id": row.link_key_id,
            "redacted": row.redacted}


def _summary_html(case_id: str, lines: Sequence[dict[str, Any]], report: dict[str, Any],
                  exported_at: str) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return html.escape("" if value is None else str(value))

    rows = "\n".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in (
            line["seq"], line["event"].get("at"), line["event"].get("action"),
            line["event"].get("actor"), line["event"].get("agency"),
            line["event"].get("legal_basis"), line["event"].get("data_categories"),
            line["event"].get("detail"), "yes" if line["redacted"] else "")) + "</tr>"
        for line in lines)

    def section(title: str, items: list[dict[str, Any]], columns: Sequence[str]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "\n".join("<tr>" + "".join(f"<td>{cell(i.get(c))}</td>" for c in columns) + "</tr>"
                         for i in items) or f"<tr><td colspan={len(columns)}>none</td></tr>"
        return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence bundle: case {cell(case_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}}</style></head>
<body><h1>Evidence bundle: case {cell(case_id)}</h1>
<p>Exported {cell(exported_at)} from the hub's audit store: {len(lines)} events, chained and
MACed with the hub's key. Check it with <code>mash-evidence verify FILE</code>;
this page is covered by the manifest, but only the verifier proves the bundle is intact.</p>
{section("Who was asked what", report["asked"],
         ["at", "agency", "what", "legal_basis", "purpose", "consent", "chase", "request"])}
{section("Who disclosed what", report["disclosed"], ["at", "by", "what", "legal_basis", "request"])}
{section("Refused, withheld or withdrawn", report["refused"], ["at", "agency", "what", "action", "why"])}
{section("Passed on to", report["passed_on"], ["at", "to", "what", "detail"])}
<h2>Every recorded act</h2>
<table><tr><th>#</th><th>at</th><th>act</th><th>by</th><th>agency</th><th>legal basis</th>
<th>categories</th><th>detail</th><th>redacted</th></tr>
{rows}</table></body></html>
"""


def export_bundle(store: AuditStore, case_id: str, out: Path, *, exported_by: str) -> int:
    """Write the case's bundle; returns the number of events in it."""
    rows = store.rows(case_id)
    if not rows:
        raise MashError(f"no audit events for case {case_id} in the store")
    lines = [_line(r) for r in rows]
    events = [event_from_body(r.body) for r in rows if not r.redacted]
    report = disclosure_report(case_id, events)
    exported_at = utcnow().isoformat()
    files = {
        EVENTS: "".join(dumps(line).decode("utf-8") + "\n" for line in lines).encode("utf-8"),
        DISCLOSURES: json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"),
        SUMMARY: _summary_html(case_id, lines, report, exported_at).encode("utf-8"),
    }
    manifest: dict[str, Any] = {
        "format": FORMAT, "case_id": case_id, "exported_at": exported_at,
        "exported_by": exported_by, "events": len(rows), "head": rows[-1].link,
        "entries": [{"seq": r.seq, "event_id": r.event_id, "content_hash": r.content_hash,
                     "link": r.link, "link_key_id": r.link_key_id, "redacted": r.redacted,
                     "fields": field_hashes(line["event"])}
                    for r, line in zip(rows, lines, strict=True)],
        "files": {name: _sha(data) for name, data in files.items()},
        "key_id": store.keys.active,
        "signing_key_id": store.keys.signing_id,
    }
    body = dumps(manifest)
    manifest["mac"] = store.keys.mac(body)
    # With a bundle signing key, anyone with its public key can check the manifest, and so
    # every file and event, without the hub's secret (verify --public-key).
    manifest["ed25519"] = store.keys.sign_ed25519(body)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for name, data in files.items():
            bundle.writestr(name, data)
    return len(rows)


# Verify ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_zip(data: bytes) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            return {name: bundle.read(name) for name in bundle.namelist()}
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError):
        return None


def _parse_lines(data: bytes, verdict: Verdict) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            if not isinstance(line, dict) or not isinstance(line.get("event"), dict):
                raise ValueError("not an event line")
        except ValueError:
            verdict.problems.append(f"{EVENTS} line {number}: not an event line (altered or inserted)")
            continue
        line["_line"] = number
        lines.append(line)
    return lines


def _check_against_manifest(lines: list[dict[str, Any]], manifest: dict[str, Any],
                            verdict: Verdict) -> None:
    entries = {e["event_id"]: e for e in manifest.get("entries", [])}
    order = [e["event_id"] for e in manifest.get("entries", [])]
    seen: set[str] = set()
    for line in lines:
        event_id = str(line.get("event_id"))
        where = f"{EVENTS} line {line['_line']}"
        entry = entries.get(event_id)
        if entry is None:
            verdict.problems.append(f"inserted: {where}, event {event_id} is not in the manifest")
            continue
        if event_id in seen:
            verdict.problems.append(f"inserted: {where}, event #{entry['seq']} ({event_id}) "
                                    "appears twice")
            continue
        seen.add(event_id)
        label = f"event #{entry['seq']} ({event_id})"
        body = line["event"]
        changed = sorted(
            {n for n, h in entry.get("fields", {}).items() if n not in body or field_hashes({n: body[n]})[n] != h}
            | {n for n in body if n not in entry.get("fields", {})})
        if changed:
            verdict.problems.append(f"altered: {label}, field(s) {', '.join(changed)} "
                                    f"(at {where})")
        for name in ("seq", "content_hash", "link", "link_key_id", "redacted"):
            if line.get(name) != entry.get(name):
                verdict.problems.append(f"altered: {label}, its {name} (at {where})")
    for event_id in order:
        if event_id not in seen:
            verdict.problems.append(f"removed: event #{entries[event_id]['seq']} ({event_id})")
    # Reordering: the events both hold must come in the manifest's order.
    position = {event_id: i for i, event_id in enumerate(order)}
    present = [str(line.get("event_id")) for line in lines if str(line.get("event_id")) in position]
    deduped = list(dict.fromkeys(present))
    expected = sorted(deduped, key=lambda e: position[e])
    if deduped != expected:
        moved = [e for e, want in zip(deduped, expected, strict=True) if e != want]
        verdict.problems.append(
            "reordered: " + ", ".join(f"event #{entries[e]['seq']} ({e})" for e in moved)
            + " not in the chain's order")


def _check_chain(lines: list[dict[str, Any]], manifest: dict[str, Any] | None, keys: AuditKeys,
                 verdict: Verdict) -> None:
    """The chain on its own (links, content hashes, MACs), whatever the manifest says."""
    chain = str((manifest or {}).get("case_id", "?"))
    rows = []
    for line in lines:
        try:
            body = dumps(line["event"]).decode("utf-8")
            rows.append(Row(chain, int(line["seq"]), str(line["event_id"]), body,
                            str(line["content_hash"]), str(line["link"]),
                            str(line["link_key_id"]), bool(line["redacted"])))
        except (KeyError, TypeError, ValueError):
            verdict.problems.append(f"{EVENTS} line {line['_line']}: chain fields missing (altered)")
    report = verify_rows(rows, keys, chain)
    for problem in report.problems:
        verdict.problems.append(f"chain: {problem}")
    if manifest is not None and rows and rows[-1].link != manifest.get("head"):
        verdict.problems.append("chain: the last event is not the chain's head the manifest "
                                "names (events removed from the end, or added after it)")


def _check_contents(lines: list[dict[str, Any]], verdict: Verdict) -> None:
    """Without the hub's key: each unredacted event must match its own content hash (which
    the signed manifest vouches for)."""
    for line in lines:
        if line.get("redacted"):
            continue
        try:
            event = event_from_body(dumps(line["event"]).decode("utf-8"))
        except ValueError:
            verdict.problems.append(f"{EVENTS} line {line['_line']}: not a valid audit event "
                                    "(altered)")
            continue
        if content_hash(event) != line.get("content_hash"):
            verdict.problems.append(f"{EVENTS} line {line['_line']}: content does not match "
                                    "its hash (altered)")


def verify_bundle(data: bytes, keys: AuditKeys | None,
                  public_key: tuple[str, bytes] | None = None) -> Verdict:
    """With the hub's keys: everything, chain links and MACs included. With only the bundle
    signing key's public half: the signed manifest, and every file and event against it."""
    if keys is None and public_key is None:
        raise ConfigError("verifying needs the hub's audit keys or a bundle's public key")
    verdict = Verdict()
    files = _read_zip(data)
    if files is None:
        verdict.problems.append("not a readable bundle (zip damaged)")
        return verdict
    manifest: dict[str, Any] | None = None
    if MANIFEST not in files:
        verdict.problems.append(f"removed: {MANIFEST}")
    else:
        try:
            manifest = json.loads(files[MANIFEST])
            assert isinstance(manifest, dict)
        except (ValueError, AssertionError):
            verdict.problems.append(f"altered: {MANIFEST} is not JSON")
            manifest = None
    if manifest is not None:
        unsigned = dumps({k: v for k, v in manifest.items() if k not in ("mac", "ed25519")})
        if keys is not None:
            problem = keys.check_mac(unsigned, manifest.get("key_id"), manifest.get("mac"))
            if problem is not None:
                verdict.problems.append(
                    f"altered: {MANIFEST} (its MAC does not hold: {problem.value})")
        if public_key is not None:
            if manifest.get("signing_key_id") != public_key[0]:
                verdict.problems.append(f"{MANIFEST} is not signed by key {public_key[0]} "
                                        f"(it names {manifest.get('signing_key_id')})")
            elif not check_ed25519(public_key[1], unsigned, manifest.get("ed25519")):
                verdict.problems.append(f"altered: {MANIFEST} (its Ed25519 signature does "
                                        "not hold)")
        listed = manifest.get("files", {})
        for name in sorted(set(files) - {MANIFEST} - set(listed)):
            verdict.problems.append(f"inserted: file {name} is not in the manifest")
        for name, digest in sorted(listed.items()):
            if name not in files:
                verdict.problems.append(f"removed: file {name}")
            elif _sha(files[name]) != digest:
                verdict.problems.append(f"altered: file {name} (SHA-256 differs from the manifest)")
    lines = _parse_lines(files.get(EVENTS, b""), verdict)
    verdict.events = len(lines)
    if manifest is not None:
        _check_against_manifest(lines, manifest, verdict)
    if keys is not None:
        _check_chain(lines, manifest, keys, verdict)
    else:
        _check_contents(lines, verdict)
    return verdict


# Command line ---------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> AuditStore:
    url = args.database or os.environ.get("MASH_AUDITSTORE_DATABASE_URL")
    if not url:
        raise ConfigError("no audit store: pass --database URL or set MASH_AUDITSTORE_DATABASE_URL")
    return AuditStore(open_engine(url), _keys())


def _keys() -> AuditKeys:
    keys = AuditKeys.from_env()
    if keys is None:
        raise ConfigError("no audit keys: set MASH_AUDIT_KEYS_FILE (or MASH_AUDIT_KEYS)")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-evidence", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write a case's evidence bundle")
    export.add_argument("--case", required=True)
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--operator", default=os.environ.get("USER", "unknown"),
                        help="who exports (recorded in the manifest)")
    verify = sub.add_parser("verify", help="check a bundle; exit 1 if anything was changed")
    verify.add_argument("file", type=Path)
    verify.add_argument("--public-key", type=Path, default=None,
                        help="the hub's bundle verification key (JSON); lets anyone verify "
                             "without the hub's secret keys")
    disclosures = sub.add_parser("disclosures", help="a child's disclosure report, as JSON")
    disclosures.add_argument("--case", action="append", required=True,
                             help="the child's case (repeat for every case of the child)")
    sub.add_parser("check-store", help="verify every chain in the audit store")
    for p in (export, disclosures, sub.choices["check-store"]):
        p.add_argument("--database", default=None,
                       help="SQLAlchemy URL of the audit store (default $MASH_AUDITSTORE_DATABASE_URL)")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    try:
        if args.command == "export":
            count = export_bundle(_store(args), args.case, args.out, exported_by=args.operator)
            print(f"wrote {args.out}: case {args.case}, {count} events")
            return 0
        if args.command == "verify":
            public = load_public_key(args.public_key) if args.public_key else None
            keys = AuditKeys.from_env() if public is None else None
            if public is None and keys is None:
                raise ConfigError("no audit keys: set MASH_AUDIT_KEYS_FILE, or pass --public-key")
            verdict = verify_bundle(args.file.read_bytes(), keys, public)
            if verdict.ok:
                print(f"OK: {args.file}, {verdict.events} events, chain and manifest intact")
                return 0
            print(f"TAMPERED: {args.file}: {len(verdict.problems)} problem(s)")
            for problem in verdict.problems:
                print(f"  {problem}")
            return EXIT_TAMPERED
        if args.command == "disclosures":
            store = _store(args)
            reports = [disclosure_report(c, store.iter_case_events(c)) for c in args.case]
            print(json.dumps(reports, indent=2, ensure_ascii=False))
            return 0
        chains = _store(args).verify_all()
        broken = [r for r in chains if not r.ok]
        for chain in broken:
            for problem in chain.problems:
                print(problem)
        print(f"{len(chains)} chains, {sum(r.events for r in chains)} events: "
              + ("OK" if not broken else f"{len(broken)} chain(s) broken"))
        return EXIT_TAMPERED if broken else 0
    except OSError as exc:
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
