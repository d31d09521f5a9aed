"""The probe server: /metrics, /healthz and /readyz on one port, 200 or 503 with JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from mash_common.health import ProbeServer


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


class Switch:
    def __init__(self) -> None:
        self.alive = True
        self.ready = False
        self.broken = False

    def is_alive(self) -> tuple[bool, Mapping[str, Any]]:
        return self.alive, {"loop": "ok" if self.alive else "blocked"}

    def is_ready(self) -> tuple[bool, Mapping[str, Any]]:
        if self.broken:
            raise RuntimeError("secret value that must not be shown")
        return self.ready, {"partitions_assigned": 3 if self.ready else 0}


@pytest.fixture
def served() -> Iterator[tuple[str, Switch]]:
    registry = CollectorRegistry()
    Counter("mash_test_things_total", "things", registry=registry).inc()
    switch = Switch()
    server = ProbeServer(registry, host="127.0.0.1", port=0, alive=switch.is_alive,
                         ready=switch.is_ready).start()
    try:
        yield f"http://127.0.0.1:{server.port}", switch
    finally:
        server.stop()


def test_metrics_beside_the_probes(served: tuple[str, Switch]) -> None:
    base, _ = served
    status, body = get(f"{base}/metrics")
    assert status == 200 and "mash_test_things_total 1.0" in body
    assert get(f"{base}/other")[0] == 404


def test_ready_follows_its_probe_and_never_outlives_liveness(served: tuple[str, Switch]) -> None:
    base, switch = served
    assert get(f"{base}/healthz") == (200, {"status": "ok", "detail": {"loop": "ok"}})
    assert get(f"{base}/readyz") == (503, {"status": "not ready",
                                           "detail": {"partitions_assigned": 0}})
    switch.ready = True
    assert get(f"{base}/readyz") == (200, {"status": "ready", "detail": {"partitions_assigned": 3}})
    switch.alive = False
    assert get(f"{base}/healthz") == (503, {"status": "not alive", "detail": {"loop": "blocked"}})
    assert get(f"{base}/readyz")[0] == 503


def test_a_broken_probe_is_not_ready_and_shows_only_the_error_type(
        served: tuple[str, Switch]) -> None:
    base, switch = served
    switch.ready, switch.broken = True, True
    assert get(f"{base}/readyz") == (503, {"status": "not ready",
                                           "detail": {"error": "RuntimeError"}})


def test_without_a_readiness_check_ready_means_alive() -> None:
    server = ProbeServer(CollectorRegistry(), host="127.0.0.1", port=0).start()
    try:
        assert get(f"http://127.0.0.1:{server.port}/readyz") == (200, {"status": "ready",
                                                                       "detail": {}})
    finally:
        server.stop()
