"""The audit store worker's verification raises its metrics on a break (real SQLite, no broker)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from mash_common.audittrail import AuditKeySettings, new_key_file
from mash_common.contracts import AuditAction, AuditEvent, utcnow
from mash_common.errors import ConfigError
from mash_hub.services.auditstore.app import AuditStoreWorker
from mash_hub.services.auditstore.metrics import AuditStoreMetrics
from mash_hub.services.auditstore.settings import AuditStoreSettings


def _worker(tmp_path: Path, registry: CollectorRegistry, keys: bool = True) -> AuditStoreWorker:
    if keys:
        new_key_file(tmp_path / "keys.json", "k1")
    settings = AuditStoreSettings(
        database_url=SecretStr(f"sqlite:///{tmp_path / 'audit.db'}"),
        keys=AuditKeySettings(keys_file=tmp_path / "keys.json" if keys else None))
    return AuditStoreWorker(settings, AuditStoreMetrics(registry))


def test_no_keys_no_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="audit keys"):
        _worker(tmp_path, CollectorRegistry(), keys=False)


@pytest.mark.parametrize("tamper", [
    "DELETE FROM audit_events WHERE seq = 5",  # the end: only the remembered head shows it
    "DELETE FROM audit_events WHERE seq = 2",
    "UPDATE audit_events SET body = replace(body, 'police', 'health') WHERE seq = 3",
])
def test_a_break_is_counted_and_gauged(tmp_path: Path, tamper: str) -> None:
    registry = CollectorRegistry()
    worker = _worker(tmp_path, registry)
    keys = worker.store.keys
    for n in range(1, 6):
        event = AuditEvent(event_id=f"e{n}", at=utcnow(), actor="mash-hub/routing",
                           action=AuditAction.NOTIFICATION_SENT, case_id="C-9", agency="police")
        _, head = worker.store.append_with_head(keys.sign(event), partition=0, source=f"a@{n}")
        assert head is not None
        worker.heads[head[0]] = (head[1], head[2])
    assert worker.verify_all() == 0
    assert registry.get_sample_value("mash_auditstore_broken_chains") == 0
    db = sqlite3.connect(tmp_path / "audit.db")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute(tamper)
    db.commit()
    db.close()
    assert worker.verify_all() == 1
    assert registry.get_sample_value("mash_auditstore_broken_chains") == 1
    assert registry.get_sample_value("mash_auditstore_chain_breaks_total") == 1
    worker.verify_all()  # the same break is counted once
    assert registry.get_sample_value("mash_auditstore_chain_breaks_total") == 1
