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
    # httpx logs every request's URL at INFO and httpcore its headers at DEBUG: an agency
    # system's URL can carry an NHS number or a surname (the HTTP reference adapter's paths
    # do), so they never log below WARNING, whatever the level asked for.
    for leaky in ("httpx", "httpcore"):
        logging.getLogger(leaky).setLevel(max(logging.WARNING, logging.getLogger().level))
    # faust prints every record it sends, key and value bytes, at DEBUG ("send: topic=...
    # k=... v=..."), and an agent's yielded values: names, narratives and records. The
    # personal-data canary test (tests/integration/privacy) found them; never below INFO.
    for leaky in ("faust.topics", "faust.channels", "faust.agents"):
        logging.getLogger(leaky).setLevel(max(logging.INFO, logging.getLogger().level))
