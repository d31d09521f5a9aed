"""`run_worker`: the one way every stream-processing service's `__main__` starts.

Settings are built and logging configured by the caller (they are the service's own); this
validates the configuration by building the app (a ConfigError names the file and line and
exits 2 before anything connects), starts /metrics, turns faust's own web server off unless
the service asked for it, creates the service's internal topics before its worker joins the
group, and runs the worker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import faust
from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.metrics import serve_metrics
from mash_common.settings import KafkaSettings
from mash_common.streams import ensure_internal_topics

EXIT_CONFIG = 2


def worker_argv(argv: list[str], web_port: int | None, log_level: str) -> list[str]:
    """Faust's `worker` command turns its web server on (0.0.0.0:6066) whatever the app's
    settings say, and logs at WARN (hiding "[^Worker]: Ready"); the service's settings decide
    both unless the command line does."""
    args = list(argv)
    if "worker" not in args:
        return args
    at = args.index("worker") + 1
    if not any(a.startswith(("--with-web", "--without-web", "--web-port")) for a in args):
        extra = ["--without-web"] if web_port is None else ["--web-port", str(web_port)]
        args[at:at] = extra
    if not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in args):
        args += ["--loglevel", log_level.lower()]
    return args


def run_worker(service: str, build: Callable[[CollectorRegistry], faust.App], *,
               kafka: KafkaSettings, metrics_port: int, log_level: str,
               web_port: int | None = None) -> int:
    """Build, check and run one service's faust worker; returns only on a config error."""
    registry = CollectorRegistry()
    try:
        app = build(registry)
    except ConfigError as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    serve_metrics(registry, metrics_port)
    sys.argv = worker_argv(sys.argv, web_port, log_level)  # faust's CLI (click) reads sys.argv
    ensure_internal_topics(app, kafka)
    app.main()
    return 0
