"""Builds and runs the Java reference client (clients/java) for tests.

Java and Maven are required, not optional: a test that needs them fails when they are
missing, so CI can never pass by skipping the cross-language checks. Maven resolves from
Maven Central the first time and from ~/.m2 after; MASH_MAVEN_OFFLINE=1 adds -o.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

from tests.support.processes import ROOT

JAVA_PROJECT = ROOT / "clients" / "java"
JAVA_READY = r"ready: assigned \d+ partitions"


@dataclass(frozen=True)
class JavaClient:
    java: str
    classpath: str

    def command(self, *args: str) -> list[str]:
        return [self.java, "-cp", self.classpath, "org.mashhub.client.Main", *args]

    def run(self, *args: str, timeout_s: float = 60.0) -> str:
        done = subprocess.run(self.command(*args), cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        assert done.returncode == 0, f"java {args[0]} failed:\n{done.stderr[-3000:]}"
        return done.stdout


@cache
def _build() -> JavaClient | str:
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or mvn is None:
        return "the Java reference client needs java (17) and mvn on PATH"
    offline = ["-o"] if os.environ.get("MASH_MAVEN_OFFLINE") == "1" else []
    done = subprocess.run(
        [mvn, "-B", "-q", *offline, "-f", str(JAVA_PROJECT / "pom.xml"), "clean", "package"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    if done.returncode != 0:
        return f"mvn package failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}"
    target = JAVA_PROJECT / "target"
    return JavaClient(java, f"{target / 'classes'}{os.pathsep}{target / 'lib' / '*'}")


def java_client() -> JavaClient:
    """The built client (once per test session), or fail the test saying what is missing."""
    built = _build()
    if isinstance(built, str):
        pytest.fail(built, pytrace=False)
    return built
