"""deploy/k8s's Strimzi resources parse into Strimzi's own API model (io.strimzi:api).

Builds deploy/k8s-validate with Maven (Java and Maven are required, as for the Java client:
missing, the test fails) and runs it over every manifest: a field the model does not know,
an unknown enum value or polymorphic type fails. Offline once ~/.m2 holds the artifacts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.support.processes import ROOT

VALIDATOR = ROOT / "deploy" / "k8s-validate"
MAIN = "org.mashhub.deploy.ValidateStrimzi"


@cache
def _classpath() -> str:
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or mvn is None:
        pytest.fail("the Strimzi validator needs java (17) and mvn on PATH", pytrace=False)
    offline = ["-o"] if os.environ.get("MASH_MAVEN_OFFLINE") == "1" else []
    done = subprocess.run([mvn, "-B", "-q", *offline, "-f", str(VALIDATOR / "pom.xml"), "package"],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"mvn package failed:\n{(done.stdout + done.stderr)[-4000:]}"
    target = VALIDATOR / "target"
    return f"{target / 'classes'}{os.pathsep}{target / 'lib' / '*'}"


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", _classpath(), MAIN, *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_strimzi_resource_parses_into_strimzis_model() -> None:
    files = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
    done = _validate(*files)
    assert done.returncode == 0, done.stdout[-4000:]
    checked = done.stdout.splitlines()
    kinds = {line.split()[1].split("/")[0] for line in checked if line.startswith("ok ")}
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
    assert "0 problems" in checked[-1]


def test_an_unknown_field_or_type_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: t}\n"
        "spec: {partitons: 6, replicas: 3}\n---\n"
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata: {name: u}\n"
        "spec: {authentication: {type: scram-sha-256}}\n---\n"
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaCluster\nmetadata: {name: k}\n")
    done = _validate(bad)
    assert done.returncode == 1
    assert "unknown field KafkaTopic.spec.partitons" in done.stdout
    assert "scram-sha-256" in done.stdout
    assert "KafkaCluster/k: no such Strimzi kind" in done.stdout
