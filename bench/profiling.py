"""Where the CPU goes at saturation: py-spy samples each worker and the agencies process while
a backlog of referrals goes through (py-spy --nonblocking, 100 Hz: it does not pause them).

Samples are on-CPU only (py-spy leaves idle threads out), so a process's sample count over
the wall time approximates its CPU share; shares below are of each process's own samples.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mash_hub.bench.harness import TOLD
from mash_hub.bench.session import Ctx, Session

RATE_HZ = 100
# Leaf frame's file -> what it is, first match wins.
CATEGORIES = (
    ("fastavro", "Avro encode/decode (fastavro)"),
    ("mash_common/serde", "Avro serde wrapper (mash_common)"),
    ("pydantic", "pydantic models (validation, model_dump)"),
    ("aiokafka", "aiokafka client"),
    ("/kafka/", "aiokafka client"),
    ("confluent_kafka", "confluent-kafka client"),
    ("faust/", "faust runtime"),
    ("mode/", "faust runtime (mode)"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("json", "JSON (state, changelog)"),
    ("logging", "logging"),
    ("prometheus_client", "metrics"),
    ("services/", "service code"),
    ("mash_common", "mash_common"),
    ("mash_sdk", "adapter SDK"),
    ("threading", "threads (locks, waits)"),
)


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _category(frame: str) -> str:
    for needle, name in CATEGORIES:
        if needle in frame:
            return name
    m = re.search(r"\((?:.*site-packages/)?([^/)]+)", frame)
    return f"other ({m.group(1)})" if m else "other"


def analyse(raw: Path, wall_s: float) -> dict[str, Any]:
    leaf_fn: Counter[str] = Counter()
    leaf_cat: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
        total += count
        leaf_fn[frames[-1]] += count
        leaf_cat[_category(frames[-1])] += count
        for f in set(frames):
            if "services/" in f or "mash_common/" in f or "mash_sdk/" in f:
                inclusive[f] += count

    def share(c: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, round(v / total, 3)) for k, v in c.most_common(n)] if total else []

    return {"samples": total, "cpu_share_of_one_core": total / (wall_s * RATE_HZ) if wall_s else 0.0,
            "by_category": share(leaf_cat, 12), "top_self": share(leaf_fn, 12),
            "top_inclusive_own_code": share(inclusive, 12)}


def run(ctx: Ctx, session: Session) -> dict[str, Any]:
    tool = py_spy()
    if tool is None:
        return {"skipped": "py-spy not installed (pip install py-spy)"}
    n = 200 if ctx.quick else 1500
    ctx.say(f"[bold]Profile[/bold]: py-spy on each worker and the agencies while {n} referrals go through")
    out_dir = ctx.run_dir / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    pids = {k: p.pid for k, p in session.processes().procs.items() if k not in ("broker", "bench driver")}
    spies = {}
    for name, pid in pids.items():
        path = out_dir / f"{name.replace('+', '_')}.txt"
        spies[name] = (path, subprocess.Popen(
            [tool, "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking",
             "--output", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(2)  # py-spy attaches
    items = session.referrals("prof", n)
    started = time.monotonic()
    with ctx.bar("profile: referrals through", n) as show:
        session.burst(items)
        session.tracker.wait_done([p.referral_id for p in items], TOLD, 60 + n / 5, show)
    wall = time.monotonic() - started + 2
    for _, proc in spies.values():
        proc.send_signal(signal.SIGINT)
    result: dict[str, Any] = {"referrals": n, "wall_s": wall, "rate_hz": RATE_HZ, "processes": {}}
    for name, (path, proc) in spies.items():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if path.exists():
            result["processes"][name] = {**analyse(path, wall), "raw": str(path)}
        else:
            result["processes"][name] = {"error": f"py-spy wrote nothing (exit {proc.returncode})"}
    return result
