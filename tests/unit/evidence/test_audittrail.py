"""MACs, keys and the audit store's chains, on a real SQLite database (no broker)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError

from mash_common.audittrail import (
    AuditKeys,
    AuditKeySettings,
    SignatureProblem,
    content_hash,
    new_key_file,
)
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_common.errors import ConfigError
from mash_common.serde import AvroSerde
from mash_ops.auditdb import AuditStore, Stored, create_schema, open_engine


def event(n: int, case_id: str | None = "CASE-1", **extra: Any) -> AuditEvent:
    return AuditEvent(event_id=f"ev-{n}", at=utcnow(), actor="mash-hub/enrichment",
                      action=AuditAction.REQUEST_SENT, case_id=case_id, agency="police",
                      legal_basis="Children Act 1989 s47", data_categories=["crime"],
                      reference=f"req-{n}", detail=f"detail {n}", **extra)


@pytest.fixture
def keys(tmp_path: Path) -> AuditKeys:
    path = tmp_path / "keys.json"
    new_key_file(path, "k1")
    loaded = AuditKeys.load(AuditKeySettings(keys_file=path))
    assert loaded is not None
    return loaded


def test_signature_survives_avro_and_catches_any_change(keys: AuditKeys) -> None:
    signed = keys.sign(event(1))
    assert signed.key_id == "k1" and signed.signature
    serde = AvroSerde()
    back = serde.decode(serde.encode(signed), AuditEvent)
    assert keys.check(back) is None
    assert content_hash(back) == content_hash(signed)
    changes: list[dict[str, object]] = [{"detail": "other"}, {"agency": "health"}, {"action": AuditAction.REFUSAL},
                   {"data_categories": []}, {"case_id": "CASE-2"}]
    for change in changes:
        assert keys.check(back.model_copy(update=change)) is SignatureProblem.BAD_SIGNATURE
    assert keys.check(event(2)) is SignatureProblem.UNSIGNED
    assert keys.check(signed.model_copy(update={"key_id": "nope"})) is SignatureProblem.UNKNOWN_KEY


def test_rotation_keeps_old_events_verifiable(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    new_key_file(path, "2026-11")
    old = AuditKeys.load(AuditKeySettings(keys_file=path))
    assert old is not None
    first = old.sign(event(1))
    new_key_file(path, "2026-12")
    rotated = AuditKeys.load(AuditKeySettings(keys_file=path))
    assert rotated is not None and rotated.active == "2026-12"
    second = rotated.sign(event(2))
    assert second.key_id == "2026-12"
    assert rotated.check(first) is None and rotated.check(second) is None
    assert old.check(second) is SignatureProblem.UNKNOWN_KEY


def test_keys_from_environment_and_errors_without_key_material(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text(json.dumps({"active": "x"}))
    assert AuditKeys.load(AuditKeySettings()) is None
    env = AuditKeys.load(AuditKeySettings(keys=SecretStr("a=" + "A" * 44 + ",b=" + "B" * 44),
                                          key_id="b"))
    assert env is not None and env.active == "b" and env.ids() == ["a", "b"]
    with pytest.raises(ConfigError) as short:
        AuditKeys.load(AuditKeySettings(keys=SecretStr("a=QUJD")))
    assert "QUJD" not in str(short.value)
    with pytest.raises(ConfigError):
        AuditKeys.load(AuditKeySettings(keys_file=tmp_path / "k.json"))


@pytest.fixture
def store(tmp_path: Path, keys: AuditKeys) -> AuditStore:
    engine = open_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    create_schema(engine)
    return AuditStore(engine, keys)


def test_append_is_idempotent_chains_per_case_and_rejects_bad_macs(store: AuditStore) -> None:
    keys = store.keys
    for n in range(1, 6):
        assert store.append(keys.sign(event(n)), partition=0, source=f"a[0]@{n}") is Stored.APPENDED
    assert store.append(keys.sign(event(3)), partition=0, source="a[0]@9") is Stored.DUPLICATE
    assert store.append(keys.sign(event(6, case_id=None)), partition=2,
                        source="a[2]@1") is Stored.APPENDED
    forged = keys.sign(event(7)).model_copy(update={"detail": "forged"})
    assert store.append(forged, partition=0, source="a[0]@10") is Stored.REJECTED
    assert store.append(event(8), partition=0, source="a[0]@11") is Stored.REJECTED
    assert store.chains() == ["CASE-1", "nocase/2"]
    assert [r.seq for r in store.rows("CASE-1")] == [1, 2, 3, 4, 5]
    assert store.rejected() == [("a[0]@10", "BAD_SIGNATURE"), ("a[0]@11", "UNSIGNED")]
    assert all(r.ok for r in store.verify_all())
    assert store.verify_head("CASE-1")


def test_sqlite_triggers_make_the_table_append_only(store: AuditStore, tmp_path: Path) -> None:
    for n in range(1, 4):
        store.append(store.keys.sign(event(n)), partition=0, source=f"a[0]@{n}")
    store.reject("a[0]@9", "UNDECODABLE")
    db = sqlite3.connect(tmp_path / "audit.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_events WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_events SET body = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_events SET redacted = 1, link = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_rejected")
    db.close()
    assert store.verify("CASE-1").ok


def test_redaction_keeps_the_chain_verifiable_and_shows_itself(store: AuditStore) -> None:
    for n in range(1, 4):
        store.append(store.keys.sign(event(n)), partition=0, source=f"a[0]@{n}")
    redacted = store.redact_case("CASE-1", operator="ig-lead", reason="rectification RT-1")
    assert redacted == ["ev-1", "ev-2", "ev-3"]
    report = store.verify("CASE-1")
    assert report.ok, report.problems
    assert report.redacted == 3 and report.events == 6
    rows = store.rows("CASE-1")
    assert all("detail 1" not in r.body and "req-1" not in r.body for r in rows)
    notes = [r.event for r in rows if not r.redacted]
    assert [n.action for n in notes] == [AuditAction.RECORD_REDACTED] * 3
    # A redaction twice changes nothing.
    assert store.redact_case("CASE-1", operator="ig-lead", reason="again") == []


def test_rectification_redacts_only_the_events_holding_an_old_value(store: AuditStore) -> None:
    store.append(store.keys.sign(event(1)), partition=0, source="a[0]@1")
    named = event(2).model_copy(update={"detail": "named Sïan Old in the note"})
    store.append(store.keys.sign(named), partition=0, source="a[0]@2")
    redacted = store.redact_values("CASE-1", ["sÏan old", "unrelated"], operator="ig-lead",
                                   reason="rectification RR-1")
    assert redacted == ["ev-2"]
    assert store.verify("CASE-1").ok
    assert all("Sïan" not in r.body for r in store.rows("CASE-1"))
    assert any("detail 1" in r.body for r in store.rows("CASE-1"))


def test_engine_refuses_updates_through_sqlalchemy_too(store: AuditStore) -> None:
    from sqlalchemy import text
    store.append(store.keys.sign(event(1)), partition=0, source="a[0]@1")
    with pytest.raises(DBAPIError), store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'OTHER'"))


def test_the_default_sqlite_store_makes_its_directory(tmp_path: Path, keys: AuditKeys) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'var' / 'auditstore' / 'audit.db'}")
    create_schema(engine)
    store = AuditStore(engine, keys)
    assert store.append(keys.sign(event(1)), partition=0, source="a[0]@1") is Stored.APPENDED
    assert (tmp_path / "var" / "auditstore" / "audit.db").is_file()
