"""B1: throughput at saturation, against a plain confluent-kafka produce+consume loop, on the
secured listener and, to price TLS and SCRAM, again on the same broker's plaintext one.

A backlog of referrals (each about a different child, agencies answering at once) is
produced as fast as the client takes it while the workers run; the rate is referrals over
the time from the first send to the Kafka timestamp of the last referrer's DECISION outcome.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from typing import Any

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from mash_common.settings import KafkaSettings
from mash_hub.bench.broker import Leg
from mash_hub.bench.harness import (
    DECISION,
    HUB_DECISION_DELAY_S,
    TOLD,
    consumer_config,
    end_offsets,
    mean_record_size,
)
from mash_hub.bench.session import Ctx, Session
from mash_sdk.simulated.agency import PROFILES

TARGET_RATE = 1000.0
TARGET_BASELINE_SHARE = 0.10
# The pipeline B1 (and B2 and the profile) run on: deadlines far away, agencies answering at
# once, a population big enough for every referral to be about a different child.
SESSION: dict[str, Any] = {"due_s": (600.0, 600.0, 600.0), "profile": PROFILES["instant"], "people": 120_000}
# Per-party topics, summed per kind in the report (mash.referrals.triaged is intake's own).
WILDCARD_GROUPS = ("mash.requests.", "mash.outcomes.", "mash.referrals.", "mash.responses.")


def measure(ctx: Ctx, session: Session, n: int) -> dict[str, Any]:
    names = session.names
    observer = session.observer
    tracker = session.tracker
    warm = session.referrals("w", 30)
    session.burst(warm)
    tracker.wait_done([p.referral_id for p in warm], TOLD, 120)
    items = session.referrals("b1", n)
    ids = [p.referral_id for p in items]
    procs = session.processes()
    off0 = end_offsets(observer)
    cpu0 = procs.cpu_s()
    mono0 = time.monotonic()
    with ctx.bar(f"B1 {session.leg.value}: referrals through", n) as show:
        t0 = session.burst(items)
        done = tracker.wait_done(ids, TOLD, 60 + n / 5, show)
    wall = time.monotonic() - mono0
    cpu1 = procs.cpu_s()
    off1 = end_offsets(observer)
    # Decisions follow the hub's fixed delay; give them a moment, outside the CPU window.
    tracker.wait_done(ids, DECISION, HUB_DECISION_DELAY_S + 10)
    gathered_ts = list(tracker.times(ids, TOLD).values())
    decided_ts = list(tracker.times(ids, DECISION).values())
    with tracker.lock:
        assembled_ts = [tracker.assembled_ts[r] for r in ids if r in tracker.assembled_ts]
    elapsed = max(gathered_ts) - t0 if gathered_ts else float("nan")
    produced = {t: off1.get(t, 0) - off0.get(t, 0) for t in off1}
    design = {t: c for t, c in produced.items() if t.startswith(f"{names.prefix}mash.")}
    internal = {t: c for t, c in produced.items() if t not in design}
    msgs = sum(produced.values())
    cpu = {name: (cpu1[name] - cpu0[name]) for name in cpu0}
    by_topic: dict[str, int] = {}
    for t, c in design.items():
        short = t.removeprefix(names.prefix)
        group = next((f"{head}*" for head in WILDCARD_GROUPS
                      if short.startswith(head) and short != "mash.referrals.triaged"), short)
        by_topic[group] = by_topic.get(group, 0) + c
    broker = ctx.broker.pid()
    return {
        "leg": session.leg.value,
        "broker_uptime_s": round(time.time() - psutil.Process(broker).create_time()) if broker else None,
        "prefix": names.prefix,
        "referrals": n,
        "gathered": done,
        "decided": len(decided_ts),
        "decisions_deadlettered": off1.get(names.deadletter, 0) - off0.get(names.deadletter, 0),
        "elapsed_s": elapsed,
        "last_assembled_s": (max(assembled_ts) - t0) if assembled_ts else None,
        "last_decision_s": (max(decided_ts) - t0) if decided_ts else None,
        "referrals_per_s": done / elapsed if elapsed else 0.0,
        "messages": msgs,
        "messages_design_topics": sum(design.values()),
        "messages_internal_topics": sum(internal.values()),
        "messages_per_referral": msgs / n,
        "messages_by_topic": dict(sorted(by_topic.items())),
        "kafka_messages_per_s": msgs / elapsed if elapsed else 0.0,
        "cpu_ms_per_referral": {k: 1000 * v / n for k, v in cpu.items()},
        "cpu_share_of_one_core": {k: v / wall for k, v in cpu.items()},
        "measured_wall_s": wall,
        "mean_record_bytes": mean_record_size(session.admin, produced),
    }


# the baseline loop ---------------------------------------------------------------------------


def _consume_count(kafka: KafkaSettings, topic: str, partitions: int, count: int, ready: Any, out: Any) -> None:
    consumer = Consumer(consumer_config(kafka, **{"group.id": f"{topic}-c", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    consumer.poll(0.5)
    ready.set()
    seen = 0
    first = None
    while seen < count:
        for msg in consumer.consume(1000, 1.0):
            if not msg.error():
                seen += 1
                first = first or time.time()
    out.put((first, time.time()))
    consumer.close()


def baseline(ctx: Ctx, leg: Leg, count: int, size: int, label: str = "baseline") -> dict[str, Any]:
    """A plain confluent-kafka loop on the same broker and listener as the pipeline it is
    compared with, as a principal of its own (not the super user): one process produces
    `count` messages of `size` bytes (keyed, idempotent, linger 5 ms, like the bench's own
    producers) to a 6-partition topic, another consumes them. Rate = count / (first send ->
    last consumed)."""
    kafka = ctx.loops.settings(leg)
    topic = f"{ctx.loops.prefix}{label}-{leg.value.lower()}"
    admin = AdminClient(ctx.broker.admin.confluent_config())
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    mpctx = mp.get_context("spawn")
    ready, out = mpctx.Event(), mpctx.Queue()
    consumer = mpctx.Process(target=_consume_count, args=(kafka, topic, 6, count, ready, out), daemon=True)
    consumer.start()
    ready.wait(60)
    producer = Producer(kafka.producer_config(**{"linger.ms": 5}))
    value = bytes(size)
    t0 = time.time()
    with ctx.bar(f"{label} {leg.value}: produce+consume", count) as show:
        for i in range(count):
            while True:
                try:
                    producer.produce(topic, key=f"k{i:08d}".encode(), value=value)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
            if i % 5000 == 0:
                show(i)
        producer.flush(60)
        produced_s = time.time() - t0
        first, last = out.get(timeout=300)
        show(count)
    consumer.join(30)
    admin.delete_topics([topic])
    return {"leg": leg.value, "principal": kafka.principal, "messages": count, "message_bytes": size,
            "produce_s": produced_s, "produce_per_s": count / produced_s, "elapsed_s": last - t0,
            "messages_per_s": count / (last - t0)}


WARM_UP_MESSAGES = 150_000
WARM_UP_BYTES = 700  # about the pipeline's mean record size


def warm_up(ctx: Ctx) -> dict[str, Any]:
    """A freshly started broker JVM spends its first minutes compiling (JIT) and loading its
    coordinators; whichever leg ran first would pay for it. So before any measurement the
    baseline loop runs once on each listener, and its figures are kept but not compared."""
    legs = [Leg.SECURED] + ([Leg.PLAINTEXT] if ctx.broker.plaintext_bootstrap else [])
    ctx.say(f"[bold]Warm-up[/bold] of the fresh broker: the baseline loop on {', '.join(leg.value for leg in legs)}")
    return {leg.value: baseline(ctx, leg, WARM_UP_MESSAGES, WARM_UP_BYTES, label="warm-up") for leg in legs}


def _sizes(ctx: Ctx) -> tuple[int, int]:
    """Referrals through the pipeline, messages through the baseline loop."""
    return (300, 50_000) if ctx.quick else (3000, 300_000)


def run(ctx: Ctx, session: Session) -> dict[str, Any]:
    n, loop_n = _sizes(ctx)
    ctx.say(f"[bold]B1[/bold] throughput ({session.leg.value}): {n} referrals preloaded while the workers run "
            "(instant agencies)")
    b1 = measure(ctx, session, n)
    ctx.say(f"  {b1['referrals_per_s']:.1f} referrals/s, {b1['kafka_messages_per_s']:.0f} Kafka messages/s "
            f"({b1['messages_per_referral']:.1f} per referral, mean {b1['mean_record_bytes']:.0f} B)")
    size = max(64, round(b1["mean_record_bytes"]))
    base = baseline(ctx, session.leg, loop_n, size)
    ctx.say(f"  baseline loop: {base['messages_per_s']:.0f} messages/s of {size} B")
    b1["baseline"] = base
    b1["ratio_to_baseline_messages"] = b1["kafka_messages_per_s"] / base["messages_per_s"]
    b1["targets"] = {
        "referrals_per_s": TARGET_RATE, "met_rate": b1["referrals_per_s"] >= TARGET_RATE,
        "baseline_share": TARGET_BASELINE_SHARE,
        "met_baseline_share": b1["ratio_to_baseline_messages"] >= TARGET_BASELINE_SHARE,
    }
    return b1


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def security_cost(ctx: Ctx, secured: dict[str, Any]) -> dict[str, Any]:
    """B1 once more with every client on the PLAINTEXT listener of the same broker (a fresh
    pipeline, the same sizes, User:ANONYMOUS holding the same grants), and the baseline loop
    on it: what TLS and SCRAM cost, as secured / plaintext ratios of the same run."""
    if ctx.broker.plaintext_bootstrap is None:
        return {"skipped": "the broker has no PLAINTEXT listener (run with the bench's own broker)"}
    n = secured["referrals"]
    ctx.say(f"[bold]B1[/bold] throughput (PLAINTEXT, to price TLS and SCRAM): {n} referrals on a fresh pipeline, "
            f"every client as User:ANONYMOUS on {ctx.broker.plaintext_bootstrap}")
    with Session(ctx, "tp", leg=Leg.PLAINTEXT, **SESSION) as session:
        plain = measure(ctx, session, n)
        ctx.say(f"  {plain['referrals_per_s']:.1f} referrals/s, {plain['kafka_messages_per_s']:.0f} Kafka "
                f"messages/s ({plain['messages_per_referral']:.1f} per referral)")
        base = secured["baseline"]
        plain["baseline"] = baseline(ctx, Leg.PLAINTEXT, base["messages"], base["message_bytes"])
        ctx.say(f"  baseline loop: {plain['baseline']['messages_per_s']:.0f} messages/s of {base['message_bytes']} B")
    cpu_s, cpu_p = secured["cpu_ms_per_referral"], plain["cpu_ms_per_referral"]
    cpu_ratios = {k: _ratio(cpu_s[k], cpu_p.get(k)) for k in cpu_s}
    ratios: dict[str, Any] = {
        "referrals_per_s": _ratio(secured["referrals_per_s"], plain["referrals_per_s"]),
        "kafka_messages_per_s": _ratio(secured["kafka_messages_per_s"], plain["kafka_messages_per_s"]),
        "baseline_messages_per_s": _ratio(secured["baseline"]["messages_per_s"],
                                          plain["baseline"]["messages_per_s"]),
        "cpu_ms_per_referral": cpu_ratios,
    }
    ctx.say(f"  secured / plaintext: referrals/s {_show(ratios['referrals_per_s'])}, baseline loop "
            f"{_show(ratios['baseline_messages_per_s'])}, broker CPU per referral "
            f"{_show(cpu_ratios.get('broker'))}")
    return {"plaintext": plain, "secured_over_plaintext": ratios,
            "order": "secured first (with B2 and the profile on its pipeline), then plaintext"}


def _show(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}"


def calibrate(ctx: Ctx, session: Session) -> dict[str, Any]:
    """B1's rate at a small size, when B2 runs without B1."""
    n = 300
    ctx.say(f"[bold]B1 (calibration only)[/bold]: {n} referrals to find the saturation rate")
    return measure(ctx, session, n)
