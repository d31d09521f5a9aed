"""Every faust service answers /healthz and /readyz beside /metrics on its metrics port:
a worker on a real broker becomes ready once it has partitions and its tables recovered."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mash_hub.demo.access import SecuredHub
from tests.integration.enrichment.conftest import enrichment_worker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (ConnectionError, urllib.error.URLError):
        return 0, b""


def wait_ready(base: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll /readyz (the condition itself, each time) until it answers 200."""
    deadline = time.monotonic() + timeout_s
    seen: list[tuple[int, bytes]] = []
    while time.monotonic() < deadline:
        status, body = get(f"{base}/readyz")
        if status == 200:
            return dict(json.loads(body))
        seen.append((status, body))
        time.sleep(0.5)
    raise AssertionError(f"/readyz never answered 200; last answers: {seen[-3:]}")


def test_enrichment_worker_is_alive_then_ready(secured_hub: SecuredHub, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = enrichment_worker(secured_hub, tmp_path, MASH_ENRICHMENT_METRICS_PORT=str(port))
    with worker.running():
        ready = wait_ready(base)
        assert ready["status"] == "ready"
        assert ready["detail"]["partitions_assigned"] > 0
        assert ready["detail"]["tables_recovered"] is True
        assert ready["detail"]["rebalancing"] is False

        status, body = get(f"{base}/healthz")
        assert status == 200, body
        assert json.loads(body) == {"status": "ok", "detail": {"crashed": False}}

        status, body = get(f"{base}/metrics")
        assert status == 200
        assert b"mash_deadletters_total" in body

        assert get(f"{base}/nothing-here")[0] == 404
    # Once the worker has stopped, nothing answers on its port.
    assert get(f"{base}/healthz")[0] == 0
