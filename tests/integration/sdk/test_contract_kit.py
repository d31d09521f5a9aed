"""The contract kit passes on every reference adapter and on the simulated agencies, and
fails on adapters that break the contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from confluent_kafka import Consumer, Producer

from mash_common.access import Kind
from mash_common.contracts import InformationRequest, InformationResponse, Rag, Responder, utcnow
from mash_common.errors import SerdeError
from mash_common.partitioning import partition_for
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_sdk.contract_kit import KitOptions, Report, run_contract_kit
from mash_sdk.reference import build_handler
from mash_sdk.reference.config import ReferenceConfig
from mash_sdk.simulated import run_agencies
from tests.integration.sdk.conftest import StartAdapter

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration

KNOWN_NHS = "9990000018"
FIELDS = {"summary": "summary", "reference": "ref", "date": "recorded", "risk_flag": "flag"}
DECLINED = {"kit.decline": "not shared under the information-sharing agreement"}
BACKLOG = 150


def kit(kafka: KafkaSettings, agency: str, **options: Any) -> Report:
    report = run_contract_kit(kafka, KitOptions(agency=agency, timeout_s=20, backlog=BACKLOG,
                                                **options))
    print("\n" + report.render())
    return report


# The agency systems the reference adapters talk to ------------------------------------------


@pytest.fixture
def agency_http_server() -> Iterator[str]:
    """A stand-in for a police records API: GET /people/<nhs>/intel -> JSON, 404 if unknown."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            match = re.fullmatch(r"/people/(\d+)/intel(\?.*)?", self.path)
            if match and match.group(1) == KNOWN_NHS:
                body = json.dumps({"items": [{"summary": "Intelligence log entry", "ref": "PI-1",
                                              "recorded": "2025-06-01", "flag": True}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Silent: the stand-in agency server would log every request to stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def seed_database(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE IF EXISTS attendance"))
        conn.execute(sqlalchemy.text(
            "CREATE TABLE attendance (nhs VARCHAR(10), surname VARCHAR(50), dob DATE, "
            "note VARCHAR(200), ref VARCHAR(20), recorded DATE, flag BOOLEAN)"))
        conn.execute(sqlalchemy.text(
            "INSERT INTO attendance VALUES (:nhs, 'Testfield', :dob, 'Attendance 78% this term', "
            "'ATT-1', :rec, true)"), {"nhs": KNOWN_NHS, "dob": date(2015, 3, 1),
                                     "rec": date(2025, 11, 1)})
    engine.dispose()


def sql_config(agency: str, url: str) -> ReferenceConfig:
    return ReferenceConfig.model_validate({
        "agency": agency, "responder": {"name": "Schools safeguarding", "role": "Data officer"},
        "declined_categories": DECLINED,
        "sql": {"url": url, "categories": {"kit.general": {
            "query": "SELECT note AS summary, ref, recorded, flag FROM attendance "
                     "WHERE nhs = :nhs_number OR (surname = :family_name AND dob = :date_of_birth)",
            "fields": FIELDS}}}})


# Passing adapters -------------------------------------------------------------------------


def test_kit_passes_http_adapter(provisioned: KafkaSettings, secured_hub: SecuredHub, start_adapter: StartAdapter,
                                 agency_http_server: str) -> None:
    config = ReferenceConfig.model_validate({
        "agency": "police", "responder": {"name": "Force intelligence bureau", "role": "Analyst"},
        "declined_categories": DECLINED,
        "http": {"base_url": agency_http_server, "timeout_s": 2, "categories": {"kit.general": {
            "path": "/people/{nhs_number}/intel", "params": {"surname": "{family_name}"},
            "records_path": "items", "fields": FIELDS}}}})
    start_adapter("police", build_handler(config))
    report = kit(secured_hub.contract_kit, "police", category="kit.general", known_nhs=KNOWN_NHS)
    assert report.passed


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kit_passes_sql_adapter(provisioned: KafkaSettings, secured_hub: SecuredHub, start_adapter: StartAdapter,
                                database: str, tmp_path: Path,
                                request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'school.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    seed_database(url)
    handler = build_handler(sql_config("education", url))
    try:
        start_adapter("education", handler)
        assert kit(secured_hub.contract_kit, "education", category="kit.general", known_nhs=KNOWN_NHS).passed
    finally:
        handler.close()


def test_kit_passes_csv_adapter(provisioned: KafkaSettings, secured_hub: SecuredHub, start_adapter: StartAdapter,
                                tmp_path: Path) -> None:
    (tmp_path / "export-2026-01.csv").write_text(
        "NHS Number,Surname,Date of birth,Note,Ref,Recorded,Flag\n"
        f"{KNOWN_NHS},Testfield,01/03/2015,Homelessness application,H-9,2025-12-01,no\n")
    config = ReferenceConfig.model_validate({
        "agency": "housing", "responder": {"name": "Housing options", "role": "Officer"},
        "declined_categories": DECLINED,
        "csv": {"folder": str(tmp_path), "categories": {"kit.general": {
            "files": "export-*.csv",
            "columns": {"nhs_number": "NHS Number", "family_name": "Surname",
                        "date_of_birth": "Date of birth"},
            "keys": [["nhs_number"], ["family_name", "date_of_birth"]],
            "identifier_date_format": "%d/%m/%Y",
            "fields": {"summary": "Note", "reference": "Ref", "date": "Recorded",
                       "risk_flag": "Flag"}}}}})
    start_adapter("housing", build_handler(config))
    assert kit(secured_hub.contract_kit, "housing", category="kit.general", known_nhs=KNOWN_NHS).passed


def test_kit_cli_passes_on_simulated_agencies(provisioned: KafkaSettings, secured_hub: SecuredHub) -> None:
    """All six simulated agencies in one process; the kit's CLI checks one of them."""
    sim = run_agencies({a: secured_hub.agency(a) for a in sorted(secured_hub.hub.agencies)},
                       profile="instant")
    try:
        assert sim.wait_ready(60)
        known = sim.adapters[0].handler.knowledge.known[0]  # type: ignore[attr-defined]
        agency = sim.adapters[0].settings.agency
        out = subprocess.run(
            [sys.executable, "-m", "mash_sdk.contract_kit", "--agency", agency,
             "--client-config", str(secured_hub.client_config(Kind.TOOL, "contract-kit")),
         "--prefix", provisioned.topic_prefix,
             "--category", "any_category", "--known-nhs", known.nhs_number, "--timeout", "20",
             "--backlog", str(BACKLOG)],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        print(out.stdout, out.stderr)
        assert out.returncode == 0
        assert out.stdout.count("PASS") == 8 and "CONTRACT MET" in out.stdout
        assert "PASS  partitioning" in out.stdout
    finally:
        sim.stop()
    assert all(a.failure is None for a in sim.adapters)


# Broken adapters --------------------------------------------------------------------------


def broken_adapter(kafka: KafkaSettings, agency: str,
                   fault: str) -> tuple[threading.Event, threading.Thread]:
    """A hand-written adapter that breaks the contract: 'wrong-id' answers with a fresh
    request_id; 'crash-on-garbage' decodes without a dead-letter path and dies on garbage;
    'wrong-partition' picks its own partition instead of murmur2 of the key; 'ignores-revisions'
    answers every record it reads, superseded revisions and the hub's notices included."""
    stop = threading.Event()
    serde = AvroSerde()
    consumer = Consumer(kafka.confluent_config(**{
        "group.id": f"{kafka.topic_prefix}mash-adapter-{agency}-broken-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 50}))
    consumer.subscribe([kafka.topics.requests(agency, r) for r in Rag])
    producer = Producer(kafka.producer_config())
    while not consumer.assignment():
        consumer.poll(0.1)

    def loop() -> None:
        try:
            while not stop.is_set():
                msg = consumer.poll(0.1)
                if msg is None or msg.error():
                    continue
                try:
                    req = serde.decode(msg.value() or b"", InformationRequest)
                except SerdeError:
                    return  # the fault: garbage stops this adapter
                rid = f"wrong-{uuid.uuid4().hex}" if fault == "wrong-id" else req.request_id
                resp = InformationResponse(
                    request_id=rid, case_id=req.case_id, agency=agency, responded_at=utcnow(),
                    status="NOT_KNOWN", responder=Responder(name="Broken", role="Broken"))
                placed: dict[str, int] = {}
                if fault == "wrong-partition":
                    topic = producer.list_topics(kafka.topics.responses(agency), timeout=10)
                    count = len(topic.topics[kafka.topics.responses(agency)].partitions)
                    right = partition_for(req.case_id.encode(), count)
                    placed["partition"] = (right + 1) % count
                producer.produce(kafka.topics.responses(agency), key=req.case_id, value=serde.encode(resp),
                                 **placed)
                producer.flush(10)
        finally:
            consumer.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return stop, thread


@pytest.fixture
def broken(provisioned: KafkaSettings, secured_hub: SecuredHub) -> Iterator[Callable[[str, str], None]]:
    stops: list[tuple[threading.Event, threading.Thread]] = []
    yield lambda agency, fault: stops.append(broken_adapter(secured_hub.agency(agency), agency, fault))
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def test_kit_fails_adapter_with_wrong_request_id(provisioned: KafkaSettings, secured_hub: SecuredHub,
                                                 broken: Callable[[str, str], None]) -> None:
    broken("probation", "wrong-id")
    out = subprocess.run(
        [sys.executable, "-m", "mash_sdk.contract_kit", "--agency", "probation",
         "--client-config", str(secured_hub.client_config(Kind.TOOL, "contract-kit")),
         "--prefix", provisioned.topic_prefix,
         "--timeout", "5", "--checks", "answers,not-known,declines"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    print(out.stdout, out.stderr)
    assert out.returncode == 1
    assert "FAIL  answers" in out.stdout and "with request_id 'wrong-" in out.stdout
    assert "CONTRACT NOT MET" in out.stdout


def test_kit_fails_adapter_that_dies_on_garbage(provisioned: KafkaSettings, secured_hub: SecuredHub,
                                                broken: Callable[[str, str], None]) -> None:
    broken("social-care", "crash-on-garbage")
    report = run_contract_kit(secured_hub.contract_kit, KitOptions(agency="social-care", timeout_s=5,
                                                      checks=("answers", "malformed")))
    print("\n" + report.render())
    results = {r.name: r for r in report.results}
    assert results["answers"].passed  # it does answer well-formed requests...
    assert not results["malformed"].passed  # ...but not after garbage
    assert "not dead-lettered" in results["malformed"].detail
    assert not report.passed


def test_kit_fails_adapter_whose_answers_land_on_the_wrong_partition(
        provisioned: KafkaSettings, secured_hub: SecuredHub, broken: Callable[[str, str], None]) -> None:
    broken("housing", "wrong-partition")
    report = run_contract_kit(secured_hub.contract_kit, KitOptions(agency="housing", timeout_s=10,
                                                      checks=("answers",)))
    print("\n" + report.render())
    results = {r.name: r for r in report.results}
    assert results["answers"].passed
    assert not results["partitioning"].passed
    assert "murmur2 of its key gives" in results["partitioning"].detail
    assert not report.passed


def test_kit_fails_adapter_that_answers_superseded_revisions(
        provisioned: KafkaSettings, secured_hub: SecuredHub, broken: Callable[[str, str], None]) -> None:
    broken("police", "ignores-revisions")
    report = run_contract_kit(secured_hub.contract_kit, KitOptions(agency="police", timeout_s=15,
                                                      checks=("supersession",)))
    print("\n" + report.render())
    [result] = report.results
    assert not result.passed and "answered 3 times" in result.detail

