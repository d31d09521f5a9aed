"""The audit store's database: append-only, idempotent on event id, one keyed chain per case.

SQLite (embedded, the default) and PostgreSQL (deployments), through SQLAlchemy Core. One
row per event: its chain (the case id; case-less events chain per mash.audit partition),
its number in the chain, the event as JSON, its content hash and the chain link
(mash_common.audittrail). Append-only is the database's business, not only the code's:
triggers refuse every DELETE and every UPDATE but a redaction (body replaced, redacted set,
nothing else changed), and on PostgreSQL the application's role is granted SELECT and
INSERT only; the erasure role may also UPDATE the two redaction columns.

The store is each chain's one writer: a single auditstore worker per mash.audit partition,
as the consumer group guarantees, and a case's events are all on one partition (key
case_id). Case-less events chain per partition for the same reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from mash_common.audittrail import (
    GENESIS,
    AuditKeys,
    content_hash,
    dumps,
    event_body,
    event_from_body,
)
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_common.ids import stable_id

logger = logging.getLogger(__name__)

TABLE = "audit_events"
REJECTS = "audit_rejected"
# Personal data an audit event can carry: free text, the override's authoriser and reason,
# a person as actor, the referral or request it names. What was done, when, by which
# service or agency and on what legal basis stays: that is the record the law keeps.
PERSONAL_FIELDS = ("actor", "detail", "reference", "consent_override")
REDACTED = "[redacted]"
APPEND_ATTEMPTS = 5
# The records of an erasure, a retention purge or a redaction are kept whole: they name no
# child, only the operator or service that acted and the reference of the request, and
# they are what shows the erasure happened.
KEPT_WHOLE = frozenset({AuditAction.RECORD_REDACTED, AuditAction.CASE_ERASED,
                        AuditAction.RETENTION_PURGED, AuditAction.CASE_RECTIFIED})

_COMMON_DDL = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        case_id TEXT,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        body TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        link TEXT NOT NULL,
        link_key_id TEXT NOT NULL,
        redacted INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        stored_at TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {REJECTS} (
        source TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        event_id TEXT,
        stored_at TEXT NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_case ON {TABLE} (case_id)",
]

# A redaction may replace the body and set redacted; nothing else may ever change.
_UNCHANGED = ("chain", "seq", "event_id", "case_id", "at", "action", "content_hash", "link",
              "link_key_id", "source", "stored_at")

_SQLITE_DDL = [
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_redaction_only BEFORE UPDATE ON {TABLE}
        WHEN NOT (OLD.redacted = 0 AND NEW.redacted = 1
                  AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _UNCHANGED)})
        BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: only a redaction may change a row'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {REJECTS}_no_delete BEFORE DELETE ON {REJECTS}
        BEGIN SELECT RAISE(ABORT, '{REJECTS} is append-only'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {REJECTS}_no_update BEFORE UPDATE ON {REJECTS}
        BEGIN SELECT RAISE(ABORT, '{REJECTS} is append-only'); END""",
]

_PG_DDL = [
    f"""CREATE OR REPLACE FUNCTION {TABLE}_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- OLD and NEW exist only for row-level UPDATE: look at them only then.
        IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW' AND TG_TABLE_NAME = '{TABLE}' THEN
            IF OLD.redacted = 0 AND NEW.redacted = 1
               AND {" AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _UNCHANGED)} THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION '% is append-only: only a redaction may change a row', TG_TABLE_NAME;
    END $$""",
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_guard()""",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_guard()""",
    f"DROP TRIGGER IF EXISTS {REJECTS}_append_only ON {REJECTS}",
    f"""CREATE TRIGGER {REJECTS}_append_only BEFORE UPDATE OR DELETE ON {REJECTS}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_guard()""",
]


def _quote_role(role: str) -> str:
    if not role.replace("_", "").replace("-", "").isalnum():
        raise ValueError("a role name is letters, digits, '_' and '-' only")
    return f'"{role}"'


def install_postgres_roles(engine: Engine, *, app_role: str, erasure_role: str) -> None:
    """Create the tables as the connecting (owner) role and grant the two roles their part:
    the audit store may read and append; the erasure tool may also redact. Neither may
    delete, and the triggers hold even for the owner."""
    create_schema(engine)
    app, eraser = _quote_role(app_role), _quote_role(erasure_role)
    with engine.begin() as conn:
        for role in (app, eraser):
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                  {"r": role.strip('"')}).first()
            if exists is None:
                conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f"REVOKE ALL ON {TABLE}, {REJECTS} FROM {role}"))
        conn.execute(text(f"GRANT SELECT, INSERT ON {TABLE}, {REJECTS} TO {app}"))
        conn.execute(text(f"GRANT SELECT, INSERT ON {TABLE} TO {eraser}"))
        conn.execute(text(f"GRANT UPDATE (body, redacted) ON {TABLE} TO {eraser}"))
        conn.execute(text(f"GRANT SELECT ON {REJECTS} TO {eraser}"))


