"""Consumer-group lag as Prometheus metrics: `mash-lag-exporter --port 9108`.

Also a library: LagExporter(settings, registry).sample_once() takes one sample and exposes it
on the registry, so tests and other tools drive it without the HTTP server or the loop.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.logs import configure_logging
from mash_common.metrics import serve_metrics
from mash_ops.lag import LagSnapshot
from mash_ops.sampler import LagSampler
from mash_ops.settings import OpsSettings

logger = logging.getLogger(__name__)

LAG_LABELS = ["group", "topic", "partition", "agency", "rag"]
STALL_LABELS = ["group", "topic", "partition"]


class LagCollector(Collector):
    """Renders the latest snapshot; series of vanished partitions disappear with it."""

    def __init__(self) -> None:
        self._snapshot: LagSnapshot | None = None
        self._lock = threading.Lock()

    def update(self, snapshot: LagSnapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snap = self._snapshot
        up = GaugeMetricFamily("mash_lag_exporter_kafka_up",
                               "1 if the last sample reached the cluster")
        up.add_metric([], 0.0 if snap is None or not snap.reachable else 1.0)
        yield up
        if snap is None:
            return
        taken = GaugeMetricFamily("mash_lag_exporter_last_sample_timestamp_seconds",
                                  "Wall-clock time of the last sample")
        taken.add_metric([], snap.taken_at_ms / 1000.0)
        yield taken
        messages = GaugeMetricFamily("mash_consumer_lag_messages",
                                     "Messages waiting: log-end offset minus committed offset",
                                     labels=LAG_LABELS)
        seconds = GaugeMetricFamily("mash_consumer_lag_seconds",
                                    "Age of the oldest unconsumed message; 0 when caught up",
                                    labels=LAG_LABELS)
        stalled = GaugeMetricFamily("mash_consumer_stalled",
                                    "1 when the committed offset has not moved for the stall "
                                    "window while messages wait", labels=STALL_LABELS)
        committed = GaugeMetricFamily("mash_consumer_committed_offset",
                                      "Committed offset", labels=STALL_LABELS)
        end = GaugeMetricFamily("mash_topic_log_end_offset",
                                "Log-end offset of partitions some watched group reads",
                                labels=["topic", "partition"])
        group_lag = GaugeMetricFamily("mash_consumer_group_lag_messages",
                                      "Messages waiting, summed over a group's partitions",
                                      labels=["group", "state"])
        ends_seen: set[tuple[str, int]] = set()
        for group in snap.groups:
            group_lag.add_metric([group.group, group.state], float(group.total_messages))
            for p in group.partitions:
                labels = [p.group, p.topic, str(p.partition), p.agency, p.rag]
                messages.add_metric(labels, float(p.lag_messages))
                if p.lag_seconds is not None:
                    seconds.add_metric(labels, p.lag_seconds)
                short = [p.group, p.topic, str(p.partition)]
                stalled.add_metric(short, 1.0 if p.stalled else 0.0)
                committed.add_metric(short, float(p.committed))
                if (p.topic, p.partition) not in ends_seen:
                    ends_seen.add((p.topic, p.partition))
                    end.add_metric([p.topic, str(p.partition)], float(p.log_end))
        yield from (messages, seconds, stalled, committed, end, group_lag)


class LagExporter:
    """Samples lag on an interval and exposes it on a registry."""

    def __init__(
        self,
        settings: OpsSettings,
        registry: CollectorRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._settings = settings
        extra: dict[str, Any] = {} if wall_clock_ms is None else {"wall_clock_ms": wall_clock_ms}
        self.sampler = LagSampler(settings, clock=clock, **extra)
        self.collector = LagCollector()
        registry.register(self.collector)
        self._samples = Counter("mash_lag_exporter_samples_total", "Lag samples taken",
                                ["result"], registry=registry)
        self._stop = threading.Event()
        self.last: LagSnapshot | None = None

    def sample_once(self) -> LagSnapshot:
        snapshot = self.sampler.sample()
        self.collector.update(snapshot)
        self._samples.labels("ok" if snapshot.reachable else "error").inc()
        self.last = snapshot
        return snapshot

    def run(self) -> None:
        """Sample until stop() is called."""
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample_once()
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self._settings.sample_interval_s - elapsed))

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()
        self.sampler.close()


def build_settings(args: argparse.Namespace) -> OpsSettings:
    overrides: dict[str, Any] = {"kafka": kafka_from_args(args)}
    for name in ("port", "interval", "stall_after", "group_prefix", "topic_filter"):
        value = getattr(args, name, None)
        if value is None:
            continue
        key = {"port": "metrics_port", "interval": "sample_interval_s",
               "stall_after": "stall_after_s", "topic_filter": "topic_prefix"}.get(name, name)
        overrides[key] = value
    if getattr(args, "group", None):
        overrides["groups"] = tuple(args.group)
    return OpsSettings(**overrides)


def add_kafka_arguments(parser: argparse.ArgumentParser) -> None:
    add_kafka_options(parser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-lag-exporter", description=__doc__.splitlines()[0])
    add_kafka_arguments(parser)
    parser.add_argument("--port", type=int, default=None, help="port of /metrics, /healthz and /readyz (default $MASH_OPS_METRICS_PORT, else 9108)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples (default $MASH_OPS_SAMPLE_INTERVAL_S, else 15)")
    parser.add_argument("--stall-after", type=float, default=None,
                        help="seconds a committed offset may stand still while messages wait (default "
                             "$MASH_OPS_STALL_AFTER_S, else 300)")
    parser.add_argument("--group", action="append", help="watch only this group, repeatable (default $MASH_OPS_GROUPS as a JSON list, "
                             "else every group of --group-prefix)")
    parser.add_argument("--group-prefix", default=None, help="watch groups starting with this (default $MASH_OPS_GROUP_PREFIX, else the "
                             "topic prefix)")
    parser.add_argument("--topic-filter", default=None, help="report topics starting with this (default $MASH_OPS_TOPIC_PREFIX, else the "
                             "topic prefix)")
    parser.add_argument("--log-level", default="INFO", help="default INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    settings = build_settings(args)
    registry = CollectorRegistry()
    exporter = LagExporter(settings, registry)
    serve_metrics(registry, settings.metrics_port, settings.metrics_host)
    logger.info("lag exporter sampling every %.0fs (stall window %.0fs)",
                settings.sample_interval_s, settings.stall_after_s)
    try:
        exporter.run()
    except KeyboardInterrupt:
        pass
    finally:
        exporter.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
