"""An assembled case is forgotten after the retention period, and not before: a late answer
within it amends the case; after it, the answer is an unknown request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mash_common.contracts import DeadLetter, Rag
from mash_common.hubconfig import HubConfig
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.integration.enrichment.conftest import SERDE, Hub, enrichment_worker
from tests.integration.enrichment.test_gather_flow import cases_for, new_case, requests_for
from tests.support.kafka import Received, TopicReader
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

KEEP_S = 4


@pytest.fixture
def short_memory_worker(secured_hub: SecuredHub, tmp_path: Path) -> Iterator[ServiceProcess]:
    worker = enrichment_worker(secured_hub, tmp_path,
                               MASH_ENRICHMENT_FORGET_ASSEMBLED_AFTER_S=str(KEEP_S))
    with worker.running():
        yield worker


def test_assembled_case_is_forgotten_after_retention(
    provisioned: KafkaSettings, secured_hub: SecuredHub, hub_config: HubConfig, short_memory_worker: ServiceProcess
) -> None:
    hub = Hub(secured_hub)
    names = provisioned.topics
    case_id = new_case()
    hub.refer(case_id, Rag.RED, due_in_s=2)
    topics = [*hub.request_topics(hub_config), names.assembled, names.deadletter]
    with TopicReader(provisioned, topics) as reader:
        got = reader.poll_until(lambda r: len(requests_for(r, case_id)) >= 6, timeout_s=30)
        reqs = {r.agency: r for r in requests_for(got, case_id) if not r.is_chase}
        got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 1, timeout_s=30)
        hub.answer(reqs["housing"])  # within the retention: amends
        got = reader.poll_until(lambda r: len(cases_for(r, hub, case_id)) >= 2, timeout_s=30)
        assert [c.version for c in cases_for(got, hub, case_id)] == [1, 2]

        short_memory_worker.wait_for_log(rf"case {case_id} forgotten", timeout_s=30)
        hub.answer(reqs["police"])  # after it: the request is no longer known

        def dead(r: list[Received]) -> list[DeadLetter]:
            return [SERDE.decode(m.value, DeadLetter) for m in r
                    if m.topic == names.deadletter and m.key == case_id.encode() and m.value]

        got = reader.poll_until(lambda r: len(dead(r)) >= 1, timeout_s=30)
        assert [d.reason_code for d in dead(got)] == ["UNKNOWN_REQUEST"]
        assert [c.version for c in cases_for(reader.drain(1.0), hub, case_id)] == [1, 2]
