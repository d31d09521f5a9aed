"""Random tampering with evidence bundles and audit stores, for the tamper tests.

Each function makes one change of a kind (alter, delete, reorder, insert) at a random place
and says what it did; the tests check the verifier finds every one. The forger knows the
formats but not the hub's key: a forged or inserted event carries a made-up MAC.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("alter", "delete", "reorder", "insert")


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return out.getvalue()


def _changed(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.choice([-1, 1, 1000])
    if isinstance(value, str):
        if not value:
            return "x"
        i = rng.randrange(len(value))
        replacement = "Z" if value[i] != "Z" else "Y"
        return value[:i] + replacement + value[i + 1:]
    if isinstance(value, list):
        return [*value, "extra"] if not value or rng.random() < 0.5 else value[:-1]
    if isinstance(value, dict):
        if not value:
            return {"added": "x"}
        key = rng.choice(sorted(value))
        return {**value, key: _changed(value[key], rng)}
    return "x"  # None becomes a value


def tamper_bundle(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """One random change of `kind` to a bundle's events (or, for alter, sometimes to its
    other files); returns the new bytes and a description."""
    files = _unzip(data)
    lines = files["events.jsonl"].decode("utf-8").splitlines()
    if kind == "alter":
        target = rng.random()
        if target < 0.1:  # the readable summary or the disclosure report
            name = rng.choice(["summary.html", "disclosures.json"])
            text = files[name].decode("utf-8")
            i = rng.randrange(len(text))
            files[name] = (text[:i] + ("#" if text[i] != "#" else "%") + text[i + 1:]).encode()
            what = f"one character of {name}"
        elif target < 0.2:  # the manifest itself
            manifest = json.loads(files["manifest.json"])
            entry = rng.choice(manifest["entries"])
            key = rng.choice(["content_hash", "link", "event_id"])
            entry[key] = _changed(entry[key], rng)
            files["manifest.json"] = json.dumps(manifest, indent=1).encode()
            what = f"manifest entry #{entry['seq']} {key}"
        else:
            n = rng.randrange(len(lines))
            line = json.loads(lines[n])
            if rng.random() < 0.85:
                name = rng.choice(sorted(line["event"]))
                line["event"][name] = _changed(line["event"][name], rng)
                what = f"event line {n + 1} field {name}"
            else:
                name = rng.choice(["seq", "content_hash", "link", "redacted"])
                line[name] = _changed(line[name], rng)
                what = f"event line {n + 1} {name}"
            lines[n] = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif kind == "delete":
        n = rng.randrange(len(lines))
        del lines[n]
        what = f"event line {n + 1} removed"
    elif kind == "reorder":
        a, b = rng.sample(range(len(lines)), 2)
        lines[a], lines[b] = lines[b], lines[a]
        what = f"event lines {a + 1} and {b + 1} swapped"
    elif kind == "insert":
        n = rng.randrange(len(lines) + 1)
        source = json.loads(rng.choice(lines))
        if rng.random() < 0.3:
            forged = source  # an exact copy of a real event, replayed elsewhere
            what = f"copy of event {source['event_id']} inserted at line {n + 1}"
        else:
            forged = {**source, "event_id": f"forged-{rng.randrange(10**9)}",
                      "event": {**source["event"], "event_id": "forged",
                                "detail": "an act that never happened",
                                "signature": f"{rng.getrandbits(256):064x}"},
                      "content_hash": f"{rng.getrandbits(256):064x}",
                      "link": f"{rng.getrandbits(256):064x}"}
            what = f"forged event inserted at line {n + 1}"
        lines.insert(n, json.dumps(forged, sort_keys=True, separators=(",", ":")))
    else:
        raise ValueError(kind)
    files["events.jsonl"] = ("\n".join(lines) + "\n").encode("utf-8")
    return _zip(files), what


def _drop_triggers(db: sqlite3.Connection) -> None:
    # The forger has the database file, so the triggers are no obstacle: only the chain is.
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")


def tamper_store(pristine: Path, copy: Path, chain: str, kind: str,
                 rng: random.Random) -> str:
    """Copy the SQLite store and make one change of `kind` to one chain; says what."""
    shutil.copyfile(pristine, copy)
    db = sqlite3.connect(copy)
    try:
        _drop_triggers(db)
        rows = db.execute("SELECT seq, body FROM audit_events WHERE chain = ? ORDER BY seq",
                          (chain,)).fetchall()
        seqs = [r[0] for r in rows]
        what: str
        if kind == "alter":
            seq, body = rng.choice(rows)
            event = json.loads(body)
            name = rng.choice(sorted(event))
            event[name] = _changed(event[name], rng)
            db.execute("UPDATE audit_events SET body = ? WHERE chain = ? AND seq = ?",
                       (json.dumps(event, sort_keys=True, separators=(",", ":")), chain, seq))
            what = f"#{seq} field {name}"
        elif kind == "delete":
            seq = rng.choice(seqs)
            db.execute("DELETE FROM audit_events WHERE chain = ? AND seq = ?", (chain, seq))
            if rng.random() < 0.5:  # and renumber what follows, to hide the gap
                db.execute("UPDATE audit_events SET seq = seq - 1 WHERE chain = ? AND seq > ?",
                           (chain, seq))
            what = f"#{seq} deleted"
        elif kind == "reorder":
            a, b = rng.sample(seqs, 2)
            db.execute("UPDATE audit_events SET seq = -1 WHERE chain = ? AND seq = ?", (chain, a))
            db.execute("UPDATE audit_events SET seq = ? WHERE chain = ? AND seq = ?", (a, chain, b))
            db.execute("UPDATE audit_events SET seq = ? WHERE chain = ? AND seq = -1", (b, chain))
            what = f"#{a} and #{b} swapped"
        elif kind == "insert":
            at = rng.randrange(1, len(seqs) + 2)
            src = db.execute("SELECT * FROM audit_events WHERE chain = ? AND seq = ?",
                             (chain, rng.choice(seqs))).fetchone()
            columns = [c[1] for c in db.execute("PRAGMA table_info(audit_events)").fetchall()]
            row = dict(zip(columns, src, strict=True))
            event = json.loads(row["body"])
            event["event_id"] = row["event_id"] = f"forged-{rng.randrange(10**9)}"
            event["detail"] = "an act that never happened"
            row["body"] = json.dumps(event, sort_keys=True, separators=(",", ":"))
            row["link"] = f"{rng.getrandbits(256):064x}"
            # Make room: shift the later events up by one (highest first, keys are unique).
            for seq in sorted((s for s in seqs if s >= at), reverse=True):
                db.execute("UPDATE audit_events SET seq = ? WHERE chain = ? AND seq = ?",
                           (seq + 1, chain, seq))
            row["seq"] = at
            db.execute(f"INSERT INTO audit_events ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' for _ in columns)})", [row[c] for c in columns])
            what = f"forged event inserted as #{at}"
        else:
            raise ValueError(kind)
        db.commit()
    finally:
        db.close()
    return what


def run_trials(n_per_kind: int, seed: int,
               trial: Callable[[str, random.Random], bool]) -> dict[str, tuple[int, int]]:
    """kind -> (detected, tried), over n_per_kind trials of each kind."""
    rng = random.Random(seed)
    return {kind: (sum(trial(kind, rng) for _ in range(n_per_kind)), n_per_kind)
            for kind in KINDS}
