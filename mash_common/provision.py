"""Creates every topic of the design, idempotently: `mash-provision`.

Existing topics are left alone (and reported); a topic with fewer partitions than planned
is reported, never silently changed, because repartitioning moves keys between partitions.
`--explain` is a dry run: it lists each planned topic, its configuration and why, and what a
real run would do to it (create, leave, or warn), and changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from mash_common.cli import (
    add_config_dir_option,
    add_kafka_options,
    kafka_from_args,
    use_config_dir,
)
from mash_common.errors import MashError
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.settings import PROFILE_REPLICATION, KafkaSettings, Profile
from mash_common.topics import TopicSpec, topic_specs

logger = logging.getLogger(__name__)


class ProvisionError(MashError):
    """Topics could not be created or the cluster could not be reached."""


@dataclass(frozen=True)
class ProvisionReport:
    created: list[str]
    existing: list[str]
    mismatched: list[str]  # existing with a different partition count

    @property
    def changed(self) -> bool:
        return bool(self.created)


def planned_topics(kafka: KafkaSettings, hub: HubConfig) -> list[TopicSpec]:
    return topic_specs(kafka.topics, sorted(hub.agencies), hub.outcome_recipients,
                       sorted(hub.source_systems), sorted(hub.hub_systems))


def provision(
    kafka: KafkaSettings, hub: HubConfig, *, timeout_s: float = 30.0, dry_run: bool = False
) -> ProvisionReport:
    """Create the missing topics; with dry_run, only say which those are (`created` then
    lists what a real run would create)."""
    admin = AdminClient(kafka.confluent_config())
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ProvisionError(
            f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc.args[0]}"
        ) from None
    present = {name: len(t.partitions) for name, t in metadata.topics.items()}
    specs = planned_topics(kafka, hub)
    missing = [s for s in specs if s.name not in present]
    existing = [s.name for s in specs if s.name in present]
    mismatched = [
        f"{s.name} has {present[s.name]} partitions, planned {s.partitions}"
        for s in specs
        if s.name in present and present[s.name] != s.partitions
    ]
    created: list[str] = []
    if dry_run:
        return ProvisionReport(sorted(s.name for s in missing), sorted(existing), mismatched)
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, num_partitions=s.partitions,
                         replication_factor=kafka.replication_factor,
                         config=kafka.topic_config(s.config))
                for s in missing
            ],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                error = exc.args[0]
                if error.name() == "TOPIC_ALREADY_EXISTS":  # created meanwhile by another run
                    existing.append(name)
                else:
                    raise ProvisionError(f"cannot create {name}: {error.str()}") from None
    return ProvisionReport(sorted(created), sorted(existing), mismatched)


def explain(kafka: KafkaSettings, hub: HubConfig) -> int:
    """The dry run: the plan, and against the cluster (if it answers) what a run would do."""
    try:
        report: ProvisionReport | None = provision(kafka, hub, dry_run=True, timeout_s=10.0)
    except MashError as exc:  # unreachable, or no credentials given: the plan alone
        print(f"(not compared with the cluster: {exc})")
        report = None
    for spec in planned_topics(kafka, hub):
        cfg = ", ".join(f"{k}={v}" for k, v in spec.config.items())
        state = ("" if report is None else
                 "would create" if spec.name in report.created else "present")
        print(f"{state:12} {spec.name:45} p={spec.partitions} {cfg:40} {spec.why}")
    if report is not None:
        for problem in report.mismatched:
            print(f"WARNING  {problem}")
        print(f"dry run, nothing changed: {len(report.created)} topics would be created, "
              f"{len(report.existing)} already present")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-provision", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None, help="hub.yaml (default $MASH_CONFIG_DIR/hub.yaml, else the hub.yaml shipped with mash-hub)")
    add_config_dir_option(parser)
    add_kafka_options(parser)
    parser.add_argument("--profile", choices=[p.value for p in Profile], default=None,
                        help="durability of the topics created: dev (replication 1) or production "
                             "(replication 3, min.insync.replicas 2); default $MASH_KAFKA_PROFILE, "
                             "else dev")
    parser.add_argument("--replication-factor", type=int, default=None,
                        help="override the profile's replication factor "
                             "(default $MASH_KAFKA_REPLICATION_FACTOR, else the profile's)")
    parser.add_argument("--min-insync-replicas", type=int, default=None,
                        help="override the profile's min.insync.replicas "
                             "(default $MASH_KAFKA_MIN_INSYNC_REPLICAS, else the profile's)")
    parser.add_argument("--explain", action="store_true",
                        help="dry run: list each topic, its configuration, why, and whether a run would "
                             "create it; change nothing")
    args = parser.parse_args(argv)
    use_config_dir(args.config_dir)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        kafka = kafka_from_args(args)
        if args.profile is not None:
            kafka = kafka.with_replication(*PROFILE_REPLICATION[Profile(args.profile)])
        if args.replication_factor is not None or args.min_insync_replicas is not None:
            kafka = kafka.with_replication(args.replication_factor or kafka.replication_factor,
                                           args.min_insync_replicas or kafka.min_insync_replicas)
        hub = load_hub_config(args.config)
        if args.explain:
            return explain(kafka, hub)
        report = provision(kafka, hub)
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in report.created:
        print(f"created  {name}")
    for problem in report.mismatched:
        print(f"WARNING  {problem}")
    total = len(report.created) + len(report.existing)
    if report.changed:
        print(f"{len(report.created)} topics created, {len(report.existing)} already present ({total} in all)")
    else:
        print(f"nothing to do: all {total} topics already present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
