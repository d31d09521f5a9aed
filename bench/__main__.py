"""`mash-bench [b1 b2 b3 memory profile gateway redfirst] [--quick]`: runs the benchmarks on a local
secured broker (the bench's own, with a plaintext listener for B1's TLS cost) and writes bench/results/<timestamp>/report.md and report.json.

`mash-bench brokers [--quick]` is the broker fault test on a local three-broker cluster
of its own (bench/brokers.py); it is not part of the default set.

Benchmarks print figures; they do not pass or fail. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import time
from datetime import datetime
from types import FrameType

from rich.console import Console

from mash_hub.bench import (
    deadlines,
    gateway,
    latency,
    memory,
    profiling,
    redfirst,
    report,
    throughput,
)
from mash_hub.bench.broker import BenchBroker
from mash_hub.bench.harness import results_root
from mash_hub.bench.machine import describe
from mash_hub.bench.session import Ctx, Session
from mash_hub.demo.processes import ROOT

ALL = ("b1", "b2", "b3", "memory", "profile", "gateway", "redfirst")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _loadavg(ctx: Ctx, label: str) -> None:
    ctx.results.setdefault("load", []).append({"at": label, "loadavg": [round(x, 2) for x in os.getloadavg()],
                                               "time": datetime.now().isoformat(timespec="seconds")})


def run(ctx: Ctx, chosen: list[str]) -> None:
    r = ctx.results
    if {"b1", "b2", "profile"} & set(chosen):
        # One pipeline for throughput, profile and latency: B2's rates come from B1's.
        _loadavg(ctx, "B1/B2 start")
        with Session(ctx, "t", **throughput.SESSION) as session:
            r["b1"] = throughput.run(ctx, session) if "b1" in chosen else throughput.calibrate(ctx, session)
            _loadavg(ctx, "B1 end")
            if "profile" in chosen:
                r["profile"] = profiling.run(ctx, session)
            if "b2" in chosen:
                r["b2"] = latency.run(ctx, session, r["b1"]["referrals_per_s"])
                _loadavg(ctx, "B2 end")
    if "b1" in chosen:
        # After the secured pipeline has gone, so the two legs never share the machine.
        r["b1"]["security_cost"] = throughput.security_cost(ctx, r["b1"])
        _loadavg(ctx, "B1 plaintext end")
    if "b3" in chosen:
        rate = r.get("b1", {}).get("referrals_per_s")
        r["b3"] = deadlines.run(ctx, rate)
        _loadavg(ctx, "B3 end")
    if "memory" in chosen:
        r["memory"] = memory.run(ctx)
        _loadavg(ctx, "memory end")
    if "gateway" in chosen:
        r["gateway"] = gateway.run(ctx)
        _loadavg(ctx, "gateway end")
    if "redfirst" in chosen:
        _loadavg(ctx, "redfirst start")
        r["redfirst"] = redfirst.run(ctx)
        _loadavg(ctx, "redfirst end")


def main(argv: list[str] | None = None) -> int:
    args_given = sys.argv[1:] if argv is None else argv
    if args_given[:1] == ["brokers"]:
        from mash_hub.bench import brokers

        return brokers.cli(args_given[1:])
    parser = argparse.ArgumentParser(prog="mash-bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help=f"any of {', '.join(ALL)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--latest", action="store_true",
                        help="also copy the report to bench/results/latest/ (only if the run completed; "
                             "never for --quick)")
    parser.add_argument("--broker", choices=("own", "dev"), default="own",
                        help="own (default): the bench's broker in var/bench-kafka on free ports, with a "
                             "PLAINTEXT listener for B1's TLS+SCRAM cost; dev: the development broker "
                             "(or MASH_KAFKA_CLIENT_CONFIG's cluster), secured leg only")
    args = parser.parse_args(argv)
    if args.latest and args.quick:
        parser.error("--latest takes a full run, not --quick")
    chosen = list(args.benchmarks) or list(ALL)
    if unknown := set(chosen) - set(ALL):
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console(highlight=False)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    out_dir = results_root() / stamp
    run_dir = ROOT / "var" / "bench" / stamp
    console.print(f"[bold]mash-hub benchmarks[/bold] {' '.join(chosen)}{' (quick)' if args.quick else ''}  "
                  f"run {stamp}  (logs: {run_dir})")
    if args.broker == "own" and os.environ.get("MASH_KAFKA_CLIENT_CONFIG"):
        parser.error("MASH_KAFKA_CLIENT_CONFIG names a cluster: use --broker dev")
    broker = BenchBroker.own(console.print) if args.broker == "own" else BenchBroker.shared(console.print)
    ctx = Ctx(broker=broker, run_dir=run_dir, stamp=stamp, quick=args.quick, console=console)
    ctx.results.update({"run": stamp, "quick": args.quick, "benchmarks": chosen,
                        "machine": describe(broker.version()),
                        "broker": {"which": args.broker, "bootstrap": broker.bootstrap,
                                   "plaintext_bootstrap": broker.plaintext_bootstrap}})
    started = time.monotonic()
    status = 0
    try:
        if broker.started_here:
            ctx.results["broker_warm_up"] = throughput.warm_up(ctx)
        run(ctx, chosen)
    except KeyboardInterrupt:
        ctx.say("[red]interrupted: writing what was measured[/red]")
        status = 130
    finally:
        try:
            ctx.close()
        except Exception as exc:  # cleanup only: the figures stand either way
            ctx.say(f"[yellow]could not remove the loops' topics and principal: {type(exc).__name__}[/yellow]")
        ctx.results["duration_s"] = round(time.monotonic() - started, 1)
        _loadavg(ctx, "end")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(ctx.results, indent=2, default=str) + "\n")
        (out_dir / "report.md").write_text(report.markdown(ctx.results))
        ctx.say(f"report: {out_dir / 'report.md'}")
        if args.latest and status == 0:
            latest = results_root() / "latest"
            latest.mkdir(parents=True, exist_ok=True)
            for name in ("report.md", "report.json"):
                shutil.copy(out_dir / name, latest / name)
            ctx.say(f"copied to {latest}")
        broker.stop(ctx.say)
    return status


if __name__ == "__main__":
    sys.exit(main())
