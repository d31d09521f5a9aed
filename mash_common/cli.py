"""Command-line options every mash-hub command shares: which cluster, which hub, as whom."""

from __future__ import annotations

import argparse
from pathlib import Path

from mash_common.settings import KafkaSettings


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
