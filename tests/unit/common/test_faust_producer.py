"""The services' faust producers are idempotent (docs/deployment.md, production profile)."""

from __future__ import annotations

from pathlib import Path

from mash_common.streams import IdempotentProducer, build_app
from tests.support.kafka import offline_settings


def test_a_service_app_produces_with_idempotence_and_acks_all(tmp_path: Path) -> None:
    app = build_app("probe", offline_settings(), datadir=tmp_path)
    producer = app.producer
    assert isinstance(producer, IdempotentProducer)
    extra = producer._settings_extra()
    assert extra["enable_idempotence"] is True
    assert extra["acks"] == "all"
