"""`mash-contract-kit --agency police --client-config kit.properties --prefix test.`

It plays enrichment towards the adapter, so it connects as the contract kit's principal of
a test hub (`mash-access --test-tools` creates it), never as a live service.

Prints one PASS/FAIL line per check; exits 0 when the contract is met, 1 when it is not,
2 when the kit itself could not run.
"""

from __future__ import annotations

import argparse
import sys

from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.errors import MashError
from mash_common.logs import configure_logging
from mash_sdk.contract_kit import ALL_CHECKS, KitOptions, run_contract_kit


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="mash-contract-kit", description="Prove a running adapter follows the hub contract. "
                                "Run it against a test hub (--prefix), never live topics.")
    p.add_argument("--agency", required=True, help="the adapter's agency id (required)")
    add_kafka_options(p)
    p.add_argument("--category", default="kit.general",
                   help="a data category the adapter serves (default kit.general)")
    p.add_argument("--decline-category", default="kit.decline",
                   help="a category the adapter is configured to decline (default kit.decline)")
    p.add_argument("--known-nhs", help="NHS number of a (test) subject the agency holds; "
                   "enables the 'found' check")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per check (default 30)")
    p.add_argument("--backlog", type=int, default=300, help="Green backlog for red-first (default 300)")
    p.add_argument("--checks", default=",".join(ALL_CHECKS),
                   help=f"comma-separated subset of {','.join(ALL_CHECKS)} (default: all)")
    p.add_argument("--log-level", default="WARNING", help="default WARNING")
    args = p.parse_args(argv)
    configure_logging(args.log_level)
    checks = tuple(c.strip() for c in args.checks.split(",") if c.strip())
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        print(f"error: unknown check(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    try:
        kafka = kafka_from_args(args)
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = KitOptions(agency=args.agency, category=args.category,
                         decline_category=args.decline_category, known_nhs=args.known_nhs,
                         timeout_s=args.timeout, backlog=args.backlog, checks=checks)
    try:
        report = run_contract_kit(kafka, options)
    except Exception as exc:  # the kit could not run at all: say why, distinct exit code
        print(f"error: contract kit could not run: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
