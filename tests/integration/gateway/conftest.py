"""A gateway on the module's hub, acting for two source systems with their own principals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mash_common.access import Kind
from mash_hub.demo.access import SecuredHub
from mash_hub.services.gateway.app import create_app
from mash_hub.services.gateway.auth import hash_key, new_key
from mash_hub.services.gateway.metrics import GatewayMetrics
from mash_hub.services.gateway.settings import GatewaySettings, load_sources
from tests.support.web import serving

SOURCES = ("school-portal", "police-niche")


@dataclass
class RunningGateway:
    url: str
    keys: dict[str, str]
    hub: SecuredHub
    datadir: Path
    metrics: GatewayMetrics


def write_sources(path: Path, hub: SecuredHub, keys: dict[str, str],
                  principal_of: dict[str, str] | None = None) -> Path:
    lines = ["sources:"]
    for source, key in keys.items():
        acting_as = (principal_of or {}).get(source, source)
        lines += [f"  {source}:", f"    api_key_sha256: {hash_key(key)}",
                  f"    client_config: {hub.client_config(Kind.SOURCE, acting_as)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


GatewayFactory = Callable[..., AbstractContextManager[RunningGateway]]


@pytest.fixture(scope="module")
def gateway_factory(module_hub: SecuredHub, tmp_path_factory: pytest.TempPathFactory) -> GatewayFactory:
    from contextlib import contextmanager

    keys = {s: new_key() for s in SOURCES}

    @contextmanager
    def start(datadir: Path | None = None, principal_of: dict[str, str] | None = None
              ) -> Iterator[RunningGateway]:
        datadir = datadir or tmp_path_factory.mktemp("gateway")
        sources_file = write_sources(datadir / "sources.yaml", module_hub, keys, principal_of)
        settings = GatewaySettings(kafka=module_hub.admin.with_prefix(module_hub.admin.topic_prefix),
                                   sources_file=sources_file, datadir=datadir, delivery_timeout_s=5)
        sources = load_sources(sources_file, set(module_hub.hub.source_systems))
        metrics = GatewayMetrics(CollectorRegistry())
        with serving(create_app(settings, sources=sources, metrics=metrics)) as url:
            yield RunningGateway(url, keys, module_hub, datadir, metrics)

    return start


@pytest.fixture(scope="module")
def gateway(gateway_factory: GatewayFactory) -> Iterator[RunningGateway]:
    with gateway_factory() as running:
        yield running
