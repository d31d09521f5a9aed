"""G1: the HTTP gateway against a plain Kafka produce, in the same run, as the same principal.

Both write the same synthetic referrals to the same source system's topic as that source's
principal (source.school-portal). Latency: one at a time, from the POST to its 202 (the
gateway answers once the broker has acknowledged), against produce-then-flush of the same
record. Throughput: CONCURRENCY clients posting at once, against a burst of produces with
one flush at the end. The gateway runs as its own process (uvicorn, one worker), as in
production.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import Producer

from mash_common.serde import AvroSerde
from mash_hub.bench.broker import Leg, create_hub
from mash_hub.bench.latency import summarise
from mash_hub.bench.session import Ctx
from mash_hub.demo.web import WebFront
from mash_hub.demo.web import sample_referral_body as referral_body
from mash_hub.services.gateway.models import ReferralSubmission

SOURCE = "school-portal"
CONCURRENCY = 16


def _bodies(tag: str, n: int) -> list[dict[str, Any]]:
    return [referral_body(f"{tag}-{i:06d}") for i in range(n)]


def _plain(kafka: Any, topic: str, bodies: list[dict[str, Any]], sequential: int) -> dict[str, Any]:
    serde = AvroSerde()
    now = None
    records = []
    for body in bodies:
        submission = ReferralSubmission.model_validate(body)
        referral = submission.to_referral(str(body["referral_id"]), SOURCE, now or _now())
        records.append((referral.referral_id.encode(), serde.encode(referral)))
    producer = Producer(kafka.producer_config(**{"linger.ms": 1}))
    latencies = []
    for key, value in records[:sequential]:
        started = time.perf_counter()
        producer.produce(topic, key=key + b"-l", value=value)
        producer.flush(30)
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    for key, value in records[sequential:]:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    took = time.perf_counter() - started
    return {"latency": summarise(latencies), "per_s": (len(records) - sequential) / took}


def _now() -> Any:
    from mash_common.contracts import utcnow
    return utcnow()


async def _gateway(url: str, key: str, bodies: list[dict[str, Any]], sequential: int) -> dict[str, Any]:
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                 limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        latencies = []
        for body in bodies[:sequential]:
            started = time.perf_counter()
            answer = await client.post("/v1/referrals", json=body)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
        queue = list(bodies[sequential:])
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while queue:
                answer = await client.post("/v1/referrals", json=queue.pop())
                failures += answer.status_code != 202

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        took = time.perf_counter() - started
    return {"latency": summarise(latencies), "per_s": (len(bodies) - sequential) / took,
            "failures": failures}


def run(ctx: Ctx) -> dict[str, Any]:
    n, sequential = (300, 60) if ctx.quick else (3000, 300)
    tag = uuid.uuid4().hex[:6]
    hub = create_hub(ctx.broker, Leg.SECURED, f"{ctx.tag('g')}.", ctx.run_dir / "g-clients")
    web = WebFront(hub, ctx.run_dir / "gateway", page_agencies=(), with_board=False)
    try:
        web.start()
        ctx.say(f"G1 gateway vs plain produce: {n} referrals each ({sequential} one at a time)")
        # Warm both paths (connections, JIT of the broker's request handlers) before measuring.
        asyncio.run(_gateway(web.gateway_url, web.api_keys[SOURCE], _bodies(f"w{tag}", 20), 5))
        plain = _plain(hub.source(SOURCE), hub.admin.topics.referrals(SOURCE), _bodies(f"p{tag}", n), sequential)
        gateway = asyncio.run(_gateway(web.gateway_url, web.api_keys[SOURCE], _bodies(f"g{tag}", n), sequential))
    finally:
        web.stop()
        hub.teardown()
    result = {"referrals": n, "sequential": sequential, "concurrency": CONCURRENCY,
              "plain": plain, "gateway": gateway,
              "throughput_ratio": plain["per_s"] / gateway["per_s"] if gateway["per_s"] else None,
              "p50_ratio": gateway["latency"]["p50_ms"] / plain["latency"]["p50_ms"]}
    ctx.say(f"  plain produce: {plain['per_s']:.0f}/s, p50 {plain['latency']['p50_ms']:.1f} ms, "
            f"p99 {plain['latency']['p99_ms']:.1f} ms")
    ctx.say(f"  gateway:       {gateway['per_s']:.0f}/s, p50 {gateway['latency']['p50_ms']:.1f} ms, "
            f"p99 {gateway['latency']['p99_ms']:.1f} ms ({gateway['failures']} not 202)")
    return result


def markdown(g: dict[str, Any]) -> list[str]:
    p, w = g["plain"], g["gateway"]
    return [
        "## G1: the HTTP gateway against a plain Kafka produce",
        f"{g['referrals']} referrals each, as source.{SOURCE}; latency one at a time "
        f"({g['sequential']}), throughput with {g['concurrency']} concurrent clients (gateway) "
        "or a burst with one flush (plain).",
        "",
        "| path | referrals/s | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| plain produce | {p['per_s']:.0f} | {p['latency']['p50_ms']:.1f} | {p['latency']['p99_ms']:.1f} | {p['latency']['max_ms']:.1f} |",
        f"| gateway POST | {w['per_s']:.0f} | {w['latency']['p50_ms']:.1f} | {w['latency']['p99_ms']:.1f} | {w['latency']['max_ms']:.1f} |",
        "",
        f"Plain produce is {g['throughput_ratio']:.1f}x the gateway's throughput; the gateway's "
        f"p50 latency is {g['p50_ratio']:.1f}x a produce-and-flush.",
        "",
    ]
