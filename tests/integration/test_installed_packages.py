"""The wheels install and run outside the checkout, each in a fresh virtual environment.

- mash-sdk alone (from packaging/requirements-sdk.lock): faust is not installed, every
  module of mash_sdk and mash_common imports, and the installed contract kit passes on the
  installed simulated agencies on the real broker.
- mash-hub with mash-sdk (from packaging/requirements.lock): no top-level `services` or
  `bench`, the packaged default config is used, and the installed `mash-intake` worker
  reaches /readyz on the real broker.

Third-party packages come from the lock files (hashes checked) through pip's cache; the
two wheels are installed without dependencies, then `pip check` proves the lock satisfies
their metadata. Progress and timings are printed as the test goes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mash_common.access import Kind
from mash_hub.demo.access import SecuredHub
from tests.integration.test_health_probes import free_port, wait_ready
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
Say = Callable[[str], None]


@pytest.fixture(scope="module")
def say(pytestconfig: pytest.Config) -> Iterator[Say]:
    """Progress lines on the terminal even while pytest captures output."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()

    def line(text: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(f"\n  [{time.monotonic() - started:6.1f} s] {text}", flush=True)
        else:
            print(text, flush=True)

    yield line


def outside_env(**extra: str) -> dict[str, str]:
    """The environment of a process that knows nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run(args: list[str], cwd: Path, *, timeout: float = 900, **env: str) -> str:
    done = subprocess.run(args, cwd=cwd, env=outside_env(**env), capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def bin(self, script: str) -> str:
        return str(self.path / "bin" / script)

    def probe(self, code: str, cwd: Path) -> dict[str, Any]:
        return dict(json.loads(run([self.python, "-c", code], cwd).strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, say: Say) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    say("building the mash-sdk and mash-hub wheels")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT / "packaging" / "mash-sdk"), str(ROOT)], ROOT)
    found = {p.name.split("-")[0]: p for p in out.glob("*.whl")}
    assert set(found) == {"mash_sdk", "mash_hub"}, found
    say(f"built {', '.join(sorted(p.name for p in found.values()))}")
    return found


def make_venv(where: Path, lock: Path, wheels: list[Path], say: Say) -> Venv:
    started = time.monotonic()
    say(f"creating {where.name} and installing {lock.name} (hashes checked)")
    run([sys.executable, "-m", "venv", str(where)], where.parent)
    venv = Venv(where)
    run([venv.python, "-m", "pip", "install", "-q", "--require-hashes", "-r", str(lock)],
        where.parent)
    run([venv.python, "-m", "pip", "install", "-q", "--no-deps", *map(str, wheels)], where.parent)
    run([venv.python, "-m", "pip", "check"], where.parent)
    say(f"{where.name} ready in {time.monotonic() - started:.0f} s")
    return venv


IMPORT_ALL = """
import importlib, importlib.util, json, pkgutil, sys
import mash_common, mash_sdk
names = []
for package in (mash_sdk, mash_common):
    names.append(package.__name__)
    names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "files": [mash_sdk.__file__, mash_common.__file__],
    "modules": names,
    "faust": importlib.util.find_spec("faust") is not None,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("faust", "mode", "mash_hub")),
}))
"""


def test_sdk_alone(wheels: dict[str, Path], secured_hub: SecuredHub,
                   tmp_path_factory: pytest.TempPathFactory, say: Say) -> None:
    base = tmp_path_factory.mktemp("sdk-alone")
    assert ROOT not in base.parents
    venv = make_venv(base / "venv", ROOT / "packaging" / "requirements-sdk.lock",
                     [wheels["mash_sdk"]], say)

    found = venv.probe(IMPORT_ALL, base)
    assert found["faust"] is False and found["loaded"] == []
    assert all(str(f).startswith(str(venv.path)) for f in found["files"])
    modules = set(found["modules"])
    assert {"mash_sdk.reference.sql", "mash_sdk.reference.http", "mash_common.serde"} <= modules
    assert "mash_common.worker" not in modules  # the faust runtime is mash-hub's
    say(f"imported {len(modules)} modules of mash_sdk and mash_common; faust absent")

    hub = secured_hub.admin
    agency = sorted(secured_hub.hub.agencies)[0]
    agencies = ServiceProcess(
        "simulated-agencies",
        ["--agencies", agency, "--profile", "instant", "--clients-dir",
         str(secured_hub.clients_dir), "--prefix", hub.topic_prefix, "--log-level", "INFO"],
        outside_env(), base, program=venv.bin("mash-simulated-agencies"), cwd=base)
    with agencies.running(ready=rf"adapter {agency} assigned [1-9]", timeout_s=120):
        say(f"installed mash-simulated-agencies answering as {agency}; running mash-contract-kit")
        started = time.monotonic()
        out = run([venv.bin("mash-contract-kit"), "--agency", agency,
                   "--client-config", str(secured_hub.client_config(Kind.TOOL, "contract-kit")),
                   "--prefix", hub.topic_prefix, "--category", "any_category",
                   "--timeout", "30", "--backlog", "100"], base, timeout=600)
        checks = [line.split()[1] for line in out.splitlines() if line.startswith("  PASS")]
        say(f"contract kit in {time.monotonic() - started:.0f} s, passed: {', '.join(checks)}")
    assert "CONTRACT MET" in out and "FAIL" not in out, out
    # Every check but 'found' (it needs --known-nhs), and the partitioning check.
    assert {"answers", "not-known", "declines", "malformed", "red-first", "partitioning"} <= set(checks)


def test_hub_service_starts_from_the_installed_package(
        wheels: dict[str, Path], secured_hub: SecuredHub,
        tmp_path_factory: pytest.TempPathFactory, say: Say) -> None:
    base = tmp_path_factory.mktemp("hub")
    venv = make_venv(base / "venv", ROOT / "packaging" / "requirements.lock",
                     [wheels["mash_sdk"], wheels["mash_hub"]], say)

    found = venv.probe("""
