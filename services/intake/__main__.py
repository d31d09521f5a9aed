"""`mash-intake worker`: build settings, configure logging, run the worker."""

from __future__ import annotations

import sys

from mash_common.cli import take_config_dir
from mash_common.logs import configure_logging
from mash_common.worker import run_worker
from mash_hub.services.intake.app import create_app
from mash_hub.services.intake.settings import IntakeSettings


def main() -> int:
    sys.argv = take_config_dir(sys.argv)  # --config-dir DIR, before settings read it
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    return run_worker("intake", lambda registry: create_app(settings, registry),
                      kafka=settings.kafka, metrics_port=settings.metrics_port,
                      log_level=settings.log_level)


if __name__ == "__main__":
    sys.exit(main())
