"""deploy/local_kafka.py: start, produce/consume, stop, twice, reusing cached jars and storage.

Runs a second broker in its own home on a free port, so it never disturbs the session broker.
The jar cache is shared with the session broker's home (copied as links), which is exactly
the "second start reuses cached jars" path.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from mash_common.settings import KafkaSettings
from tests.conftest import ROOT, _load_local_kafka

pytestmark = pytest.mark.integration


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair")


def _roundtrip(admin_config: Path, topic: str, create: bool) -> list[bytes]:
    settings = KafkaSettings(client_config=admin_config)
    if create:
        admin = AdminClient(settings.confluent_config())
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        producer = Producer(settings.producer_config())
        producer.produce(topic, value=b"kept across restarts")
        assert producer.flush(30) == 0
    consumer = Consumer(settings.confluent_config(**{
        "group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    try:
        for _ in range(150):
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                return [msg.value()]
    finally:
        consumer.close()
    raise AssertionError(f"nothing read from {topic}")


def test_start_stop_twice_reuses_jars_and_storage(
    kafka_bootstrap: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    local_kafka = _load_local_kafka()
    source_jars = ROOT / "var" / "kafka" / "jars"
    assert (source_jars / ".kafka-version").exists(), "the session broker caches the jars first"
    home = tmp_path / "kafka-home"
    (home / "jars").mkdir(parents=True)
    for jar in source_jars.iterdir():
        (home / "jars" / jar.name).symlink_to(jar)
    port = _free_port_pair()
    messages: list[str] = []
    try:
        bootstrap = local_kafka.start(port=port, home=home, progress=messages.append)
        assert bootstrap == f"127.0.0.1:{port}"
        meta = home / "data" / "meta.properties"
        first_meta = meta.read_text()
        admin_config = local_kafka.admin_client_config(home)
        # The super user's password and the broker's key are for their owner only.
        for private in (admin_config, home / "tls" / "broker-keystore.pem",
                        home / "tls" / "ca.key", home / "config" / "server.properties"):
            assert private.stat().st_mode & 0o077 == 0, private
        first_secrets = admin_config.read_text(), (home / "tls" / "ca.pem").read_text()
        assert _roundtrip(admin_config, "lk-test", create=True) == [b"kept across restarts"]
        assert local_kafka.stop(home) is True
        assert not local_kafka.is_running(home)

        first_start = capfd.readouterr().err
        assert "Formatting KRaft storage" in first_start and "Maven" not in first_start

        messages.clear()
        assert local_kafka.start(port=port, home=home, progress=messages.append) == bootstrap
        second_start = capfd.readouterr().err + "\n".join(messages)
        assert "Maven" not in second_start and "Formatting" not in second_start, second_start
        assert meta.read_text() == first_meta, "storage was formatted again"
        assert (admin_config.read_text(), (home / "tls" / "ca.pem").read_text()) == first_secrets
        assert _roundtrip(admin_config, "lk-test", create=False) == [b"kept across restarts"]
        assert local_kafka.start(port=port, home=home, progress=messages.append) == bootstrap
    finally:
        local_kafka.stop(home)
    assert not local_kafka.is_running(home)
