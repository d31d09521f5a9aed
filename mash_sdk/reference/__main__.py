"""Run a reference adapter: `mash-reference-adapter --config police-adapter.yaml`.

Kafka and runtime settings come from the environment (MASH_KAFKA_*, MASH_ADAPTER_*) or the
flags; the agency, responder, declined categories and backend from the YAML file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.errors import MashError
from mash_common.logs import configure_logging
from mash_sdk.cli import run_until_signalled
from mash_sdk.reference import build_handler, load_reference_config
from mash_sdk.runtime import Adapter
from mash_sdk.settings import AdapterSettings

logger = logging.getLogger("mash_sdk.reference")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-reference-adapter",
                                     description="Run a configured reference adapter")
    parser.add_argument("--config", type=Path, required=True, help="adapter YAML (required; no default)")
    add_kafka_options(parser)
    parser.add_argument("--health-port", type=int, help="port for /healthz and /metrics (default: none served)")
    parser.add_argument("--log-level", default="INFO", help="default INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = load_reference_config(args.config)
        overrides: dict[str, object] = {
            "agency": config.agency,
            "responder_name": config.responder.name,
            "responder_role": config.responder.role,
            "kafka": kafka_from_args(args),
        }
        if args.health_port is not None:
            overrides["health_port"] = args.health_port
        settings = AdapterSettings(**overrides)  # type: ignore[arg-type]
        handler = build_handler(config)
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run_until_signalled([Adapter(settings, handler)])
    finally:
        handler.close()


if __name__ == "__main__":
    sys.exit(main())
