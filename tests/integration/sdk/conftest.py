"""Fixtures for adapter integration tests: adapters run in-process threads on a real broker."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mash_hub.demo.access import SecuredHub
from mash_sdk import Adapter, AdapterSettings, Handler

StartAdapter = Callable[..., Adapter]


@pytest.fixture
def start_adapter(secured_hub: SecuredHub) -> Iterator[StartAdapter]:
    """Start an Adapter in a thread, as the agency's own principal, and wait until it has its
    partitions; stopped at teardown."""
    started: list[Adapter] = []

    def start(agency: str, handler: Handler, **overrides: object) -> Adapter:
        settings = AdapterSettings(agency=agency, kafka=secured_hub.agency(agency), **overrides)  # type: ignore[arg-type]
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


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _unavailable(reason: str) -> None:
    # In CI the SQL adapter must be proven on PostgreSQL: no PostgreSQL is a failure there.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL unavailable in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free 127.0.0.1 port, its socket in its own dir."""
    bindir = _postgres_bindir()
    if bindir is None:
        _unavailable("no pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="mash-pg-"))  # /tmp: traversable by the postgres user
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "postgres", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"),
                        "-w", "-t", "60", "-o",
                        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"{exc}\n{getattr(exc, 'stderr', b'')!r}\n{log[-2000:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
