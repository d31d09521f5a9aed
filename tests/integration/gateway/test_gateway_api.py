"""The gateway on the secured broker: it writes as each source, once per referral id, and
shows each source only its own outcomes, by polling and by server-sent events."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from mash_common.contracts import NotificationKind, OutcomeNotification, utcnow
from mash_common.serde import AvroSerde
from tests.integration.gateway.conftest import GatewayFactory, RunningGateway
from tests.support.referrals import FAMILY_NAME, GIVEN_NAME, referral_body

pytestmark = pytest.mark.integration


def _keys_on(gw: RunningGateway, source: str, timeout_s: float = 10.0) -> list[bytes]:
    """Every key on the source's referral topic (read as the administrator)."""
    admin = gw.hub.admin
    topic = admin.topics.referrals(source)
    consumer = Consumer(admin.confluent_config(**{"group.id": f"{admin.topic_prefix}probe-{uuid.uuid4().hex}",
                                                  "enable.partition.eof": True}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    keys: list[bytes] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(at_end) < len(partitions) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            at_end.add(msg.partition())
            continue
        keys.append(msg.key() or b"")
    consumer.close()
    return keys


def _post(gw: RunningGateway, source: str, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/referrals", json=body,
                      headers={"X-API-Key": gw.keys[source], **headers}, timeout=30)


def test_a_referral_is_accepted_once_and_a_resend_gets_the_same_answer(gateway: RunningGateway) -> None:
    rid = f"gw-{uuid.uuid4().hex[:8]}"
    first = _post(gateway, "school-portal", referral_body(rid))
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["referral_id"] == rid and answer["status"] == "ACCEPTED"
    assert answer["status_url"].endswith(f"/v1/referrals/{rid}") == first.headers["location"].endswith(rid)
    again = _post(gateway, "school-portal", referral_body(rid))
    assert again.status_code == 202 and again.json() == answer
    assert again.headers["idempotent-replayed"] == "true"
    changed = _post(gateway, "school-portal", referral_body(rid, narrative="Something else"))
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"
    assert GIVEN_NAME not in changed.text and FAMILY_NAME not in changed.text
    assert _keys_on(gateway, "school-portal").count(rid.encode()) == 1


def test_the_idempotency_key_stands_in_for_a_missing_referral_id(gateway: RunningGateway) -> None:
    key = uuid.uuid4().hex
    first = _post(gateway, "school-portal", referral_body(None), **{"Idempotency-Key": key})
    second = _post(gateway, "school-portal", referral_body(None), **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    plain = [_post(gateway, "school-portal", referral_body(None)) for _ in range(2)]
    assert [p.status_code for p in plain] == [202, 202]
    assert plain[0].json()["referral_id"] != plain[1].json()["referral_id"]


def test_the_first_answer_survives_a_restart(gateway_factory: GatewayFactory,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    datadir = tmp_path_factory.mktemp("restart")
    rid = f"gw-{uuid.uuid4().hex[:8]}"
    with gateway_factory(datadir) as gw:
        first = _post(gw, "police-niche", referral_body(rid))
        assert first.status_code == 202
    with gateway_factory(datadir) as gw:
        again = _post(gw, "police-niche", referral_body(rid))
        assert again.status_code == 202 and again.json()["accepted_at"] == first.json()["accepted_at"]
        assert _post(gw, "police-niche", referral_body(rid, narrative="changed")).status_code == 409
        assert _keys_on(gw, "police-niche").count(rid.encode()) == 1


def test_each_source_sees_only_its_own_referrals(gateway: RunningGateway) -> None:
    rid = f"gw-{uuid.uuid4().hex[:8]}"
    assert _post(gateway, "school-portal", referral_body(rid)).status_code == 202
    own = httpx.get(f"{gateway.url}/v1/referrals/{rid}", headers={"X-API-Key": gateway.keys["school-portal"]})
    other = httpx.get(f"{gateway.url}/v1/referrals/{rid}", headers={"X-API-Key": gateway.keys["police-niche"]})
    assert own.status_code == 200 and own.json()["status"] == "ACCEPTED"
    assert other.status_code == 404
    assert httpx.get(f"{gateway.url}/v1/referrals/{rid}").status_code == 401
    # The same id from another source is another referral (on the other source's topic).
    assert _post(gateway, "police-niche", referral_body(rid, narrative="x")).status_code == 202


def test_source_system_must_be_the_keys_own(gateway: RunningGateway) -> None:
    answer = _post(gateway, "school-portal", referral_body(f"gw-{uuid.uuid4().hex[:8]}",
                                                           source_system="police-niche"))
    assert answer.status_code == 403
    assert {"field": "source_system", "code": "sender_mismatch"} in answer.json()["errors"]


def test_the_broker_not_the_gateway_decides_who_may_write(gateway_factory: GatewayFactory) -> None:
    """Misconfigured so that the school portal's key acts as the police system: the broker
    refuses the write to the school portal's topic, and the gateway accepts nothing."""
    with gateway_factory(principal_of={"school-portal": "police-niche"}) as gw:
        answer = _post(gw, "school-portal", referral_body(f"gw-{uuid.uuid4().hex[:8]}"))
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"


def test_outcomes_arrive_by_polling_and_by_server_sent_events(gateway: RunningGateway) -> None:
    rid = f"gw-{uuid.uuid4().hex[:8]}"
    headers = {"X-API-Key": gateway.keys["school-portal"]}
    assert _post(gateway, "school-portal", referral_body(rid)).status_code == 202
    start = httpx.get(f"{gateway.url}/v1/outcomes", headers=headers).json()["next_after"]
    with httpx.stream("GET", f"{gateway.url}/v1/outcomes/stream", headers={**headers, "Last-Event-ID": str(start)},
                      timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        # What intake would send (as the administrator here: the test plays intake).
        notification = OutcomeNotification(
            notification_id=uuid.uuid4().hex, case_id="c-gw-1", referral_id=rid, recipient="school-portal",
            kind=NotificationKind.RECEIVED, sent_at=utcnow(), message="Received.")
        producer = Producer(gateway.hub.admin.producer_config())
        for _ in range(2):  # redelivered: seen once
            producer.produce(gateway.hub.admin.topics.outcomes("school-portal"), key=b"c-gw-1",
                             value=AvroSerde().encode(notification))
        assert producer.flush(10) == 0
        event: dict[str, str] = {}
        for line in stream.iter_lines():
            if ":" in line and not line.startswith(":"):
                name, _, value = line.partition(":")
                event[name] = value.strip()
            if "data" in event:
                break
    assert event["event"] == "outcome" and int(event["id"]) == start + 1
    assert json.loads(event["data"])["referral_id"] == rid
    status = httpx.get(f"{gateway.url}/v1/referrals/{rid}", headers=headers).json()
    assert status["status"] == "RECEIVED" and status["case_id"] == "c-gw-1"
    assert len(status["outcomes"]) == 1
    # Another source does not see it.
    other = httpx.get(f"{gateway.url}/v1/outcomes", headers={"X-API-Key": gateway.keys["police-niche"]})
    assert rid not in other.text


def test_health_readiness_and_metrics(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{gateway.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{gateway.url}/metrics/").text
    assert "mash_gateway_referrals_total" in metrics
    assert GIVEN_NAME not in metrics
