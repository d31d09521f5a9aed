"""The trust boundary on the real, secured broker: every row is executed.

Each kind of principal's allowed operations succeed, and everything its role does not need
is refused with the broker's own authentication or authorisation error. The principals and
ACLs are the ones `mash-access` creates from config/hub.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from mash_common.access import Kind
from mash_common.settings import KafkaSettings, SecurityProtocol
from mash_common.topics import TopicNames
from mash_hub.demo.access import SecuredHub

pytestmark = pytest.mark.integration

OK = "ok"
DENIED_TOPIC = KafkaError.TOPIC_AUTHORIZATION_FAILED
DENIED_GROUP = KafkaError.GROUP_AUTHORIZATION_FAILED


@dataclass(frozen=True)
class Row:
    who: tuple[Kind, str]
    op: str  # "read" or "write"
    topic: Callable[[TopicNames], str]
    expect: object  # OK or the broker's error code
    group: str | None = None  # a group id other than the principal's own (read rows)

    def __str__(self) -> str:
        return f"{self.who[0].value}.{self.who[1]} {self.op}"


def produce_once(settings: KafkaSettings, topic: str) -> object:
    """OK if the broker accepted the record, else the error it gave."""
    errors: list[KafkaError] = []
    producer = Producer(settings.producer_config(**{"message.timeout.ms": 15000}))
    try:
        producer.produce(topic, key=b"matrix", value=b"matrix probe",
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
        assert producer.flush(30) == 0, "delivery report never came"
    except KafkaException as exc:
        # A principal that may write nothing at all cannot even get an idempotent producer
        # id: the broker refuses that as a cluster authorisation failure (fatal).
        return exc.args[0].code()
    return errors[0].code() if errors else OK


def consume_once(settings: KafkaSettings, topic: str, group: str) -> object:
    """OK once a record is read through a group subscription, else the broker's error."""
    consumer = Consumer(settings.confluent_config(**{
        "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([topic])
    try:
        for _ in range(150):  # at most ~30 s of 0.2 s polls, each waiting on the broker
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                return msg.error().code()
            return OK
    finally:
        consumer.close()
    raise AssertionError(f"neither a record nor an error from {topic}")


@pytest.fixture(scope="module")
def seeded(module_hub: SecuredHub) -> SecuredHub:
    """One record on every topic a row reads, written by the administrator."""
    names = module_hub.admin.topics
    for topic in {row.topic(names) for row in ROWS if row.op == "read"}:
        assert produce_once(module_hub.admin, topic) == OK
    return module_hub


ROWS = [
    # allowed
    Row((Kind.AGENCY, "police"), "read", lambda n: n.requests("police", _red()), OK),
    Row((Kind.AGENCY, "police"), "write", lambda n: n.responses("police"), OK),
    Row((Kind.AGENCY, "police"), "read", lambda n: n.outcomes("police"), OK),
    Row((Kind.SOURCE, "police-niche"), "write", lambda n: n.referrals("police-niche"), OK),
    Row((Kind.SOURCE, "police-niche"), "read", lambda n: n.outcomes("police-niche"), OK),
    Row((Kind.HUB, "case-management"), "read", lambda n: n.assembled, OK),
    Row((Kind.HUB, "case-management"), "write", lambda n: n.decisions, OK),
    Row((Kind.SERVICE, "intake"), "read", lambda n: n.referrals("school-portal"), OK),
    Row((Kind.SERVICE, "intake"), "write", lambda n: n.triaged, OK),
    Row((Kind.SERVICE, "enrichment"), "write", lambda n: n.requests("health", _red()), OK),
    Row((Kind.SERVICE, "routing"), "write", lambda n: n.outcomes("public-portal"), OK),
    Row((Kind.OPS, "reader"), "read", lambda n: n.assembled, OK),
    Row((Kind.BOARD, "case-board"), "read", lambda n: n.assembled, OK),
    Row((Kind.BOARD, "case-board"), "read", lambda n: n.responses("health"), OK),
    Row((Kind.OPS, "replay"), "write", lambda n: n.referrals("public-portal"), OK),
    # refused: an agency beyond its own requests and responses
    Row((Kind.AGENCY, "police"), "read", lambda n: n.requests("health", _red()), DENIED_TOPIC),
    Row((Kind.AGENCY, "police"), "write", lambda n: n.responses("health"), DENIED_TOPIC),
    Row((Kind.AGENCY, "police"), "write", lambda n: n.decisions, DENIED_TOPIC),
    Row((Kind.AGENCY, "police"), "write", lambda n: n.assembled, DENIED_TOPIC),
    Row((Kind.AGENCY, "police"), "read", lambda n: n.requests("police", _red()), DENIED_GROUP,
        group="mash-adapter-health"),
    # refused: a source system beyond its own referrals and outcomes
    Row((Kind.SOURCE, "public-portal"), "read", lambda n: n.outcomes("police-niche"), DENIED_TOPIC),
    Row((Kind.SOURCE, "public-portal"), "read", lambda n: n.assembled, DENIED_TOPIC),
    Row((Kind.SOURCE, "public-portal"), "write", lambda n: n.triaged, DENIED_TOPIC),
    Row((Kind.SOURCE, "public-portal"), "write", lambda n: n.referrals("police-niche"), DENIED_TOPIC),
    # refused: a hub system, a service and read-only operations beyond their roles
    Row((Kind.HUB, "case-management"), "write", lambda n: n.assembled, DENIED_TOPIC),
    Row((Kind.HUB, "case-management"), "read", lambda n: n.requests("police", _red()), DENIED_TOPIC),
    Row((Kind.SERVICE, "routing"), "write", lambda n: n.assembled, DENIED_TOPIC),
    Row((Kind.OPS, "reader"), "write", lambda n: n.deadletter, KafkaError.CLUSTER_AUTHORIZATION_FAILED),
    # refused: the board reads what it shows and writes nothing
    Row((Kind.BOARD, "case-board"), "read", lambda n: n.outcomes("police-niche"), DENIED_TOPIC),
    Row((Kind.BOARD, "case-board"), "write", lambda n: n.decisions,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED),
    # the audit store reads mash.audit and nothing else; it writes nothing
    Row((Kind.SERVICE, "auditstore"), "read", lambda n: n.audit, OK),
    Row((Kind.SERVICE, "auditstore"), "read", lambda n: n.triaged, DENIED_TOPIC),
    Row((Kind.SERVICE, "auditstore"), "read", lambda n: n.audit, DENIED_GROUP,
        group="mash-routing"),
    Row((Kind.SERVICE, "auditstore"), "write", lambda n: n.audit,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED),
    # the erasure operator writes tombstones where a case is keyed, reads triaged and the assembled cases
    Row((Kind.OPS, "erasure"), "write", lambda n: n.assembled, OK),
    # Rectification rebuilds a case from its latest assembled version: erasure may read it.
    Row((Kind.OPS, "erasure"), "read", lambda n: n.assembled, OK),
    Row((Kind.OPS, "erasure"), "read", lambda n: n.decisions, DENIED_TOPIC),
    Row((Kind.OPS, "erasure"), "write", lambda n: n.deadletter, DENIED_TOPIC),
]


def _red():  # type: ignore[no-untyped-def]  # a lazy import keeps the table readable
    from mash_common.contracts import Rag

    return Rag.RED


@pytest.mark.parametrize("row", ROWS, ids=[f"{i:02d}-{r}-{'ok' if r.expect == OK else 'denied'}"
                                           for i, r in enumerate(ROWS)])
def test_access_matrix(seeded: SecuredHub, row: Row) -> None:
    kind, party = row.who
    settings = seeded.settings(kind, party)
    names = seeded.admin.topics
    topic = row.topic(names)
    if row.op == "write":
        got = produce_once(settings, topic)
    else:
        principal = seeded.principal(kind, party)
        group = (f"{seeded.admin.topic_prefix}{row.group}" if row.group
                 else f"{principal.group_prefix}-matrix-{uuid.uuid4().hex[:6]}")
        got = consume_once(settings, topic, group)
    assert got == row.expect, f"{row} {topic}: got {got}, expected {row.expect}"


def _connection_errors(config: dict[str, object]) -> list[KafkaError]:
    """The errors a client reports while it tries to connect; it must get no metadata."""
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=5)
    errors: list[KafkaError] = []
    producer = Producer({**config, "error_cb": errors.append})
    for _ in range(40):  # up to ~20 s; each poll serves the client's error callbacks
        producer.poll(0.5)
        if errors:
            break
    return errors


def test_a_wrong_password_is_refused_by_authentication(module_hub: SecuredHub) -> None:
    settings = module_hub.agency("police")
    config = settings.confluent_config(**{"sasl.password": "not-the-password"})
    del config["logger"]
    errors = _connection_errors(config)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert "not-the-password" not in " ".join(e.str() for e in errors)


def test_an_anonymous_connection_gets_nothing(module_hub: SecuredHub) -> None:
    admin = module_hub.admin
    # TLS without SASL: the listener insists on authentication first.
    anonymous_tls = KafkaSettings(bootstrap_servers=admin.bootstrap_servers,
                                  security_protocol=SecurityProtocol.SSL,
                                  ssl_ca_location=admin.ssl_ca_location).confluent_config()
    del anonymous_tls["logger"]
    assert _connection_errors(anonymous_tls)
    # Plain text: there is no plaintext listener at all unless an operator asks for one.
    plain = KafkaSettings(bootstrap_servers=admin.bootstrap_servers,
                          security_protocol=SecurityProtocol.PLAINTEXT).confluent_config()
    del plain["logger"]
    assert _connection_errors(plain)


def _kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("kcat is not installed (Debian: kcat); CI installs it")
        pytest.skip("kcat is not installed (Debian: kcat)")
    return found


def test_kcat_takes_a_principals_client_config_as_it_is(seeded: SecuredHub) -> None:
    kcat = _kcat()
    names = seeded.admin.topics
    police = str(seeded.client_config(Kind.AGENCY, "police"))
    listed = subprocess.run([kcat, "-F", police, "-L", "-t", names.requests("police", _red())],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert names.requests("police", _red()) in listed.stdout and "sasl_ssl://" in listed.stdout
    # The same file cannot read another agency's requests: the broker says no.
    refused = subprocess.run([kcat, "-F", police, "-C", "-t", names.requests("health", _red()),
                              "-o", "beginning", "-e", "-q"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "Topic authorization failed" in refused.stderr
