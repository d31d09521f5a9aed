"""With the broker down, the status screen says what it does not know: open cases, agency
responses and dead letters are unknown, never zero."""

from __future__ import annotations

import json
import socket

import pytest
from rich.console import Console

from mash_common.settings import KafkaSettings, SecurityProtocol
from mash_ops.settings import OpsSettings
from mash_ops.status import collect_status, main, render, to_json


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nowhere() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port()}",
                         security_protocol=SecurityProtocol.PLAINTEXT)


def test_json_says_unknown_not_zero(nowhere: KafkaSettings) -> None:
    report = collect_status(OpsSettings(kafka=nowhere, request_timeout_s=1.0))
    data = to_json(report)
    assert data["broker"]["reachable"] is False
    assert data["cases"] is None and data["agencies"] is None and data["deadletters"] is None
    assert "open_total" not in json.dumps(data)


def test_screen_says_unknown(nowhere: KafkaSettings) -> None:
    report = collect_status(OpsSettings(kafka=nowhere, request_timeout_s=1.0))
    console = Console(record=True, width=140)
    console.print(render(report))
    screen = console.export_text()
    assert "broker unreachable" in screen and "unknown" in screen
    assert "Open cases by RAG" not in screen


def test_the_command_fails_and_names_itself(nowhere: KafkaSettings,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MASH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    monkeypatch.setenv("MASH_OPS_REQUEST_TIMEOUT_S", "1")
    assert main(["--bootstrap", nowhere.bootstrap_servers, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["cases"] is None
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith("usage: mash-status")


def test_provision_explain_without_a_cluster_still_lists_the_plan(
        capsys: pytest.CaptureFixture[str]) -> None:
    from mash_common import provision

    assert provision.main(["--bootstrap", f"127.0.0.1:{closed_port()}", "--explain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(not compared with the cluster:") and "mash.referrals.triaged" in out
