"""The production profile: replication 3, min.insync.replicas 2, acks=all, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mash_common.errors import ConfigError
from mash_common.settings import KafkaSettings, Profile, SecurityProtocol

PLAIN = SecurityProtocol.PLAINTEXT


def test_the_dev_profile_is_the_default_and_leaves_topic_configs_alone() -> None:
    kafka = KafkaSettings(security_protocol=PLAIN)
    assert (kafka.profile, kafka.replication_factor, kafka.min_insync_replicas) == (Profile.DEV, 1, 1)
    assert kafka.topic_config({"retention.ms": "1"}) == {"retention.ms": "1"}


def test_the_production_profile_replicates_three_times_and_needs_two_in_sync() -> None:
    kafka = KafkaSettings(profile="production", security_protocol=PLAIN)
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (3, 2)
    assert kafka.topic_config({"cleanup.policy": "compact"}) == {
        "cleanup.policy": "compact", "min.insync.replicas": "2"}


def test_the_environment_chooses_the_profile_and_explicit_values_win(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASH_KAFKA_PROFILE", "production")
    monkeypatch.setenv("MASH_KAFKA_REPLICATION_FACTOR", "5")
    kafka = KafkaSettings(security_protocol=PLAIN)
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (5, 2)


def test_min_insync_replicas_cannot_exceed_the_replication_factor() -> None:
    with pytest.raises(ValidationError, match="min_insync_replicas"):
        KafkaSettings(replication_factor=1, min_insync_replicas=2, security_protocol=PLAIN)
    with pytest.raises(ValidationError):
        KafkaSettings(profile="sturdy", security_protocol=PLAIN)
    with pytest.raises(ConfigError):
        KafkaSettings(security_protocol=PLAIN).with_replication(2, 3)


def test_every_principal_of_a_hub_keeps_the_admins_profile(tmp_path: Path) -> None:
    config = tmp_path / "who.properties"
    config.write_text("bootstrap.servers=127.0.0.1:1\nsecurity.protocol=PLAINTEXT\n")
    admin = KafkaSettings(profile="production", security_protocol=PLAIN)
    assert admin.as_principal(config).min_insync_replicas == 2


def test_producers_wait_for_every_in_sync_replica_and_never_duplicate_a_retry(tmp_path: Path) -> None:
    config = KafkaSettings(security_protocol=PLAIN).producer_config()
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True


def test_provisioning_refuses_fewer_replicas_than_it_needs_in_sync(
        capsys: pytest.CaptureFixture[str]) -> None:
    from mash_common import provision

    args = ["--bootstrap", "127.0.0.1:1", "--explain"]
    assert provision.main(["--profile", "production", *args]) == 0
    assert provision.main(["--replication-factor", "1", "--min-insync-replicas", "2", *args]) == 1
    assert "min.insync.replicas 2" in capsys.readouterr().err
