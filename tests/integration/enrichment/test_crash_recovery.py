"""Deadlines survive a SIGKILL: each fires exactly once, never before it is due.

Three groups of cases: due before the kill (they must not fire again after the restart),
due while the worker is down (they fire once its partitions are recovered), and due after
the restart (they fire on time). Lateness figures are printed for the issue report.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mash_common.contracts import (
    AssembledCase,
    Completeness,
    InformationRequest,
    Rag,
    TriagedReferral,
    utcnow,
)
from mash_common.hubconfig import HubConfig
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_hub.services.enrichment.logic import GatherState, Phase
from mash_hub.services.enrichment.store import decode_state
from tests.integration.enrichment.conftest import SERDE, Hub, enrichment_worker
from tests.support.kafka import Received, TopicReader
from tests.support.processes import FAUST_READY

pytestmark = pytest.mark.integration


def _cases(received: list[Received], topic: str) -> list[tuple[AssembledCase, int]]:
    return [(SERDE.decode(m.value, AssembledCase), m.timestamp_ms) for m in received
            if m.topic == topic and m.value is not None]


def _assembled_in_changelog(received: list[Received], case_ids: set[str]) -> set[str]:
    """Cases whose gather state in the changelog says ASSEMBLED (the last write per key)."""
    last: dict[str, GatherState] = {}
    for m in received:
        if m.key is not None and m.value is not None and m.key.decode() in case_ids:
            last[m.key.decode()] = decode_state(m.value)
    return {k for k, v in last.items() if v.phase is Phase.ASSEMBLED and v.version == 1}


def _summary(values: list[float]) -> str:
    return f"n={len(values)} p50={statistics.median(values):.3f}s max={max(values):.3f}s"


def test_sigkill_with_pending_deadlines_fires_each_exactly_once_never_early(
    provisioned: KafkaSettings, secured_hub: SecuredHub, hub_config: HubConfig, tmp_path: Path
) -> None:
    hub = Hub(secured_hub)
    names = provisioned.topics
    changelog = f"{provisioned.topic_prefix}mash-enrichment-gather-changelog"
    worker = enrichment_worker(secured_hub, tmp_path)
    worker.start()
    try:
        worker.wait_for_log(FAUST_READY, timeout_s=90)
        run = uuid.uuid4().hex[:6]
        sent: dict[str, TriagedReferral] = {}
        groups: dict[str, list[str]] = {"before_kill": [], "while_down": [], "after_restart": []}
        plan = [("before_kill", 2.0, 3), ("while_down", 6.0, 6), ("after_restart", 32.0, 4)]
        for group, due_in, count in plan:
            for i in range(count):
                case_id = f"CASE-{run}-{group}-{i}"
                sent[case_id] = hub.refer(case_id, Rag.AMBER, due_in_s=due_in + 0.5 * i)
                groups[group].append(case_id)

        with TopicReader(provisioned, [names.assembled]) as cases_reader, \
                TopicReader(provisioned, [changelog]) as changelog_reader:
            early = set(groups["before_kill"])
            cases_reader.poll_until(
                lambda r: {c.case_id for c, _ in _cases(r, names.assembled)} >= early, timeout_s=30)
            # The state change of a timer-fired deadline reaches the changelog on its own
            # (no input offset carries it): wait until it has, then crash.
            changelog_reader.poll_until(
                lambda r: _assembled_in_changelog(r, early) == early, timeout_s=30)
            assert not any(c.case_id in groups["while_down"] for c, _ in _cases(cases_reader.received, names.assembled))
            worker.kill()
            # Stay down until every "while_down" deadline has passed, watching that nothing
            # fires meanwhile.
            last_due = max(sent[c].due_at for c in groups["while_down"])
            cases_reader.poll_until(lambda r: utcnow() > last_due, timeout_s=30)
            assert {c.case_id for c, _ in _cases(cases_reader.received, names.assembled)} == early

            worker.start()
            worker.wait_for_log(FAUST_READY, timeout_s=90)
            cases_reader.poll_until(
                lambda r: {c.case_id for c, _ in _cases(r, names.assembled)} >= set(sent), timeout_s=90)
            received = cases_reader.drain(quiet_s=3.0)
    finally:
        worker.stop()

    assembled = _cases(received, names.assembled)
    by_case: dict[str, list[tuple[AssembledCase, int]]] = {}
    for case, ts in assembled:
        by_case.setdefault(case.case_id, []).append((case, ts))
    assert set(by_case) == set(sent)
    for case_id, versions in by_case.items():
        assert [c.version for c, _ in versions] == [1], f"{case_id} assembled {len(versions)} times"
        case, ts_ms = versions[0]
        due = sent[case_id].due_at
        assert case.due_at == due
        assert case.assembled_at >= due, f"{case_id} fired early"
        assert ts_ms >= int(due.timestamp() * 1000), f"{case_id} record written before due"

    print()
    for group, ids in groups.items():
        by_field = [(by_case[c][0][0].assembled_at - sent[c].due_at).total_seconds() for c in ids]
        by_ts = [by_case[c][0][1] / 1000 - sent[c].due_at.timestamp() for c in ids]
        print(f"lateness {group:14} assembled_at-due_at {_summary(by_field)}; "
              f"kafka timestamp-due_at {_summary(by_ts)}")


def test_answers_the_broker_took_before_the_deadline_count_on_time_after_a_crash(
    provisioned: KafkaSettings, secured_hub: SecuredHub, hub_config: HubConfig, tmp_path: Path
) -> None:
    """Enrichment is killed; every agency answers while it is down, in time; the deadline
    passes before it is back. Restarted, it must assemble the case COMPLETE, not PARTIAL:
    the answers were on the broker before the deadline."""
    hub = Hub(secured_hub)
    names = provisioned.topics
    worker = enrichment_worker(secured_hub, tmp_path)
    case_id = f"CASE-{uuid.uuid4().hex[:6]}-ontime"
    with TopicReader(provisioned, [names.assembled, *hub.request_topics(hub_config)]) as reader:
        worker.start()
        try:
            worker.wait_for_log(FAUST_READY, timeout_s=90)
            triaged = hub.refer(case_id, Rag.AMBER, due_in_s=6)
            got = reader.poll_until(
                lambda r: sum(1 for m in r if m.key == case_id.encode()) >= 6, timeout_s=30)
            requests = [SERDE.decode(m.value, InformationRequest) for m in got
                        if m.key == case_id.encode() and m.value is not None
                        and m.topic != names.assembled]
            worker.kill()
            for request in requests:
                hub.answer(request)
            # The deadline passes while the worker is down (waiting for a clock time, not
            # for an outcome).
            while utcnow() <= triaged.due_at + timedelta(seconds=1):
                time.sleep(0.1)
            worker.start()
            worker.wait_for_log(FAUST_READY, timeout_s=90)
            got = reader.poll_until(
                lambda r: any(m.topic == names.assembled and m.key == case_id.encode() for m in r),
                timeout_s=60)
        finally:
            worker.stop()
    [case] = [SERDE.decode(m.value, AssembledCase) for m in got
              if m.topic == names.assembled and m.key == case_id.encode() and m.value]
    assert case.completeness is Completeness.COMPLETE and case.missing_agencies == []
    assert not any(c.late for c in case.contributions)
