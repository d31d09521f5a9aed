"""`mash-access`: create the hub's SCRAM users and ACLs, idempotently.

Runs as the cluster's administrator (`--client-config var/kafka/clients/admin.properties` on
the local broker). Writes one client config per principal, 0600, into --out.
`--explain` prints the access table and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mash_common.access import access_model, explain
from mash_common.cli import (
    add_config_dir_option,
    add_kafka_options,
    kafka_from_args,
    use_config_dir,
)
from mash_common.errors import MashError
from mash_common.hubconfig import load_hub_config
from mash_common.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mash-access",
        description="Create the hub's principals (SCRAM users) and their ACLs, least privilege, "
                    "from config/hub.yaml; idempotent.")
    add_config_dir_option(parser)
    add_kafka_options(parser)
    parser.add_argument("--config", type=Path, default=None, help="hub.yaml (default $MASH_CONFIG_DIR/hub.yaml, else the hub.yaml shipped with mash-hub)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write each principal's client config (default: beside "
                             "the administrator's client config)")
    parser.add_argument("--test-tools", action="store_true",
                        help="also create the contract kit's principal (test hubs only)")
    parser.add_argument("--explain", action="store_true",
                        help="print who may read, write and join what; change nothing")
    args = parser.parse_args(argv)
    use_config_dir(args.config_dir)
    configure_logging("WARNING")
    try:
        hub = load_hub_config(args.config)
        if args.explain:
            prefix = args.prefix or ""
            from mash_common.topics import TopicNames

            print(explain(access_model(TopicNames(prefix), hub, test_tools=args.test_tools), prefix))
            return 0
        from mash_common.access.admin import apply_access

        kafka = kafka_from_args(args)
        out = args.out or (kafka.client_config.parent if kafka.client_config else None)
        if out is None:
            print("error: --out is needed when no --client-config is given", file=sys.stderr)
            return 2
        principals = access_model(kafka.topics, hub, test_tools=args.test_tools)
        report = apply_access(kafka, principals, out)
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(report.users)} principals: {report.acls_created} ACLs created, "
          f"{report.acls_removed} stale removed; client configs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
