"""The idempotency store: which referral ids each source has sent, with the digest of the
body, so a resend gets the first answer and a different body under the same id a 409.

It lives in SQLite in the gateway's datadir, not in memory, so the answer survives a
restart. It holds ids, digests and times only, no personal data. A referral is reserved
before it is produced and marked accepted once the broker has acknowledged it: two
concurrent sends of one id produce once, and a send that failed (or a crash between
produce and mark) is produced again on resend, which intake dedupes by referral_id.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path


class State(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"


@dataclass(frozen=True)
class Entry:
    source: str
    referral_id: str
    body_sha256: str
    state: State
    accepted_at: datetime


class Verdict(StrEnum):
    NEW = "NEW"  # reserved now: produce it
    SAME = "SAME"  # sent before with the same body
    CONFLICT = "CONFLICT"  # sent before with a different body


class IdempotencyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS referrals (source TEXT NOT NULL, referral_id TEXT NOT NULL,"
                " body_sha256 TEXT NOT NULL, state TEXT NOT NULL, accepted_at TEXT NOT NULL,"
                " PRIMARY KEY (source, referral_id))")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _get(self, source: str, referral_id: str) -> Entry | None:
        row = self._db.execute(
            "SELECT body_sha256, state, accepted_at FROM referrals WHERE source=? AND referral_id=?",
            (source, referral_id)).fetchone()
        if row is None:
            return None
        return Entry(source, referral_id, row[0], State(row[1]), datetime.fromisoformat(row[2]))

    def get(self, source: str, referral_id: str) -> Entry | None:
        with self._lock:
            return self._get(source, referral_id)

    def reserve(self, source: str, referral_id: str, body_sha256: str,
                at: datetime) -> tuple[Verdict, Entry]:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO referrals VALUES (?, ?, ?, ?, ?)",
                (source, referral_id, body_sha256, State.PENDING.value, at.isoformat()))
            changed = self._db.execute("SELECT changes()").fetchone()[0]
            entry = self._get(source, referral_id)
        assert entry is not None
        if changed:
            return Verdict.NEW, entry
        return (Verdict.SAME if entry.body_sha256 == body_sha256 else Verdict.CONFLICT), entry

    def accept(self, source: str, referral_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE referrals SET state=? WHERE source=? AND referral_id=?",
                             (State.ACCEPTED.value, source, referral_id))

    def release(self, source: str, referral_id: str) -> None:
        """Forget a reservation whose produce failed, so the resend is produced."""
        with self._lock:
            self._db.execute("DELETE FROM referrals WHERE source=? AND referral_id=? AND state=?",
                             (source, referral_id, State.PENDING.value))

    def prune(self, now: datetime, keep: timedelta) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM referrals WHERE accepted_at < ?",
                                      ((now - keep).isoformat(),))
            return int(cursor.rowcount)
