"""The one place logging is configured. Call configure_logging() from a main(), never on import."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, stream=sys.stderr, force=True)
    # aiokafka and faust are chatty at INFO about every rebalance step.
    for noisy in ("aiokafka", "faust.transport", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
