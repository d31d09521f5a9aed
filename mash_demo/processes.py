"""Runs a real service process (a Faust worker, an adapter) for the demo, benchmarks and tests.

Readiness is a line the process logs, waited for with a deadline; output goes to a file
that is shown when something fails.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAUST_READY = r"\[\^Worker\]: Ready"

logger = logging.getLogger(__name__)


class ServiceProcess:
    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        log_dir: Path,
        program: str = sys.executable,
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.program = program  # the Python running us, unless told otherwise (java)
        self.cwd = cwd
        self.args = args
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self._log_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [self.program, *self.args], cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout_s: float = 90.0) -> None:
        """Wait until the process (since its last start) logs a line matching pattern."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                if regex.search(f.read().decode(errors="replace")):
                    return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.1)  # polling a log file: the condition is checked each time
        raise AssertionError(f"{self.name} not ready after {timeout_s}s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    @contextmanager
    def running(self, ready: str = FAUST_READY, timeout_s: float = 90.0) -> Iterator[ServiceProcess]:
        """Start, wait until the process logs `ready`, and stop it when the block ends; if
        anything in the block fails, the process's last log lines are logged with it."""
        self.start()
        try:
            self.wait_for_log(ready, timeout_s)
            yield self
        except BaseException:
            logger.error("%s failed; its last log lines:\n%s", self.name, self.tail())
            raise
        finally:
            self.stop()

    def kill(self) -> None:
        """SIGKILL: the crash case, nothing gets to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
