"""Session-wide fixtures: a real, secured Kafka broker, and a fresh hub namespace per test.

Where the broker comes from: MASH_KAFKA_CLIENT_CONFIG, if set, names the administrator's
client config of a cluster to use; else the local secured KRaft broker of
deploy/local_kafka.py, started if it is not running. If none can be had the tests error:
a Kafka test never skips. (An unsecured testcontainers broker is no longer a fallback: the
tests must run with the same authentication and ACLs as production.)

Each test gets its own topic prefix, and its own principals under it (SCRAM users and ACLs
from the access model), so services and adapters in a test connect as themselves and are
refused what their role does not allow. The administrator's settings are for provisioning
and for the test's own observation of what the pipeline produced.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub, delete_prefix

ROOT = Path(__file__).resolve().parent.parent


def _load_local_kafka() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_kafka", ROOT / "deploy" / "local_kafka.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kafka_admin() -> Iterator[KafkaSettings]:
    """The cluster's administrator (super user), no prefix: for provisioning only."""
    external = os.environ.get("MASH_KAFKA_CLIENT_CONFIG")
    if external:
        yield KafkaSettings(client_config=Path(external))
        return
    local_kafka = _load_local_kafka()
    was_running = local_kafka.is_running()
    local_kafka.start()
    # Let the next test session reuse the broker if it was there before us.
    yield KafkaSettings(client_config=local_kafka.admin_client_config())
    if not was_running and os.environ.get("MASH_TEST_KEEP_KAFKA") != "1":
        local_kafka.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_admin: KafkaSettings) -> str:
    return kafka_admin.bootstrap_servers


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so every test has its own topics, groups and principals."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_settings(kafka_admin: KafkaSettings, topic_prefix: str) -> Iterator[KafkaSettings]:
    """The administrator on this test's prefix; the prefix's topics are deleted afterwards."""
    settings = kafka_admin.with_prefix(topic_prefix)
    yield settings
    delete_prefix(settings)


@pytest.fixture(scope="session")
def hub_config() -> HubConfig:
    return load_hub_config()


@pytest.fixture
def secured_hub(kafka_settings: KafkaSettings, hub_config: HubConfig,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredHub]:
    """Every design topic and every principal of the hub, under this test's prefix."""
    hub = SecuredHub.create(kafka_settings, tmp_path_factory.mktemp("clients"), hub_config)
    yield hub
    hub.teardown()


@pytest.fixture
def provisioned(secured_hub: SecuredHub) -> KafkaSettings:
    """The administrator's settings on a provisioned prefix (topics and principals)."""
    return secured_hub.admin


@pytest.fixture(scope="module")
def module_hub(kafka_admin: KafkaSettings, hub_config: HubConfig,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredHub]:
    """One provisioned hub shared by a module's tests (a worker kept running between them)."""
    admin = kafka_admin.with_prefix(f"t{uuid.uuid4().hex[:10]}.")
    hub = SecuredHub.create(admin, tmp_path_factory.mktemp("clients"), hub_config)
    yield hub
    hub.teardown()
