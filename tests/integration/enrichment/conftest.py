"""A real enrichment worker on a real broker, and the test playing intake and the agencies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from mash_common.access import Kind
from mash_common.contracts import (
    AgencyRecord,
    Consent,
    ConsentStatus,
    Contract,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    TriagedReferral,
    utcnow,
)
from mash_common.hubconfig import HubConfig
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from tests.support.factories import referral
from tests.support.processes import ServiceProcess

SERDE = AvroSerde()


class Hub:
    """The test's side of the broker: it produces what intake and the agencies would, each
    as its own principal (intake for triaged referrals, each agency on its own topic)."""

    def __init__(self, secured: SecuredHub) -> None:
        self.secured = secured
        self.settings = secured.admin
        self.names = self.settings.topics
        self._producers: dict[str, Producer] = {}

    def _producer(self, topic: str, as_agency: str | None) -> Producer:
        agency = as_agency or self.names.response_sender(topic)
        who = self.secured.agency(agency) if agency else self.secured.service("intake")
        key = agency or "intake"
        if key not in self._producers:
            # producer_config uses murmur2, as faust does, so a case's triaged records,
            # responses and table changelog share a partition number.
            self._producers[key] = Producer(who.producer_config())
        return self._producers[key]

    def send(self, topic: str, key: str, value: Contract | bytes, as_agency: str | None = None) -> None:
        data = value if isinstance(value, bytes) else SERDE.encode(value)
        producer = self._producer(topic, as_agency)
        producer.produce(topic, key=key.encode(), value=data)
        assert producer.flush(30) == 0

    def refer(self, case_id: str, rag: Rag, due_in_s: float, consent: ConsentStatus = ConsentStatus.GIVEN,
              referral_id: str | None = None) -> TriagedReferral:
        now = utcnow()
        triaged = TriagedReferral(
            case_id=case_id,
            referral=referral(referral_id or f"REF-{case_id}", consent=Consent(status=consent)),
            rag=rag, opened_at=now, due_at=now + timedelta(seconds=due_in_s), triaged_at=now,
            fired_rules=[],
        )
        self.send(self.names.triaged, case_id, triaged)
        return triaged

    def answer(self, request: InformationRequest, status: ResponseStatus = ResponseStatus.FOUND) -> None:
        response = InformationResponse(
            request_id=request.request_id, case_id=request.case_id, agency=request.agency,
            responded_at=utcnow(), status=status,
            records=[AgencyRecord(category=request.data_categories[0], summary="Synthetic record",
                                  reference=f"{request.agency}-1")] if status is ResponseStatus.FOUND else [],
            responder=Responder(name="Synthetic Officer", role="Safeguarding lead"),
        )
        self.send(self.names.responses(request.agency), request.case_id, response)

    def request_topics(self, hub: HubConfig) -> list[str]:
        return [self.names.requests(a, r) for a in sorted(hub.agencies) for r in Rag]


def enrichment_worker(secured: SecuredHub, log_dir: Path, **extra_env: str) -> ServiceProcess:
    return ServiceProcess(
        "enrichment",
        ["-m", "mash_hub.services.enrichment", "worker", "-l", "info"],
        {
            **secured.env(Kind.SERVICE, "enrichment"),
            "MASH_ENRICHMENT_DATADIR": str(log_dir / "data"),
            "MASH_ENRICHMENT_METRICS_PORT": "0",
            "MASH_ENRICHMENT_SESSION_TIMEOUT_S": "6",
            "MASH_ENRICHMENT_SWEEP_INTERVAL_S": "0.2",
            # Deadlines here run in elapsed seconds: chases too, at any hour.
            "MASH_ENRICHMENT_USE_WORKING_HOURS": "false",
            **extra_env,
        },
        log_dir,
    )


@pytest.fixture(scope="module")
def module_settings(module_hub: SecuredHub) -> KafkaSettings:
    return module_hub.admin


@pytest.fixture(scope="module")
def running_worker(module_hub: SecuredHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with enrichment_worker(module_hub, tmp_path_factory.mktemp("enrichment")).running() as worker:
        yield worker


def decode_all(received: list, model: type[Contract]) -> list:
    return [SERDE.decode(m.value, model) for m in received if m.value is not None]


def case_key(case_id: str) -> bytes:
    return case_id.encode()


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def at_ms(ts_ms: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
