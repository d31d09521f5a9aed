"""The simulator CLI runs all six agencies in one process and shuts down cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mash_common.contracts import InformationResponse, Rag, ResponseStatus
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_sdk.simulated import SIX_AGENCIES, population
from mash_sdk.simulated.population import AgencyKnowledge
from mash_sdk.testing import make_request
from tests.integration.sdk.test_runtime import _free_port
from tests.support.kafka import TopicReader, produce_records
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_six_agencies_one_process_sigterm(provisioned: KafkaSettings, secured_hub: SecuredHub,
                                          tmp_path: Path) -> None:
    port = _free_port()
    proc = ServiceProcess("simulated", [
        "-m", "mash_sdk.simulated", "--profile", "instant", "--seed", "4",
        "--clients-dir", str(secured_hub.clients_dir), "--prefix", provisioned.topic_prefix,
        "--health-port", str(port)], {}, tmp_path).start()
    try:
        for agency in SIX_AGENCIES:
            proc.wait_for_log(rf"adapter {agency} assigned \d+ partitions", 60)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        person = population(4)[0]
        requests = [make_request(a, Rag.AMBER, subject=person.identifiers(),
                                 data_categories=["history"], case_id="case-1") for a in SIX_AGENCIES]
        for r in requests:
            produce_records(provisioned, provisioned.topics.requests(r.agency, r.rag), [(r.case_id, r)])
        with TopicReader(provisioned, [provisioned.topics.responses(a) for a in SIX_AGENCIES]) as reader:
            got = reader.read_count(6, timeout_s=60)
        serde = AvroSerde()
        answers = {x.agency: x for x in (serde.decode(m.value or b"", InformationResponse) for m in got)}
        assert set(answers) == set(SIX_AGENCIES)
        for agency, answer in answers.items():
            knows = AgencyKnowledge(agency, 4).find(person.identifiers()) is not None
            assert answer.status is (ResponseStatus.FOUND if knows else ResponseStatus.NOT_KNOWN)
        assert answers["health"].responder.name.startswith("Example Integrated Care Board")
    finally:
        proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0, proc.tail()
    assert "stopped cleanly" in proc.log_text()
    assert person.family_name not in proc.log_text() and person.nhs_number not in proc.log_text()
