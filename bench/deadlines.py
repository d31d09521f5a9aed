"""B3: deadline accuracy. Deadlines of a few seconds; police silent for 10% of cases (chases
included), everyone else answers at once; load at ~0% (a handful of cases) and at 50% of
B1's rate; then 50% again with the enrichment worker SIGKILLed and restarted mid-run.

Per case (version 1 of its AssembledCase): lateness of a PARTIAL = assembled_at - due_at
(the sweeper's clock) and Kafka timestamp - due_at (when it was sent). Early fire: a PARTIAL
with assembled_at before due_at. Missed fire: a case whose deadline passed 30 s before the
end of observation and that was never assembled.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mash_hub.bench.harness import CaseRecord, pctl
from mash_hub.bench.session import Ctx, Session
from mash_hub.demo.processes import FAUST_READY
from mash_sdk.simulated.agency import PROFILES

DUE_S = (3.0, 4.0, 5.0)
SILENT = {"police": 0.1}
SESSION_TIMEOUT_S = 6  # the enrichment setting's minimum
MISSED_AFTER_S = 30.0
TARGET_P99_S = 1.0


def _analyse(cases: list[CaseRecord], observed_until: float) -> dict[str, Any]:
    partial = [c for c in cases if c.completeness == "PARTIAL"]
    late_clock = [c.first_assembled_at - c.due_at for c in partial if c.first_assembled_at is not None]
    late_kafka = [c.first_ts - c.due_at for c in partial if c.first_ts is not None]
    missed = [c for c in cases if c.first_ts is None and c.due_at + MISSED_AFTER_S <= observed_until]
    pending = [c for c in cases if c.first_ts is None and c not in missed]

    def stats(values: list[float]) -> dict[str, float]:
        return {"p50_s": pctl(values, 0.5), "p99_s": pctl(values, 0.99),
                "max_s": max(values) if values else float("nan")}

    return {
        "cases": len(cases),
        "complete": sum(1 for c in cases if c.completeness == "COMPLETE"),
        "partial": len(partial),
        "lateness_assembled_at": stats(late_clock),
        "lateness_kafka_timestamp": stats(late_kafka),
        "early_fires": sum(1 for v in late_clock if v < 0),
        "missed_fires": len(missed),
        "not_yet_due_or_pending": len(pending),
        "v1_duplicates": sum(max(0, c.v1_count - 1) for c in cases),
    }


def phase(ctx: Ctx, session: Session, label: str, rate: float, n: int, kill_at_s: float | None = None) -> dict[str, Any]:
    items = session.referrals(label, n)
    ids = {p.referral_id for p in items}
    kill: dict[str, float] = {}
    sent: dict[str, float] = {}

    def send() -> None:
        sent.update(session.open_loop(items, rate))

    sender = threading.Thread(target=send, daemon=True)
    t0 = time.time()
    sender.start()
    if kill_at_s is not None:
        time.sleep(kill_at_s)  # the moment of the crash, on the run's schedule
        worker = session.run.pipeline.workers["enrichment"]
        kill["killed_at"] = time.time() - t0
        worker.kill()
        worker.start()
        worker.wait_for_log(FAUST_READY, timeout_s=180)
        kill["ready_again_at"] = time.time() - t0
        ctx.say(f"  enrichment SIGKILLed at {kill['killed_at']:.1f} s, restarted, ready at "
                f"{kill['ready_again_at']:.1f} s")
    sender.join()
    last_due = time.time() + max(DUE_S)
    tracker = session.tracker
    with ctx.bar(f"B3 {label}: cases assembled", n) as show:
        while True:
            with tracker.lock:
                mine = [c for c in tracker.cases.values() if ids.intersection(c.referral_ids)]
            assembled = sum(1 for c in mine if c.first_ts is not None)
            show(assembled)
            if (assembled == n and len(mine) == n) or time.time() > last_due + MISSED_AFTER_S + 1:
                break
            time.sleep(0.25)  # polling the tracker
    result = _analyse(mine, time.time())
    result.update({"referrals": n, "rate_per_s": rate, **kill})
    lat = result["lateness_assembled_at"]
    ctx.say(f"  {label}: {result['partial']} partial of {result['cases']}; lateness p50 {lat['p50_s']:.3f} s, "
            f"p99 {lat['p99_s']:.3f} s, max {lat['max_s']:.3f} s; early {result['early_fires']}, "
            f"missed {result['missed_fires']}, duplicate v1 {result['v1_duplicates']}")
    return result


def run(ctx: Ctx, saturation: float | None) -> dict[str, Any]:
    sat = saturation or 30.0
    half = sat / 2
    duration = 10.0 if ctx.quick else 40.0
    idle_n = 20 if ctx.quick else 60
    n_half = round(half * duration)
    ctx.say(f"[bold]B3[/bold] deadlines: due Red/Amber/Green {DUE_S} s, police silent for 10% of cases; "
            f"idle ({idle_n} cases at 2/s), 50% load ({half:.1f}/s for {duration:.0f} s), and 50% with a SIGKILL")
    env = {"enrichment": {"MASH_ENRICHMENT_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}}
    out: dict[str, Any] = {"due_s": DUE_S, "silent": SILENT, "sweep_interval_s": 0.25,
                           "session_timeout_s": SESSION_TIMEOUT_S, "saturation_per_s": sat,
                           "saturation_source": "B1" if saturation else "assumed (B1 not run)"}
    with Session(ctx, "d", due_s=DUE_S, profile=PROFILES["instant"], people=idle_n + 2 * n_half + 10,
                 silent=SILENT, extra_env=env, track_triaged=True) as session:
        out["idle"] = phase(ctx, session, "idle", 2.0, idle_n)
        out["half_load"] = phase(ctx, session, "half", half, n_half)
        out["half_load_kill"] = phase(ctx, session, "kill", half, n_half, kill_at_s=duration / 3)
    out["targets"] = {"lateness_p99_s": TARGET_P99_S, "early": 0, "missed": 0}
    return out
