"""B2: latency under open-loop load (25, 50, 75% of B1's rate), against a raw three-hop echo.

Latency is measured from each referral's *intended* send time on a fixed schedule (not from
when the sender got round to it) to the Kafka timestamp (CreateTime: when the producing stage
sent it) of: the referrer's RECEIVED, the assembled case (version 1), the referrer's
INFORMATION_GATHERED and DECISION (the simulated hub decides HUB_DECISION_DELAY_S after it
reads the case; that delay is inside the DECISION figure).

The probe: A -> topic1 -> B -> topic2 -> C -> topic3, with plain confluent-kafka clients (B
and C in their own processes, linger 0), the referrals' mean size and the same schedule; latency to the
CreateTime of the topic3 record, from the intended send time, like the pipeline's.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from hdrh.histogram import HdrHistogram

from mash_common.settings import KafkaSettings
from mash_hub.bench.broker import Leg
from mash_hub.bench.harness import (
    DECISION,
    GATHERED,
    HUB_DECISION_DELAY_S,
    RECEIVED,
    OneTopic,
    Prepared,
    consumer_config,
    send_open_loop,
)
from mash_hub.bench.session import Ctx, Session

SHARES = (0.25, 0.5, 0.75)
TARGET_P99_RATIO = 3.0
PARTITIONS = 6


def summarise(latencies_s: list[float]) -> dict[str, float]:
    h = HdrHistogram(1, 600_000_000, 3)  # microseconds, 1 us .. 10 min
    for v in latencies_s:
        h.record_value(max(1, min(600_000_000, int(v * 1e6))))
    ms = 1000.0
    return {"count": h.get_total_count(), "p50_ms": h.get_value_at_percentile(50) / ms,
            "p99_ms": h.get_value_at_percentile(99) / ms, "p99_9_ms": h.get_value_at_percentile(99.9) / ms,
            "max_ms": h.get_max_value() / ms, "mean_ms": h.get_mean_value() / ms}


def pipeline_phase(ctx: Ctx, session: Session, share: float, rate: float, duration_s: float) -> dict[str, Any]:
    n = max(10, round(rate * duration_s))
    items = session.referrals(f"l{round(share * 100)}", n)
    ids = [p.referral_id for p in items]
    with ctx.bar(f"B2 {share:.0%} load: {rate:.1f}/s sent", n) as show:
        intended = session.open_loop(items, rate, show)
        show(n)
    tracker = session.tracker
    with ctx.bar(f"B2 {share:.0%} load: decided", n) as show:
        tracker.wait_done(ids, DECISION, 60 + HUB_DECISION_DELAY_S, show)
    waited_until = time.time()
    out: dict[str, Any] = {"rate_per_s": rate, "referrals": n}
    with tracker.lock:
        assembled = {r: tracker.assembled_ts[r] for r in ids if r in tracker.assembled_ts}
    for label, seen in (("received", tracker.times(ids, RECEIVED)), ("assembled", assembled),
                        ("gathered", tracker.times(ids, GATHERED)), ("decision", tracker.times(ids, DECISION))):
        # Never seen by the end of the wait: counted at the wait's end (a lower bound), not dropped.
        lat = [seen.get(r, waited_until) - intended[r] for r in ids]
        out[label] = {**summarise(lat), "not_seen": n - len(seen)}
    out["referral_bytes"] = round(sum(len(p.value) for p in items) / n)
    return out


# the echo probe ------------------------------------------------------------------------------


def _hop(kafka: KafkaSettings, source: str, target: str, ready: Any, stop: Any) -> None:
    consumer = Consumer(consumer_config(kafka, **{"group.id": f"{source}-hop", "enable.auto.commit": False,
                                                  "fetch.wait.max.ms": 100}))
    consumer.assign([TopicPartition(source, p, 0) for p in range(PARTITIONS)])
    producer = Producer(kafka.producer_config(**{"linger.ms": 0}))
    consumer.poll(0.2)
    ready.set()
    while not stop.is_set():
        for msg in consumer.consume(100, 0.05):
            if not msg.error():
                producer.produce(target, key=msg.key(), value=msg.value())
        producer.poll(0)
    producer.flush(10)
    consumer.close()


def echo_probe(ctx: Ctx, share: float, rate: float, duration_s: float, size: int) -> dict[str, Any]:
    # On the secured listener as the loops' own principal, like the pipeline it is compared with.
    kafka = ctx.loops.settings(Leg.SECURED)
    base = f"{ctx.loops.prefix}probe{round(share * 100)}"
    topics = [f"{base}.t1", f"{base}.t2", f"{base}.t3"]
    admin = AdminClient(ctx.broker.admin.confluent_config())
    for fut in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics]).values():
        fut.result(30)
    mpctx = mp.get_context("spawn")
    stop = mpctx.Event()
    hops = []
    for source, target in ((topics[0], topics[1]), (topics[1], topics[2])):
        ready = mpctx.Event()
        proc = mpctx.Process(target=_hop, args=(kafka, source, target, ready, stop), daemon=True)
        proc.start()
        ready.wait(60)
        hops.append(proc)
    arrived: dict[str, float] = {}
    stop_reader = threading.Event()

    def read_back() -> None:
        consumer = Consumer(consumer_config(kafka, **{"group.id": f"{base}-a", "enable.auto.commit": False,
                                                      "fetch.wait.max.ms": 100}))
        consumer.assign([TopicPartition(topics[2], p, 0) for p in range(PARTITIONS)])
        while not stop_reader.is_set():
            for msg in consumer.consume(100, 0.05):
                if not msg.error():
                    arrived.setdefault(msg.key().decode(), msg.timestamp()[1] / 1000.0)
        consumer.close()

    reader = threading.Thread(target=read_back, daemon=True)
    reader.start()
    n = max(10, round(rate * duration_s))
    payload = bytes(size)
    items = [Prepared(f"probe-{i:07d}", "", f"probe-{i:07d}".encode(), payload) for i in range(n)]
    try:
        with ctx.bar(f"probe {share:.0%} load: {rate:.1f}/s sent", n) as show:
            intended = send_open_loop(OneTopic(kafka, topics[0], linger_ms=0), items, rate, show)
            show(n)
        deadline = time.monotonic() + 30
        while len(arrived) < n and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for the last echoes
    finally:
        stop_reader.set()
        stop.set()
        reader.join(10)
        for proc in hops:
            proc.join(20)
        admin.delete_topics(topics)
    waited_until = time.time()
    lat = [arrived.get(p.referral_id, waited_until) - intended[p.referral_id] for p in items]
    return {"rate_per_s": rate, "messages": n, "payload_bytes": size, "not_seen": n - len(arrived),
            "three_hops": summarise(lat)}


def run(ctx: Ctx, session: Session, saturation: float) -> dict[str, Any]:
    duration = 8.0 if ctx.quick else 30.0
    ctx.say(f"[bold]B2[/bold] latency: open loop at {', '.join(f'{s:.0%}' for s in SHARES)} of "
            f"{saturation:.1f} referrals/s, {duration:.0f} s each, then a three-hop echo probe at the same rate")
    out: dict[str, Any] = {"saturation_per_s": saturation, "duration_s": duration, "phases": {}}
    for share in SHARES:
        rate = saturation * share
        phase = pipeline_phase(ctx, session, share, rate, duration)
        phase["probe"] = echo_probe(ctx, share, rate, duration, phase["referral_bytes"])
        p99 = phase["probe"]["three_hops"]["p99_ms"]
        phase["p99_ratio_assembled_to_probe"] = phase["assembled"]["p99_ms"] / p99
        phase["p99_ratio_gathered_to_probe"] = phase["gathered"]["p99_ms"] / p99
        out["phases"][f"{round(share * 100)}%"] = phase
        ctx.say(f"  {share:.0%}: assembled p99 {phase['assembled']['p99_ms']:.0f} ms, gathered p99 "
                f"{phase['gathered']['p99_ms']:.0f} ms; probe p99 {p99:.1f} ms "
                f"(ratio {phase['p99_ratio_assembled_to_probe']:.1f}x)")
    mid = out["phases"]["50%"]
    out["target"] = {"p99_ratio_at_50": TARGET_P99_RATIO,
                     "met": mid["p99_ratio_assembled_to_probe"] <= TARGET_P99_RATIO}
    return out