import importlib.util, json
import mash_hub.services.intake.app as app
from mash_common.hubconfig import default_config_dir
print(json.dumps({"top": [n for n in ("services", "bench", "mash_demo")
                          if importlib.util.find_spec(n) is not None],
                  "app": app.__file__, "config": str(default_config_dir())}))
""", base)
    assert found["top"] == []
    assert str(found["app"]).startswith(str(venv.path))
    assert str(found["config"]).startswith(str(venv.path))  # the packaged default config
    say(f"mash-hub installed; default config from {found['config']}")

    # The hub's own config directory, by option and by variable: a roster with one more agency
    # gives that agency topics (mash-provision --explain changes nothing).
    own = base / "own-config"
    own.mkdir()
    hub_yaml = (ROOT / "config" / "hub.yaml").read_text(encoding="utf-8")
    (own / "hub.yaml").write_text(hub_yaml.replace(
        "agencies:\n", 'agencies:\n  lado: {name: "Designated officer", kind: SOCIAL_CARE}\n', 1),
        encoding="utf-8")
    admin = secured_hub.admin
    assert admin.client_config is not None
    cluster = ["--client-config", str(admin.client_config), "--prefix", admin.topic_prefix]
    by_option = run([venv.bin("mash-provision"), "--explain", "--config-dir", str(own),
                     *cluster], base)
    by_variable = run([venv.bin("mash-provision"), "--explain", *cluster], base,
                      MASH_CONFIG_DIR=str(own))
    default = run([venv.bin("mash-provision"), "--explain", *cluster], base)
    lado = f"would create {admin.topic_prefix}mash.requests.lado.red"
    assert lado in by_option and lado in by_variable, by_option
    assert "mash.requests.lado.red" not in default and "0 topics would be created" in default
    say("--config-dir and MASH_CONFIG_DIR point the installed commands at the hub's own config")

    port = free_port()
    worker = ServiceProcess(
        "installed-intake", ["worker", "-l", "info"],
        outside_env(**secured_hub.env(Kind.SERVICE, "intake"),
                    MASH_INTAKE_DATADIR=str(base / "intake-data"),
                    MASH_INTAKE_METRICS_PORT=str(port)),
        base, program=venv.bin("mash-intake"), cwd=base)
    started = time.monotonic()
    with worker.running(timeout_s=180):
        ready = wait_ready(f"http://127.0.0.1:{port}", timeout_s=120)
        say(f"installed mash-intake ready in {time.monotonic() - started:.0f} s: "
            f"{ready['detail']}")
    assert ready["detail"]["partitions_assigned"] > 0
    assert ready["detail"]["tables_recovered"] is True
