"""Session-wide fixtures: a real Kafka broker, and a fresh namespace of topics per test.

Where the broker comes from, in order: KAFKA_BOOTSTRAP_SERVERS if set; else a
testcontainers Kafka when a Docker engine answers; else the local KRaft broker of
deploy/local_kafka.py, started if it is not running. If none can be had the tests error:
a Kafka test never skips.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.provision import provision
from mash_common.settings import KafkaSettings

ROOT = Path(__file__).resolve().parent.parent


def _load_local_kafka() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_kafka", ROOT / "deploy" / "local_kafka.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:  # any failure means no usable engine; we fall through to the local broker
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    from_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if from_env:
        yield from_env
        return
    if os.environ.get("MASH_TEST_USE_DOCKER", "1") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    local_kafka = _load_local_kafka()
    was_running = local_kafka.is_running()
    bootstrap: str = local_kafka.start()
    # Let the next test session reuse the broker if it was there before us.
    yield bootstrap
    if not was_running and os.environ.get("MASH_TEST_KEEP_KAFKA") != "1":
        local_kafka.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so every test has its own topics and consumer groups."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, topic_prefix: str) -> Iterator[KafkaSettings]:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    yield settings
    _delete_topics_with_prefix(settings)


def _delete_topics_with_prefix(settings: KafkaSettings) -> None:
    """Drop the test's topics (its own and its workers' internal ones) so a long-lived broker
    does not accumulate thousands of partitions across runs."""
    admin = AdminClient(settings.confluent_config())
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result(30)
    except KafkaException as exc:  # cleanup only: the test's verdict stands either way
        warnings.warn(f"could not delete topics of {settings.topic_prefix}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def hub_config() -> HubConfig:
    return load_hub_config()


@pytest.fixture
def provisioned(kafka_settings: KafkaSettings, hub_config: HubConfig) -> KafkaSettings:
    """Every design topic created under this test's prefix."""
    provision(kafka_settings, hub_config)
    return kafka_settings
