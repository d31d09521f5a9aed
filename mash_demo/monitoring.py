"""`mash-monitoring-demo`: one simulated hub's run of the real pipeline, then its
monitoring report, read from the broker as the read-only operations principal.

Starts (or reuses) the secured local broker, provisions a fresh prefix, runs intake,
enrichment and routing as worker processes, simulated agencies and a simulated hub case
system, sends synthetic referrals, waits until every one is through (progress every few
seconds), then runs `mash-report hub` against that prefix and deletes the
prefix. docs/report/ was made with it, one run per simulated hub (see its README).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from mash_common.access import Kind
from mash_common.serde import AvroSerde
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.observer import Observer
from mash_hub.demo.pipeline import Broker, Pipeline, PipelineOptions
from mash_hub.demo.processes import ROOT
from mash_hub.demo.synthetic import referral_stream
from mash_ops.report.__main__ import main as report_main
from mash_sdk.simulated.agency import Behaviour, Latency, Profile, run_agencies

# Two simulated hubs that differ where hubs do: how reliably their partners answer.
PROFILES = {
    # Probation is often silent (cases go PARTIAL at their deadline); the rest answer fast.
    "steady": Profile(
        default=Behaviour(latency=Latency(distribution="lognormal", median_s=0.2, sigma=0.6,
                                          max_s=2.0), error_rate=0.02, decline_rate=0.03),
        agencies={"probation": Behaviour(silence_rate=0.4)}),
    # Slower partners, health and housing often silent, more refusals.
    "stretched": Profile(
        default=Behaviour(latency=Latency(distribution="uniform", min_s=0.5, max_s=4.0),
                          error_rate=0.04, decline_rate=0.08),
        agencies={"health": Behaviour(silence_rate=0.3, decline_rate=0.05),
                  "housing": Behaviour(silence_rate=0.5),
                  "probation": Behaviour(silence_rate=0.2)}),
}


def say(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace) -> int:
    tag = datetime.now(UTC).strftime("mon%Y%m%d%H%M%S")
    run_dir = ROOT / "var" / "monitoring" / tag
    run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, filename=run_dir / "run.log", force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    say(f"[1/5] broker (logs in {run_dir})")
    broker = Broker.ensure(say)
    admin = broker.admin.with_prefix(f"{tag}.")
    secured = pipeline = agencies = hub = observer = None
    started_at = datetime.now(UTC)
    try:
        say(f"[2/5] topics and principals under prefix {admin.topic_prefix}")
        secured = SecuredHub.create(admin, run_dir / "clients")
        pipeline = Pipeline(secured, PipelineOptions(
            run_dir=run_dir, due_red_s=args.red_s, due_amber_s=args.amber_s,
            due_green_s=args.green_s, metrics_ports={}))
        say("[3/5] services, simulated agencies and hub case system")
        pipeline.start(say)
        agencies = run_agencies({a: secured.agency(a) for a in sorted(secured.hub.agencies)},
                                profile=PROFILES[args.profile])
        hub = HubSystem(secured.hub_system(), decision_delay_s=args.decision_delay_s).start()
        observer = Observer(secured.ops_reader).start()
        say(f"[4/5] sending {args.referrals} synthetic referrals (seed {args.seed})")
        serde = AvroSerde()
        producers = {s: Producer(secured.source(s).producer_config())
                     for s in sorted(secured.hub.source_systems)}
        producers["public-portal"].produce(admin.topics.referrals("public-portal"),
                                           key=b"not-a-referral", value=b"\x00garbage\xff")
        expected: dict[str, bool] = {}
        for item in referral_stream(args.referrals, seed=args.seed, run_tag=tag):
            assert item.referral is not None
            r = item.referral
            observer.note_sent(r.referral_id, r.source_system)
            producers[r.source_system].produce(admin.topics.referrals(r.source_system),
                                               key=r.referral_id.encode(), value=serde.encode(r))
            producers[r.source_system].poll(0)
            expected[r.referral_id] = item.expect_rejected
            time.sleep(1.0 / args.rate)  # pacing the send rate, not waiting for a result
        for producer in producers.values():
            producer.flush(30)
        deadline = time.monotonic() + args.timeout
        last = 0.0
        while (outstanding := observer.outstanding(expected)) and time.monotonic() < deadline:
            if time.monotonic() - last > 10:
                s = observer.snapshot()
                say(f"  waiting: {len(outstanding)}/{len(expected)} referrals not yet through; "
                    f"{s.complete} complete, {s.partial} partial, {s.open_cases} gathering")
                last = time.monotonic()
            time.sleep(0.5)  # between looks at the observer; the condition is re-checked
        if outstanding:
            say(f"NOT DONE: {len(outstanding)} referrals did not get through in {args.timeout}s")
            return 1
        say("  every referral through: assembled, decided and its referrer told")
        say("[5/5] the report, as the read-only operations principal")
        argv = ["hub", "--client-config", str(secured.client_config(Kind.OPS, "reader")),
                "--prefix", admin.topic_prefix, "--hub-name", args.hub_name,
                "--from", (started_at - timedelta(days=1)).date().isoformat(),
                "--to", datetime.now(UTC).date().isoformat(),
                "--timescale", f"RED={args.red_s}s", "--timescale", f"AMBER={args.amber_s}s",
                "--timescale", f"GREEN={args.green_s}s", "--no-working-hours",
                "--out", str(args.out)]
        if args.unsuppressed_json:
            argv += ["--unsuppressed-json", str(args.unsuppressed_json)]
        return report_main(argv)
    finally:
        for part in (observer, hub, agencies):
            if part is not None:
                part.stop()
        observer = hub = agencies = None
        gc.collect()
        if pipeline is not None:
            pipeline.stop()
        if secured is not None and not args.keep:
            secured.teardown()
        elif secured is not None:
            say(f"kept prefix {admin.topic_prefix}; ops.reader client config: "
                f"{secured.client_config(Kind.OPS, 'reader')}")
        broker.stop(say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-monitoring-demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--hub-name", required=True)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="steady")
    parser.add_argument("--referrals", type=int, default=80)
    parser.add_argument("--rate", type=float, default=2.0, help="referrals per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--red-s", type=float, default=90.0)
    parser.add_argument("--amber-s", type=float, default=150.0)
    parser.add_argument("--green-s", type=float, default=210.0)
    parser.add_argument("--decision-delay-s", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--unsuppressed-json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true",
                        help="keep the prefix's topics and principals (to re-run the report)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
