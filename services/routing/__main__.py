"""`mash-routing worker`: build settings, configure logging, run the worker."""

from __future__ import annotations

import sys

from mash_common.cli import take_config_dir
from mash_common.logs import configure_logging
from mash_common.worker import run_worker
from mash_hub.services.routing.app import create_app
from mash_hub.services.routing.metrics import RoutingMetrics
from mash_hub.services.routing.settings import RoutingSettings


def main() -> int:
    sys.argv = take_config_dir(sys.argv)  # --config-dir DIR, before settings read it
    settings = RoutingSettings()
    configure_logging(settings.log_level)
    return run_worker("routing", lambda registry: create_app(settings, metrics=RoutingMetrics(registry)),
                      kafka=settings.kafka, metrics_port=settings.metrics_port,
                      log_level=settings.log_level, web_port=settings.web_port)


if __name__ == "__main__":
    sys.exit(main())
