"""Command-line options every mash-hub command shares: which cluster, which hub, as whom."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from mash_common.hubconfig import CONFIG_DIR_ENV
from mash_common.settings import KafkaSettings

CONFIG_DIR_HELP = ("the hub's configuration directory: hub.yaml, threshold-policy.yaml, "
                   f"sharing-agreement.yaml, recipient-policy.yaml (default ${CONFIG_DIR_ENV}, "
                   "else the defaults shipped with the package)")


def add_config_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", type=Path, default=None, metavar="DIR", help=CONFIG_DIR_HELP)


def use_config_dir(config_dir: Path | None) -> None:
    """--config-dir wins over the environment for this process and the ones it starts."""
    if config_dir is not None:
        os.environ[CONFIG_DIR_ENV] = str(config_dir.resolve())


def take_config_dir(argv: Sequence[str]) -> list[str]:
    """For commands whose own parser is someone else's (faust's worker, uvicorn): remove
    `--config-dir DIR` (or `--config-dir=DIR`) from argv and apply it; returns the rest."""
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--config-dir":
            if i + 1 >= len(args):
                raise SystemExit("--config-dir needs a directory")
            use_config_dir(Path(args[i + 1]))
            i += 2
            continue
        if arg.startswith("--config-dir="):
            use_config_dir(Path(arg.split("=", 1)[1]))
        else:
            rest.append(arg)
        i += 1
    return rest


def add_kafka_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kafka")
    group.add_argument("--client-config", type=Path, default=None, metavar="FILE",
                       help="the principal's librdkafka properties file (bootstrap.servers, "
                            "security.protocol, sasl.*, ssl.ca.location); default "
                            "$MASH_KAFKA_CLIENT_CONFIG")
    group.add_argument("--bootstrap", default=None,
                       help="bootstrap servers when no client config names them (default "
                            "$MASH_KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)")
    group.add_argument("--prefix", default=None,
                       help="topic name prefix of the hub (default $MASH_KAFKA_TOPIC_PREFIX, "
                            "else none)")


def kafka_from_args(args: argparse.Namespace) -> KafkaSettings:
    return KafkaSettings.from_options(args.bootstrap, args.prefix, args.client_config)
