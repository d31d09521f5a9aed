"""A worker thread with start() and stop(), for the demo's and benchmarks' helpers."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """Runs `_run` in a daemon thread; `_run` returns once `stopping` is set."""

    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        raise NotImplementedError
