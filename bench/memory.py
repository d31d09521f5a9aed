"""Memory: resident set size of each service with many open cases.

Deadlines of ten hours so nothing assembles, and no agency adapter running, so no request is
ever answered (the same as every agency silent, without six adapters' CPU on a 2-core box).
Referrals are produced as a backlog, so the pipeline takes them as fast as it can; the open
case count is enrichment's own gauge (mash_enrichment_open_cases).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mash_hub.bench.session import Ctx, Session
from mash_sdk.simulated.agency import PROFILES

LONG_DUE_S = 36_000.0


def _wait_open(ctx: Ctx, session: Session, target: int, cap_s: float) -> tuple[int, float]:
    started = time.monotonic()
    reached = 0
    with ctx.bar(f"memory: open cases -> {target}", target) as show:
        while time.monotonic() - started < cap_s:
            value = session.run.metric("enrichment", "mash_enrichment_open_cases")
            reached = int(value or 0)
            show(min(reached, target))
            if reached >= target:
                break
            time.sleep(2)  # polling the gauge
    return reached, time.monotonic() - started


def run(ctx: Ctx) -> dict[str, Any]:
    targets = (1_000, 5_000) if ctx.quick else (10_000, 100_000)
    # 100,000 open cases took longer than 8 minutes to fill on our 2-core machine.
    cap_s = 120.0 if ctx.quick else 900.0
    ctx.say(f"[bold]Memory[/bold]: RSS with {targets[0]} and {targets[1]} open cases "
            f"(time cap {cap_s:.0f} s per step)")
    out: dict[str, Any] = {"targets": targets, "cap_s": cap_s, "steps": []}
    with Session(ctx, "m", due_s=(LONG_DUE_S,) * 3, profile=PROFILES["instant"], people=targets[1],
                 agencies=False, tracking=False) as session:
        procs = session.processes()
        time.sleep(3)  # let the idle workers settle before the baseline reading
        idle = {k: v for k, v in procs.rss().items() if k in ("intake", "enrichment", "routing")}
        out["idle_rss"] = idle
        ctx.say("  preparing referrals")
        first = session.referrals("a", targets[0])
        rest = session.referrals("b", targets[1] - targets[0])
        previous = 0
        for target, batch in zip(targets, (first, rest), strict=True):
            sender = threading.Thread(target=session.burst, args=(batch,), daemon=True)
            sender.start()
            reached, took = _wait_open(ctx, session, target, cap_s)
            rss = {k: v for k, v in procs.rss().items() if k in idle}
            step: dict[str, Any] = {"target": target, "reached": reached, "seconds": took,
                    "fill_rate_per_s": (reached - previous) / took if took else 0.0, "rss": rss,
                    "bytes_per_case": {k: (rss[k] - idle[k]) / reached if reached else None for k in idle}}
            out["steps"].append(step)
            ctx.say(f"  {reached} open cases: " + ", ".join(
                f"{k} {rss[k] / 2**20:.0f} MiB ({step['bytes_per_case'][k] or 0:.0f} B/case)" for k in idle))
            previous = reached
            if reached < target:
                # Not reached in the cap: extrapolate linearly from the last two readings.
                a, b = out["steps"][0], step
                if b["reached"] > a["reached"]:
                    slope = {k: (b["rss"][k] - a["rss"][k]) / (b["reached"] - a["reached"]) for k in idle}
                    out["extrapolated"] = {
                        "to_cases": target, "from_cases": b["reached"],
                        "bytes_per_case_slope": slope,
                        "rss": {k: b["rss"][k] + slope[k] * (target - b["reached"]) for k in idle},
                    }
                break
            sender.join(60)
    return out
