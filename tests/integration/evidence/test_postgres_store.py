"""The audit store on a real PostgreSQL server: the roles' grants and the triggers hold.

The application's role may read and append, nothing else; the erasure role may also redact;
nobody, the owner included, may delete, truncate or change a row other than by redaction.
Chains verify, and a superuser who disables the triggers and alters, removes, reorders or
inserts rows is found by verification all the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from mash_common.audittrail import AuditKeys, AuditKeySettings, new_key_file
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_ops.auditdb import AuditStore, Stored, install_postgres_roles, open_engine
from tests.integration.sdk.conftest import postgres_url  # noqa: F401  (the shared server)

pytestmark = pytest.mark.integration

APP, ERASER = "mash_auditstore", "mash_erasure"


@pytest.fixture
def owner(postgres_url: str) -> Iterator[Engine]:  # noqa: F811
    engine = open_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS audit_events, audit_rejected CASCADE"))
    install_postgres_roles(engine, app_role=APP, erasure_role=ERASER)
    yield engine
    engine.dispose()


@pytest.fixture
def keys(tmp_path: Path) -> AuditKeys:
    new_key_file(tmp_path / "keys.json", "pg-1")
    loaded = AuditKeys.load(AuditKeySettings(keys_file=tmp_path / "keys.json"))
    assert loaded is not None
    return loaded


def _as(url: str, role: str) -> Engine:
    # The test cluster trusts local connections; a deployment gives each role a password.
    return open_engine(url.replace("postgres@", f"{role}@"))


def _event(n: int, case_id: str = "CASE-PG") -> AuditEvent:
    return AuditEvent(event_id=f"pg-{n}", at=utcnow(), actor="mash-hub/enrichment",
                      action=AuditAction.REQUEST_SENT, case_id=case_id, agency="health",
                      legal_basis="Children Act 2004 s11", data_categories=["gp-record"],
                      reference=f"req-{n}", detail=f"step {n}")


def test_roles_may_do_only_their_part(owner: Engine, postgres_url: str,  # noqa: F811
                                      keys: AuditKeys) -> None:
    app = AuditStore(_as(postgres_url, APP), keys)
    for n in range(1, 6):
        assert app.append(keys.sign(_event(n)), partition=0, source=f"a[0]@{n}") is Stored.APPENDED
    assert app.append(keys.sign(_event(2)), partition=0, source="a[0]@9") is Stored.DUPLICATE
    assert app.verify("CASE-PG").ok
    for statement in ("UPDATE audit_events SET body = 'x'", "DELETE FROM audit_events",
                      "TRUNCATE audit_events", "DROP TABLE audit_events"):
        with pytest.raises(DBAPIError), app.engine.begin() as conn:
            conn.execute(text(statement))
    eraser = AuditStore(_as(postgres_url, ERASER), keys)
    with pytest.raises(DBAPIError), eraser.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    with pytest.raises(DBAPIError), eraser.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'OTHER'"))  # not a granted column
    assert eraser.redact_case("CASE-PG", operator="ig-lead", reason="ER-2") == [
        f"pg-{n}" for n in range(1, 6)]
    report = app.verify("CASE-PG")
    assert report.ok and report.redacted == 5, report.problems
    # The owner is bound by the triggers too.
    for statement in ("DELETE FROM audit_events", "TRUNCATE audit_events",
                      "UPDATE audit_events SET link = 'x'",
                      "UPDATE audit_events SET redacted = 0"):
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
            conn.execute(text(statement))
    app.engine.dispose()
    eraser.engine.dispose()


def test_a_superuser_bypassing_the_triggers_is_still_found(owner: Engine, keys: AuditKeys) -> None:
    rng = random.Random(5)
    tampering = {
        "alter": ["UPDATE audit_events SET body = replace(body, 'step', 'stop') WHERE seq = {a}"],
        "delete": ["DELETE FROM audit_events WHERE seq = {a}"],
        "reorder": ["UPDATE audit_events SET seq = -1 WHERE seq = {a}",
                    "UPDATE audit_events SET seq = {a} WHERE seq = {b}",
                    "UPDATE audit_events SET seq = {b} WHERE seq = -1"],
        "insert": ["INSERT INTO audit_events SELECT chain, 11, 'forged', case_id, at, action, "
                   "body, content_hash, link, link_key_id, 0, source, stored_at "
                   "FROM audit_events WHERE seq = {a}"],
        "truncate the end": ["DELETE FROM audit_events WHERE seq = 10"],
    }
    found = {}
    for kind, statements in tampering.items():
        with owner.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS audit_events, audit_rejected CASCADE"))
        install_postgres_roles(owner, app_role=APP, erasure_role=ERASER)
        store = AuditStore(owner, keys)
        for n in range(1, 11):
            store.append(keys.sign(_event(n)), partition=0, source=f"a[0]@{n}")
        heads = store.heads()
        assert store.verify("CASE-PG", heads["CASE-PG"]).ok
        a, b = sorted(rng.sample(range(1, 11), 2))
        with owner.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            for statement in statements:
                conn.execute(text(statement.format(a=a, b=b)))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        report = store.verify("CASE-PG", heads["CASE-PG"])
        found[kind] = not report.ok
    assert found == {kind: True for kind in tampering}
