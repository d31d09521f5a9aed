"""`python -m services.intake worker`: build settings, configure logging, run the app."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.logs import configure_logging
from mash_common.metrics import serve_metrics
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> int:
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    registry = CollectorRegistry()
    try:
        app = create_app(settings, registry)
    except ConfigError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    serve_metrics(registry, settings.metrics_port)
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