def create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        for ddl in _COMMON_DDL:
            conn.execute(text(ddl))
        for ddl in (_PG_DDL if engine.dialect.name == "postgresql" else _SQLITE_DDL):
            conn.execute(text(ddl))


def open_engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi: Any, _record: Any) -> None:
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # the evidence tool reads while we write
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    return engine


class Stored(StrEnum):
    APPENDED = "APPENDED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Row:
    chain: str
    seq: int
    event_id: str
    body: str
    content_hash: str
    link: str
    link_key_id: str
    redacted: bool

    @property
    def event(self) -> AuditEvent:
        return event_from_body(self.body)

    def as_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "event_id": self.event_id,
                "event": self.body, "content_hash": self.content_hash, "link": self.link,
                "link_key_id": self.link_key_id, "redacted": self.redacted}


@dataclass
class ChainReport:
    """What verifying one chain found; empty problems means it holds."""

    chain: str
    events: int = 0
    redacted: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def chain_of(event: AuditEvent, partition: int) -> str:
    return event.case_id if event.case_id else f"nocase/{partition}"


def redaction_detail(fields: Sequence[str], body: str, reason: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"fields {','.join(fields)}; body sha256 {digest}; reason {reason}"


def redacted_body_hash(detail: str | None) -> str | None:
    for part in (detail or "").split("; "):
        if part.startswith("body sha256 "):
            return part.removeprefix("body sha256 ")
    return None


def verify_rows(rows: Sequence[Row], keys: AuditKeys, chain: str) -> ChainReport:
    """Check one chain's rows, in seq order: numbering, links, content hashes, MACs, and
    that each redacted row is vouched for by a later RECORD_REDACTED event."""
    report = ChainReport(chain, events=len(rows))
    prev = GENESIS
    vouched: dict[str, str | None] = {}
    for row in rows:
        if row.redacted:
            continue
        try:
            ev = row.event
        except ValueError:
            continue
        if ev.action is AuditAction.RECORD_REDACTED and ev.reference:
            vouched[ev.reference] = redacted_body_hash(ev.detail)
    for expected, row in enumerate(rows, start=1):
        where = f"chain {chain} event #{row.seq} ({row.event_id})"
        if row.seq != expected:
            report.problems.append(f"{where}: numbered {row.seq} where #{expected} was due "
                                   "(an event before it was removed, or events reordered)")
        link_problem = keys.check_mac(f"{prev}|{row.seq}|{row.content_hash}".encode("ascii"),
                                      row.link_key_id, row.link)
        if link_problem is not None:
            report.problems.append(f"{where}: chain link does not hold ({link_problem.value}): "
                                   "removed, reordered or inserted here")
        prev = row.link
        if row.redacted:
            report.redacted += 1
            if row.event_id not in vouched:
                report.problems.append(f"{where}: marked redacted with no RECORD_REDACTED "
                                       "event for it in the chain (altered)")
            elif vouched[row.event_id] != hashlib.sha256(row.body.encode()).hexdigest():
                report.problems.append(f"{where}: redacted body is not the one the redaction "
                                       "recorded (altered)")
            continue
        try:
            ev = row.event
        except ValueError:
            report.problems.append(f"{where}: body is not a valid audit event (altered)")
            continue
        if ev.event_id != row.event_id:
            report.problems.append(f"{where}: body's event id differs from the row's (altered)")
        if content_hash(ev) != row.content_hash:
            report.problems.append(f"{where}: content does not match its hash (altered)")
        problem = keys.check(ev)
        if problem is not None:
            report.problems.append(f"{where}: event MAC does not hold ({problem.value})")
    return report


class AuditStore:
    """Appends events to their chains; reads, verifies and redacts them."""

    def __init__(self, engine: Engine, keys: AuditKeys) -> None:
        self.engine = engine
        self.keys = keys

    # writing ------------------------------------------------------------------------

    def append(self, ev: AuditEvent, *, partition: int, source: str) -> Stored:
        """Store one event from mash.audit (idempotent on event_id); a MAC that does not
        hold puts it among the rejected instead, never in a chain."""
        problem = self.keys.check(ev)
        for attempt in range(APPEND_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    if problem is not None:
                        self._reject(conn, source, problem, ev.event_id)
                        return Stored.REJECTED
                    return self._append(conn, ev, chain_of(ev, partition), source)
            except (IntegrityError, OperationalError):
                # Another writer (the erasure tool's redaction notes) took the chain's next
                # number, or held the SQLite lock: read the head again and retry.
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))  # back off before re-reading the head
        raise AssertionError("unreachable")

    def reject(self, source: str, reason: str) -> None:
        """An undecodable record on mash.audit: noted by its position only."""
        with self.engine.begin() as conn:
            self._reject(conn, source, reason, None)

    @staticmethod
    def _reject(conn: Connection, source: str, reason: str, event_id: str | None) -> None:
        seen = conn.execute(text(f"SELECT 1 FROM {REJECTS} WHERE source = :s"),
                            {"s": source}).first()
        if seen is None:
            conn.execute(text(f"INSERT INTO {REJECTS} (source, reason, event_id, stored_at) "
                              "VALUES (:s, :r, :e, :t)"),
                         {"s": source, "r": str(reason), "e": event_id,
                          "t": utcnow().isoformat()})

    def _append(self, conn: Connection, ev: AuditEvent, chain: str, source: str) -> Stored:
        stored, _ = self._append_row(conn, ev, chain, source)
        return stored

    def append_with_head(self, ev: AuditEvent, *, partition: int,
                         source: str) -> tuple[Stored, tuple[str, int, str] | None]:
        """append(), also returning (chain, number, link) of the row written, if one was."""
        stored = self.append(ev, partition=partition, source=source)
        if stored is not Stored.APPENDED:
            return stored, None
        chain = chain_of(ev, partition)
        with self.engine.connect() as conn:
            row = conn.execute(text(f"SELECT seq, link FROM {TABLE} WHERE event_id = :e"),
                               {"e": ev.event_id}).one()
        return stored, (chain, int(row[0]), str(row[1]))

    def _append_row(self, conn: Connection, ev: AuditEvent, chain: str,
                    source: str) -> tuple[Stored, int]:
        if conn.execute(text(f"SELECT 1 FROM {TABLE} WHERE event_id = :e"),
                        {"e": ev.event_id}).first() is not None:
            return Stored.DUPLICATE, 0
        head = conn.execute(text(f"SELECT seq, link FROM {TABLE} WHERE chain = :c "
                                 "ORDER BY seq DESC LIMIT 1"), {"c": chain}).first()
        seq, prev = (1, GENESIS) if head is None else (int(head[0]) + 1, str(head[1]))
        digest = content_hash(ev)
        conn.execute(text(
            f"INSERT INTO {TABLE} (chain, seq, event_id, case_id, at, action, body, "
            "content_hash, link, link_key_id, redacted, source, stored_at) VALUES "
            "(:chain, :seq, :event_id, :case_id, :at, :action, :body, :hash, :link, :kid, 0, "
            ":source, :stored_at)"),
            {"chain": chain, "seq": seq, "event_id": ev.event_id, "case_id": ev.case_id,
             "at": ev.at.isoformat(), "action": ev.action.value, "body": event_body(ev),
             "hash": digest, "link": self.keys.link(prev, seq, digest),
             "kid": self.keys.active, "source": source, "stored_at": utcnow().isoformat()})
        return Stored.APPENDED, seq

    # reading ------------------------------------------------------------------------

    def rows(self, chain: str) -> list[Row]:
        with self.engine.connect() as conn:
            found = conn.execute(text(
                f"SELECT chain, seq, event_id, body, content_hash, link, link_key_id, redacted "
                f"FROM {TABLE} WHERE chain = :c ORDER BY seq"), {"c": chain}).all()
        return [Row(str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                    str(r[6]), bool(r[7])) for r in found]

    def chains(self) -> list[str]:
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(text(
                f"SELECT DISTINCT chain FROM {TABLE} ORDER BY chain")).all()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {TABLE}")).scalar_one())

    def rejected(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(text(
                f"SELECT source, reason FROM {REJECTS} ORDER BY source")).all()]

    def heads(self) -> dict[str, tuple[int, str]]:
        """Each chain's last event: (number, link). The worker keeps these as it appends, so
        that events removed from the end of a chain (which leave a shorter, valid chain) are
        found too; a bundle's manifest anchors its head the same way."""
        with self.engine.connect() as conn:
            found = conn.execute(text(
                f"SELECT chain, seq, link FROM {TABLE} t WHERE seq = "
                f"(SELECT MAX(seq) FROM {TABLE} u WHERE u.chain = t.chain)")).all()
        return {str(r[0]): (int(r[1]), str(r[2])) for r in found}

    def verify(self, chain: str, head: tuple[int, str] | None = None) -> ChainReport:
        rows = self.rows(chain)
        report = verify_rows(rows, self.keys, chain)
        if head is not None and (not rows or (rows[-1].seq, rows[-1].link) != head):
            report.problems.append(
                f"chain {chain}: ends at #{rows[-1].seq if rows else 0}, not at #{head[0]} as "
                "last written (events removed from its end)")
        return report

    def verify_all(self, heads: dict[str, tuple[int, str]] | None = None) -> list[ChainReport]:
        """Every chain; with the heads last written, chains that lost their end (or vanished
        altogether) fail too."""
        chains = set(self.chains()) | set(heads or {})
        return [self.verify(c, (heads or {}).get(c)) for c in sorted(chains)]

    def verify_head(self, chain: str) -> bool:
        """Cheap check as events arrive: the last two rows of the chain still link."""
        with self.engine.connect() as conn:
            last = conn.execute(text(
                f"SELECT seq, content_hash, link, link_key_id FROM {TABLE} WHERE chain = :c "
                "ORDER BY seq DESC LIMIT 2"), {"c": chain}).all()
        if not last:
            return True
        seq, digest, link, kid = int(last[0][0]), str(last[0][1]), str(last[0][2]), str(last[0][3])
        prev = str(last[1][2]) if len(last) > 1 else GENESIS
        expected_prev_seq = seq - 1
        if len(last) > 1 and int(last[1][0]) != expected_prev_seq:
            return False
        if len(last) == 1 and seq != 1:
            return False
        return self.keys.check_mac(f"{prev}|{seq}|{digest}".encode("ascii"), kid, link) is None

    # redaction ----------------------------------------------------------------------

    def redact_case(self, case_id: str, *, operator: str, reason: str,
                    fields: Sequence[str] = PERSONAL_FIELDS,
                    only: Callable[[AuditEvent], bool] | None = None) -> list[str]:
        """Blank the personal fields of every event of the case (or of those `only` picks);
        each redaction is recorded by a RECORD_REDACTED event appended to the same chain.
        Returns the ids redacted."""
        done: list[str] = []
        for row in self.rows(case_id):
            if row.redacted:
                continue
            ev = row.event
            if ev.action in KEPT_WHOLE or (only is not None and not only(ev)):
                continue
            blanked = _blank(ev, fields)
            body = dumps(blanked).decode("utf-8")
            with self.engine.begin() as conn:
                conn.execute(text(f"UPDATE {TABLE} SET body = :b, redacted = 1 "
                                  "WHERE chain = :c AND seq = :s AND redacted = 0"),
                             {"b": body, "c": row.chain, "s": row.seq})
                note = self.keys.sign(AuditEvent(
                    event_id=stable_id("audit", "redaction", row.event_id),
                    at=utcnow(), actor=f"ops/{operator}", action=AuditAction.RECORD_REDACTED,
                    case_id=ev.case_id, reference=row.event_id,
                    detail=redaction_detail(fields, body, reason)))
                self._append(conn, note, row.chain, f"redaction of {row.event_id}")
            done.append(row.event_id)
        return done

    def redact_values(self, case_id: str, values: Sequence[str], *, operator: str,
                      reason: str) -> list[str]:
        """Rectification: redact the case's events whose personal fields hold one of
        `values` (a subject's old details), so the old details are kept nowhere here."""
        wanted = [v.casefold() for v in values if v]

        def holds(ev: AuditEvent) -> bool:
            body = json.dumps(ev.model_dump(mode="json", include=set(PERSONAL_FIELDS)),
                              ensure_ascii=False).casefold()
            return any(v in body for v in wanted)

        return self.redact_case(case_id, operator=operator, reason=reason, only=holds)

    def iter_case_events(self, case_id: str) -> Iterator[AuditEvent]:
        for row in self.rows(case_id):
            if not row.redacted:
                yield row.event


def _blank(ev: AuditEvent, fields: Sequence[str]) -> dict[str, Any]:
    data = ev.model_dump(mode="json", exclude_defaults=True)
    for name in fields:
        if name in data:
            data[name] = REDACTED if isinstance(data[name], str) else None
    data["redacted_at"] = datetime.now(UTC).isoformat()
    return data
