"""deploy/local_kafka.py --brokers 3: the cluster's node configs, without starting a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _load_local_kafka

SECURITY_KEYS = (
    "inter.broker.listener.name", "controller.listener.names", "listener.security.protocol.map",
    "sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol", "ssl.keystore.type",
    "ssl.truststore.type", "listener.name.controller.ssl.client.auth",
    "ssl.endpoint.identification.algorithm", "authorizer.class.name",
    "allow.everyone.if.no.acl.found", "super.users", "auto.create.topics.enable",
)


def _node_config(tmp_path: Path, node_id: int) -> dict[str, str]:
    lk = _load_local_kafka()
    shared = lk.Layout(tmp_path)
    shared.tls.mkdir(parents=True)
    node = lk.Layout(tmp_path / f"node-{node_id}")
    lk._write_node_config(shared, node, node_id, 19400, 3, "secret-password")
    assert node.config.stat().st_mode & 0o077 == 0, "it holds the super user's password"
    return dict(lk.read_properties(node.config))


def test_each_node_has_its_ports_and_every_voter(tmp_path: Path) -> None:
    config = _node_config(tmp_path, 2)
    assert config["node.id"] == "2"
    assert config["controller.quorum.voters"] == (
        "1@127.0.0.1:19401,2@127.0.0.1:19403,3@127.0.0.1:19405")
    assert config["listeners"] == "SASL_SSL://127.0.0.1:19402,CONTROLLER://127.0.0.1:19403"
    assert "PLAINTEXT" not in config["listener.security.protocol.map"]


def test_nodes_are_secured_exactly_as_the_single_broker(tmp_path: Path) -> None:
    lk = _load_local_kafka()
    single = lk.Layout(tmp_path / "single")
    lk.write_config(single, 19390, 19391, "secret-password")
    single_config = lk.read_properties(single.config)
    node_config = _node_config(tmp_path / "cluster", 1)
    for key in SECURITY_KEYS:
        assert node_config[key] == single_config[key], key


def test_the_production_profile_is_the_clusters(tmp_path: Path) -> None:
    config = _node_config(tmp_path, 1)
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == ("3", "2")
    assert config["offsets.topic.replication.factor"] == "3"
    assert config["transaction.state.log.min.isr"] == "2"
    assert config["unclean.leader.election.enable"] == "false"


def test_a_cluster_has_three_brokers_at_least_and_status_says_when_there_is_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lk = _load_local_kafka()
    with pytest.raises(lk.LocalKafkaError, match="at least 3"):
        lk.cluster_start(2, 19400, tmp_path)
    assert lk.main(["status", "--brokers", "3", "--home", str(tmp_path)]) == lk.EXIT_NOT_RUNNING
    assert "no Kafka cluster" in capsys.readouterr().out
    assert lk.node_ports(19400, 3) == (19404, 19405)
