"""The personal-data canary: unique markers through every service, at DEBUG, found nowhere.

Referrals carry a unique marker in every personal field (names, address, postcode-like text,
narrative, household, referrer, consent override); agency adapters answer with records that
carry markers in their summaries and references, some in categories nobody asked for, and
one request is withdrawn. The services run as the main job runs them, each as its own
principal, at DEBUG; the adapters run in this process at DEBUG. Then every log line of every
service and adapter, every metric sample and label, and every dead letter's reason and error
text is searched for every marker. The figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry, generate_latest

from mash_common.contracts import (
    AgencyRecord,
    Consent,
    ConsentStatus,
    Contribution,
    DeadLetter,
    HouseholdMember,
    InformationRequest,
    Referral,
    Referrer,
    ReferrerType,
    Subject,
)
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_sdk import Answer
from mash_sdk.runtime import Adapter
from mash_sdk.settings import AdapterSettings
from tests.support.factories import referral
from tests.support.kafka import Received, TopicReader

pytestmark = pytest.mark.integration

MARK = "QZXCANARY"  # every marker starts with it; none is a word any library would print


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.lines.extend(text.splitlines() or [""])


def _marked_referral(n: int, source: str, kind: ReferrerType, override: bool = False) -> Referral:
    m = f"{MARK}{n:03d}"
    consent = Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                      override_reason=f"{m}reason", override_authorised_by=f"{m}authoriser") \
        if override else Consent(status=ConsentStatus.GIVEN)
    return referral(
        f"canary-{n}", source_system=source,
        referrer=Referrer(name=f"{m}referrer", role="Officer", organisation=f"{m}org",
                          agency_type=kind, contact=f"{m}@example.invalid"),
        subject=Subject(given_name=f"{m}given", family_name=f"{m}family",
                        date_of_birth=date(2015, 1, 1 + n % 27), address=f"{m} Street",
                        postcode="EX1 1AA"),
        household=[HouseholdMember(given_name=f"{m}mum", family_name=f"{m}family",
                                   relationship="mother")],
        narrative=f"{m} narrative: the child said something worrying",
        consent=consent)


def test_no_marker_reaches_a_log_a_metric_or_a_dead_letter(
    provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kafka = provisioned
    ports = {"intake": _free_port(), "enrichment": _free_port(), "routing": _free_port()}
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=8, due_amber_s=10, due_green_s=12, metrics_ports=ports,
        log_level="debug"))
    capture = _Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    serde = AvroSerde()
    registries: list[CollectorRegistry] = []
    adapters: list[Adapter] = []
    served: list[InformationRequest] = []

    def handler_for(agency: str) -> Callable[[InformationRequest], Answer]:
        def handle(request: InformationRequest) -> Answer:
            served.append(request)
            m = f"{MARK}{agency}"
            records = [AgencyRecord(category=c, summary=f"{m} summary of {c}", reference=f"{m}-ref")
                       for c in request.data_categories]
            # And one record nobody asked for: dropped, audited, counted, never printed.
            records.append(AgencyRecord(category=f"{m}-unasked", summary=f"{m} excess",
                                        reference=f"{m}-x"))
            return Answer.found(records)
        return handle

    hub = None
    try:
        pipeline.start(lambda _: None)
        for agency in sorted(secured_hub.hub.agencies):
            registry = CollectorRegistry()
            registries.append(registry)
            adapter = Adapter(AdapterSettings(agency=agency, kafka=secured_hub.agency(agency)),
                              handler_for(agency), registry=registry)
            adapters.append(adapter)
            adapter.start_in_thread()
        for adapter in adapters:
            assert adapter.ready.wait(30)
        hub = HubSystem(secured_hub.hub_system()).start()
        sent = [
            _marked_referral(1, "school-portal", ReferrerType.EDUCATION),
            _marked_referral(2, "police-niche", ReferrerType.POLICE, override=True),
            _marked_referral(3, "public-portal", ReferrerType.MEMBER_OF_PUBLIC, override=True),
            _marked_referral(4, "health-portal", ReferrerType.HEALTH),
            # Breaks the rules (no concerns): rejected, dead-lettered.
            _marked_referral(5, "lado-system", ReferrerType.LOCAL_AUTHORITY).model_copy(
                update={"concerns": []}),
            # Claims another sender: SENDER_MISMATCH.
            _marked_referral(6, "school-portal", ReferrerType.EDUCATION),
        ]
        topics = {1: "school-portal", 2: "police-niche", 3: "public-portal", 4: "health-portal",
                  5: "lado-system", 6: "public-portal"}
        producers: dict[str, Producer] = {}
        for i, ref in enumerate(sent, start=1):
            source = topics[i]
            producer = producers.setdefault(source, Producer(secured_hub.source(source).producer_config()))
            producer.produce(kafka.topics.referrals(source), key=ref.referral_id.encode(),
                             value=serde.encode(ref))
        assert all(p.flush(30) == 0 for p in producers.values())

        # Wait on the broker: every accepted referral's case assembled and decided.
        with TopicReader(provisioned, [kafka.topics.assembled, kafka.topics.deadletter,
                                                 kafka.topics.decisions]) as reader:
            def through(got: list[Received]) -> bool:
                names = [serde.decode_dict(m.value or b"")[0] for m in got]
                return names.count("Decision") >= 4 and names.count("DeadLetter") >= 2
            reader.poll_until(through, timeout_s=120)
            letters = [serde.decode(m.value or b"", DeadLetter) for m in reader.received
                       if serde.decode_dict(m.value or b"")[0] == "DeadLetter"]
            assembled = [m for m in reader.received if serde.decode_dict(m.value or b"")[0] == "AssembledCase"]
        # The hub's own output does carry the markers (it is where they belong), and no excess.
        for m in assembled:
            case = serde.decode_dict(m.value or b"")[1]
            for c in case["contributions"]:
                contribution = Contribution.model_validate(c)
                assert all("-unasked" not in r.category for r in contribution.records)
        assert any(MARK in r.subject.given_name for r in served if r.subject.given_name)

        metric_text = [httpx.get(f"http://127.0.0.1:{p}/metrics").text for p in ports.values()]
        metric_text += [generate_latest(r).decode() for r in registries]
    finally:
        if hub is not None:
            hub.stop()
        for adapter in adapters:
            adapter.stop()
        for adapter in adapters:
            adapter.stopped.wait(30)
        pipeline.stop()
        root.removeHandler(capture)
        root.setLevel(old_level)

    service_lines: list[str] = []
    for log in sorted(tmp_path.rglob("*.log")):
        service_lines += log.read_text(errors="replace").splitlines()
    letter_text = [f"{d.reason_code} {d.error}" for d in letters]
    metric_lines = [line for text in metric_text for line in text.splitlines()]
    pattern = re.compile(MARK)
    found = [line for line in (*service_lines, *capture.lines, *metric_lines, *letter_text)
             if pattern.search(line)]
    with capsys.disabled():
        print(f"\ncanary: {len(service_lines)} service log lines, {len(capture.lines)} adapter log "
              f"lines, {len(metric_lines)} metric lines, {len(letters)} dead letters scanned; "
              f"{len(sent)} referrals and {len(served)} served requests carried markers; "
              f"markers found: {len(found)}")
    assert len(service_lines) > 100 and len(capture.lines) > 10 and len(letters) >= 2
    assert any("DEBUG" in line for line in service_lines), "the services were not at DEBUG"
    assert found == []
