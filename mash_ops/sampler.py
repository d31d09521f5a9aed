"""Reads consumer-group lag from the cluster: committed offsets, log ends and the timestamp
of the oldest unconsumed message per partition. The arithmetic lives in mash_ops.lag."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from mash_ops.errors import BrokerUnavailableError
from mash_ops.lag import (
    GroupLag,
    LagSnapshot,
    PartitionLag,
    StallTracker,
    message_lag,
    time_lag_seconds,
    topic_labels,
)
from mash_ops.settings import OpsSettings

logger = logging.getLogger(__name__)

TPKey = tuple[str, int]
# The probe reached the log end without a record: only transaction markers (or compacted-away
# offsets) lie between the committed offset and the end. Nothing waits to be read.
NOTHING_TO_READ = -1


def _result(future: Future[Any], timeout_s: float, what: str) -> Any:
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"{what}: {exc.args[0]}") from None
    except TimeoutError:
        raise BrokerUnavailableError(f"{what}: no answer in {timeout_s}s") from None


class LagSampler:
    """Samples lag for the configured consumer groups. One instance keeps a probe consumer
    (never commits) and a cache of oldest-message timestamps, so repeated samples are cheap."""

    def __init__(
        self,
        settings: OpsSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._settings = settings
        kafka = settings.kafka
        self._admin = AdminClient(kafka.confluent_config())
        self._probe: Consumer | None = None
        self._wall_clock_ms = wall_clock_ms
        self._stalls = StallTracker(settings.stall_after_s, clock)
        # (topic, partition, offset) -> timestamp of the first message at or after that offset;
        # it never changes, so a partition that stays behind is read once, not every sample.
        self._timestamps: dict[tuple[str, int, int], int] = {}

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    # -- what to watch ------------------------------------------------------------------

    def groups(self) -> list[tuple[str, str]]:
        """(group id, state) of every watched group."""
        timeout = self._settings.request_timeout_s
        listing = _result(
            self._admin.list_consumer_groups(request_timeout=timeout), timeout, "list groups"
        )
        wanted = set(self._settings.groups)
        prefix = self._settings.effective_group_prefix
        found = []
        for g in listing.valid:
            if (g.group_id in wanted) if wanted else g.group_id.startswith(prefix):
                state = g.state.name if g.state is not None else "UNKNOWN"
                found.append((g.group_id, state))
        return sorted(found)

    def committed(self, groups: list[str]) -> dict[str, dict[TPKey, int]]:
        """Committed offsets of each group. One request per group (the protocol's limit),
        all in flight at once: a hub's broker can hold hundreds of groups."""
        timeout = self._settings.request_timeout_s
        prefix = self._settings.effective_topic_prefix
        futures = {
            group: self._admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=timeout)[group]
            for group in groups
        }
        out = {}
        for group, future in futures.items():
            result = _result(future, timeout, f"offsets of group {group}")
            out[group] = {
                (tp.topic, tp.partition): tp.offset
                for tp in result.topic_partitions or []
                if tp.offset >= 0 and tp.error is None and tp.topic.startswith(prefix)
            }
        return out

    def log_bounds(self, partitions: set[TPKey]) -> dict[TPKey, tuple[int, int]]:
        """(log start, log end) of each partition."""
        if not partitions:
            return {}
        timeout = self._settings.request_timeout_s
        bounds: dict[TPKey, list[int]] = {}
        for index, spec in enumerate((OffsetSpec.earliest(), OffsetSpec.latest())):
            futures = self._admin.list_offsets(
                {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=timeout)
            for tp, future in futures.items():
                try:
                    offset = future.result(timeout=timeout).offset
                except KafkaException as exc:  # topic deleted since the group committed to it
                    logger.warning("no offsets for %s[%d]: %s", tp.topic, tp.partition,
                                   exc.args[0])
                    continue
                bounds.setdefault((tp.topic, tp.partition), [0, 0])[index] = offset
        return {tp: (b[0], b[1]) for tp, b in bounds.items() if len(b) == 2}

    # -- oldest unconsumed message --------------------------------------------------------

    def _probe_consumer(self) -> Consumer:
        if self._probe is None:
            self._probe = Consumer(self._settings.kafka.confluent_config(**{
                "group.id": f"{self._settings.kafka.topic_prefix}mash-ops-lag-probe-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # The committed offset may have been deleted by retention: read the oldest left.
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
            }))
        return self._probe

    def _fetch_timestamps(self, wanted: dict[TPKey, int], timeout_s: float) -> dict[TPKey, int]:
        consumer = self._probe_consumer()
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        got: dict[TPKey, int] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while len(got) < len(wanted) and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=len(wanted), timeout=0.2):
                    tp = (msg.topic(), msg.partition())
                    error = msg.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF and tp in wanted:
                            got.setdefault(tp, NOTHING_TO_READ)
                        continue
                    if tp in wanted and tp not in got:
                        got[tp] = msg.timestamp()[1]
                        # One message per partition is all we need.
                        consumer.incremental_unassign([TopicPartition(*tp)])
        finally:
            consumer.unassign()
        missing = set(wanted) - set(got)
        if missing:
            logger.warning("could not read the oldest message of %d partitions", len(missing))
        return got

    # -- the sample -------------------------------------------------------------------

    def sample(self) -> LagSnapshot:
        now_ms = self._wall_clock_ms()
        try:
            groups = self.groups()
            raw = self.committed([group for group, _ in groups])
            bounds = self.log_bounds({tp for offsets in raw.values() for tp in offsets})
        except BrokerUnavailableError as exc:
            logger.warning("lag sample failed: %s", exc)
            return LagSnapshot(now_ms, (), reachable=False, error=str(exc))
        ends = {tp: end for tp, (_, end) in bounds.items()}
        # Messages deleted by retention no longer wait: a group behind the log start is
        # measured from the oldest message still there.
        committed = {
            group: {tp: max(offset, bounds[tp][0]) if tp in bounds else offset
                    for tp, offset in offsets.items()}
            for group, offsets in raw.items()
        }
        timestamps = self._timestamps_for(committed, ends)
        prefix = self._settings.kafka.topic_prefix
        seen: set[tuple[str, str, int]] = set()
        result = []
        for group, state in groups:
            parts = []
            for (topic, partition), offset in sorted(committed[group].items()):
                if (topic, partition) not in ends:
                    continue
                end = ends[(topic, partition)]
                lag = message_lag(offset, end)
                oldest = timestamps.get((topic, partition, offset))
                waiting = 0 if oldest == NOTHING_TO_READ else lag
                key = (group, topic, partition)
                seen.add(key)
                agency, rag = topic_labels(topic, prefix)
                parts.append(PartitionLag(
                    group=group, topic=topic, partition=partition,
                    committed=raw[group][(topic, partition)], log_end=end,
                    lag_messages=lag,
                    lag_seconds=time_lag_seconds(waiting, oldest, now_ms),
                    agency=agency, rag=rag,
                    stalled=self._stalls.observe(key, raw[group][(topic, partition)], waiting),
                ))
            result.append(GroupLag(group, state, tuple(parts)))
        self._stalls.forget_except(seen)
        return LagSnapshot(now_ms, tuple(result))

    def _timestamps_for(
        self, committed: dict[str, dict[TPKey, int]], ends: dict[TPKey, int]
    ) -> dict[tuple[str, int, int], int]:
        """Oldest-unconsumed timestamps for every (topic, partition, committed offset) that lags."""
        needed: set[tuple[str, int, int]] = {
            (*tp, offset)
            for offsets in committed.values()
            for tp, offset in offsets.items()
            if tp in ends and message_lag(offset, ends[tp]) > 0
        }
        out: dict[tuple[str, int, int], int] = {}
        pending = set(needed)
        # Different groups can sit at different offsets of one partition: one probe pass
        # per distinct offset of a partition.
        while pending:
            batch: dict[TPKey, int] = {}
            for topic, partition, offset in sorted(pending):
                batch.setdefault((topic, partition), offset)
            for tp, offset in batch.items():
                pending.discard((*tp, offset))
                cached = self._timestamps.get((*tp, offset))
                # "Nothing to read" is not cached: a record may have arrived since.
                if cached is not None and cached != NOTHING_TO_READ:
                    out[(*tp, offset)] = cached
            fetch = {tp: o for tp, o in batch.items() if (*tp, o) not in out}
            if fetch:
                for tp, ts in self._fetch_timestamps(fetch, timeout_s=3.0).items():
                    out[(*tp, fetch[tp])] = ts
        # Keep only what is still needed: the cache never outgrows the lagging partitions.
        self._timestamps = out
        return out
