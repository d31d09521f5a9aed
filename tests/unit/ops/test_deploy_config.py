"""deploy/prometheus and deploy/grafana: valid files, the expected structure, and every metric
they read defined in the metrics contract (docs/operations.md). promtool checks them too when
it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from mash_ops.lag import GroupLag, LagSnapshot, PartitionLag
from mash_ops.lag_exporter import LagCollector

ROOT = Path(__file__).resolve().parents[3]
PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
CONTRACT = (ROOT / "docs" / "operations.md").read_text()
METRIC = re.compile(r"\bmash_[a-z0-9_]+")
SUFFIXES = ("_bucket", "_count", "_sum")

EXPECTED_ALERTS = {
    "MashRedCaseNearDeadline", "MashCaseOverdue", "MashAgencyNotResponding",
    "MashAgencyMissingFromCases", "MashConsumerStalled", "MashRedRequestsWaiting",
    "MashDeadLettersGrowing", "MashTargetDown", "MashKafkaUnreachable",
    "MashAuditChainBroken", "MashAuditEventsRejected",
}


def in_contract(name: str) -> bool:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return f"`{name}`" in CONTRACT


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(("name", "host"), [("prometheus.yml", None),
                                            ("prometheus.local.yml", "127.0.0.1")])
def test_scrape_configs(name: str, host: str | None) -> None:
    config = load(PROM / name)
    jobs = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]]
            for j in config["scrape_configs"]}
    ports = {job: sorted(int(t.rsplit(":", 1)[1]) for t in targets) for job, targets in jobs.items()}
    # Locally one port per adapter process; compose runs the six simulated agencies in one.
    adapters = list(range(9110, 9116)) if host else [9110]
    assert ports == {
        "mash-intake": [9101], "mash-enrichment": [9102], "mash-routing": [9103], "mash-auditstore": [9104],
        "mash-lag-exporter": [9108], "mash-adapters": adapters,
    }
    hosts = {t.rsplit(":", 1)[0] for targets in jobs.values() for t in targets}
    if host:
        assert hosts == {host}
    else:  # every target is a compose service
        compose = (ROOT / "deploy" / "compose" / "docker-compose.yml").read_text()
        for service in hosts:
            assert f"\n  {service}:" in compose, service
    assert config["rule_files"]


def test_alert_rules_structure() -> None:
    rules = load(PROM / "alerts.yml")
    seen = set()
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            seen.add(rule["alert"])
            assert rule["expr"].strip()
            assert rule["labels"]["severity"] in ("critical", "warning")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            for name in METRIC.findall(rule["expr"]):
                assert in_contract(name), f"{rule['alert']} reads {name}, not in the contract"
    assert seen == EXPECTED_ALERTS


def test_dashboards() -> None:
    datasource = load(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    ds_uid = datasource["datasources"][0]["uid"]
    provider = load(GRAFANA / "provisioning" / "dashboards" / "mash.yml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    uids = set()
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        uids.add(dash["uid"])
        assert dash["title"] and dash["panels"]
        assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] == ds_uid
            assert panel["targets"]
            for target in panel["targets"]:
                for name in METRIC.findall(target["expr"]):
                    assert in_contract(name), f"{path.name} '{panel['title']}' reads {name}"
    assert uids == {"mash-cases", "mash-agencies", "mash-queues"}


def test_lag_exporter_metrics_are_in_the_contract() -> None:
    registry = CollectorRegistry()
    collector = LagCollector()
    registry.register(collector)
    part = PartitionLag("g", "mash.requests.police.red", 0, 1, 2, 1, 3.0, "police", "red")
    collector.update(LagSnapshot(0, (GroupLag("g", "STABLE", (part,)),)))
    names = {m.name for m in registry.collect()}
    assert names >= {"mash_consumer_lag_messages", "mash_consumer_lag_seconds",
                     "mash_consumer_stalled"}
    for name in names:
        assert in_contract(name), name
    assert b'agency="police"' in generate_latest(registry)


promtool = shutil.which("promtool")


# In CI (.ci/run installs Debian's prometheus) a missing promtool fails; elsewhere it skips.
@pytest.mark.skipif(promtool is None and os.environ.get("CI") != "true",
                    reason="promtool not installed (Debian: prometheus)")
@pytest.mark.parametrize("args", [
    ["check", "rules", "alerts.yml"],
    ["check", "config", "--syntax-only", "prometheus.yml"],
    ["check", "config", "prometheus.local.yml"],
    ["test", "rules", "rules_test.yml"],
])
def test_promtool(args: list[str]) -> None:
    assert promtool is not None
    result = subprocess.run([promtool, *args], cwd=PROM, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
