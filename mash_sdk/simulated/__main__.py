"""`mash-simulated-agencies --agencies police,health --profile realistic --seed 1`

Runs the simulated agencies in one process until SIGTERM/SIGINT. Agency ids default to
every agency in config/hub.yaml; --profile-file takes a YAML Profile for custom behaviour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from mash_common.cli import add_config_dir_option, use_config_dir
from mash_common.configfile import load_yaml_model
from mash_common.errors import MashError
from mash_common.hubconfig import load_hub_config
from mash_common.logs import configure_logging
from mash_common.metrics import metrics_host
from mash_common.settings import KafkaSettings
from mash_sdk.cli import run_until_signalled
from mash_sdk.health import HealthServer
from mash_sdk.simulated.agency import PROFILES, Profile, build_agencies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mash-simulated-agencies",
                                description="Run simulated agencies (synthetic data only)")
    p.add_argument("--agencies", help="comma-separated ids (default: every agency of hub.yaml)")
    p.add_argument("--profile", default="realistic", choices=sorted(PROFILES),
                   help="behaviour profile (default realistic)")
    p.add_argument("--profile-file", type=Path, help="YAML Profile; overrides --profile")
    p.add_argument("--seed", type=int, default=1, help="default 1")
    p.add_argument("--population", type=int, default=500, help="synthetic people (default 500)")
    add_config_dir_option(p)
    p.add_argument("--hub-config", type=Path, help="hub.yaml (default $MASH_CONFIG_DIR/hub.yaml, else the hub.yaml shipped with mash-hub)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers when no client config names them (default "
                        "$MASH_KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)")
    p.add_argument("--prefix", help="topic name prefix of the hub (default $MASH_KAFKA_TOPIC_PREFIX, else none)")
    p.add_argument("--clients-dir", type=Path, required=True,
                   help="folder of the agencies' client configs (<prefix>agency.<id>.properties, "
                        "as mash-access writes them); each agency connects as "
                        "itself")
    p.add_argument("--health-port", type=int, default=0,
                   help="one /healthz and /metrics for all agencies (0: off; 9110 is usual)")
    p.add_argument("--log-level", default="INFO", help="default INFO")
    args = p.parse_args(argv)
    use_config_dir(args.config_dir)
    configure_logging(args.log_level)
    try:
        hub = load_hub_config(args.hub_config)
        agencies = ([a.strip() for a in args.agencies.split(",") if a.strip()]
                    if args.agencies else sorted(hub.agencies))
        unknown = set(agencies) - set(hub.agencies)
        if unknown:
            raise MashError(f"agencies not in the hub configuration: {sorted(unknown)}")
        profile = (load_yaml_model(args.profile_file, Profile) if args.profile_file
                   else PROFILES[args.profile])
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    registry = CollectorRegistry()
    try:
        kafka = {a: KafkaSettings.from_options(
                     args.bootstrap, args.prefix,
                     args.clients_dir / f"{args.prefix or ''}agency.{a}.properties")
                 for a in agencies}
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sim = build_agencies(
        kafka,
        agencies, profile, seed=args.seed, population_size=args.population, registry=registry,
        responder_names={a: hub.agencies[a].name for a in agencies},
    )
    server = None
    if args.health_port:
        server = HealthServer(registry, host=metrics_host(), port=args.health_port)
        for adapter in sim.adapters:
            server.add_check(adapter.health)
        server.start()
    try:
        return run_until_signalled(sim.adapters)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
