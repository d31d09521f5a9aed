"""Fixtures for adapter integration tests: adapters run in-process threads on a real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from mash_common.settings import KafkaSettings
from mash_sdk import Adapter, AdapterSettings, Handler

StartAdapter = Callable[..., Adapter]


@pytest.fixture
def start_adapter(provisioned: KafkaSettings) -> Iterator[StartAdapter]:
    """Start an Adapter in a thread, wait until it has its partitions; stopped at teardown."""
    started: list[Adapter] = []

    def start(agency: str, handler: Handler, **overrides: object) -> Adapter:
        settings = AdapterSettings(agency=agency, kafka=provisioned, **overrides)  # type: ignore[arg-type]
        adapter = Adapter(settings, handler, registry=CollectorRegistry())
        started.append(adapter)
        adapter.start_in_thread()
        assert adapter.ready.wait(30), "adapter got no partitions within 30s"
        return adapter

    yield start
    for adapter in started:
        adapter.stop()
    for adapter in started:
        adapter.stopped.wait(30)
