"""Lag exporter on a real broker: lag in messages and in time with a paused consumer, and
stall detection with an injected clock (no sleeping)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest

from mash_common.settings import KafkaSettings
from mash_ops.lag_exporter import LagExporter
from mash_ops.scrape import parse
from mash_ops.settings import OpsSettings
from tests.integration.ops.helpers import commit, create_topic, produce_at

HOUR_MS = 3_600_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lag_in_messages_and_time_and_stalls(kafka_settings: KafkaSettings) -> None:
    prefix = kafka_settings.topic_prefix
    topic = f"{prefix}mash.requests.police.red"
    create_topic(kafka_settings, topic)
    # Ten messages an hour ago, one second apart; the consumer committed four of them.
    base = (int(time.time()) - 7200) * 1000  # recent enough that retention keeps it
    produce_at(kafka_settings, topic, [base + i * 1000 for i in range(10)])
    paused, idle, busy = (f"{prefix}mash-{n}" for n in ("paused", "idle", "busy"))
    commit(kafka_settings, paused, topic, 4)
    commit(kafka_settings, idle, topic, 10)
    commit(kafka_settings, busy, topic, 2)

    now_ms = base + HOUR_MS
    clock = FakeClock()
    registry = CollectorRegistry()
    exporter = LagExporter(OpsSettings(kafka=kafka_settings, stall_after_s=60),
                           registry, clock=clock, wall_clock_ms=lambda: now_ms)
    try:
        snap = exporter.sample_once()
        by_group = {g.group: g for g in snap.groups}
        assert set(by_group) == {paused, idle, busy}
        (p,) = by_group[paused].partitions
        assert (p.committed, p.log_end, p.lag_messages) == (4, 10, 6)
        # The oldest unconsumed message is the fifth, stamped base + 4s.
        assert p.lag_seconds == (now_ms - (base + 4000)) / 1000
        assert (p.agency, p.rag) == ("police", "red")
        (i,) = by_group[idle].partitions
        assert (i.lag_messages, i.lag_seconds) == (0, 0.0)
        assert not any(x.stalled for x in snap.partitions())

        # Half the window later the busy consumer moves on; the paused one does not.
        clock.now += 30
        commit(kafka_settings, busy, topic, 3)
        exporter.sample_once()
        clock.now += 31
        snap = exporter.sample_once()
        stalled = {x.group: x.stalled for x in snap.partitions()}
        assert stalled == {paused: True, idle: False, busy: False}

        metrics = parse(generate_latest(registry).decode())
        assert metrics.value("mash_consumer_stalled", group=paused, topic=topic, partition="0") == 1
        assert metrics.value("mash_consumer_stalled", group=idle, topic=topic, partition="0") == 0
        assert metrics.value("mash_consumer_lag_messages", group=paused, agency="police",
                             rag="red") == 6
        assert metrics.value("mash_consumer_lag_seconds", group=busy) == (
            (now_ms - (base + 3000)) / 1000)
        assert metrics.value("mash_lag_exporter_kafka_up") == 1

        # The paused consumer catches up: no longer stalled, lag 0 in both units.
        commit(kafka_settings, paused, topic, 10)
        snap = exporter.sample_once()
        p = next(x for x in snap.partitions() if x.group == paused)
        assert (p.lag_messages, p.lag_seconds, p.stalled) == (0, 0.0, False)
    finally:
        exporter.close()
