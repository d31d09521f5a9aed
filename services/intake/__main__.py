"""`python -m services.intake worker`: build settings, configure logging, run the app."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.logs import configure_logging
from mash_common.metrics import serve_metrics
from mash_common.streams import ensure_internal_topics
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> int:  # returns only on a configuration error
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    registry = CollectorRegistry()
    try:
        app = create_app(settings, registry)
    except ConfigError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    serve_metrics(registry, settings.metrics_port)
    sys.argv = worker_argv(sys.argv)  # faust's CLI (click) reads sys.argv
    ensure_internal_topics(app, settings.kafka)
    app.main()


def worker_argv(argv: list[str]) -> list[str]:
    """Faust's `worker` command turns the web server on (0.0.0.0:6066) whatever the app's
    web_enabled says; intake serves no web pages, and two workers on one host would clash.
    Ask for it explicitly with --with-web."""
    args = list(argv)
    if "worker" in args and not any(a.startswith(("--with-web", "--without-web")) for a in args):
        args.insert(args.index("worker") + 1, "--without-web")
    return args


if __name__ == "__main__":
    sys.exit(main())
