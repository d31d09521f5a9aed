"""The adapter runtime on a real broker: errors become answers, garbage becomes dead letters,
chases are re-answered, async handlers work, /healthz tells the truth."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from confluent_kafka import Producer

from mash_common import deadletters
from mash_common.contracts import (
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    ResponseStatus,
)
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_sdk import Answer, TransientError
from mash_sdk.testing import make_request
from tests.integration.sdk.conftest import StartAdapter
from tests.support.kafka import TopicReader, produce_records

pytestmark = pytest.mark.integration
SECRET_NAME = "Zebedee-Privatename"


def test_failures_garbage_and_chases(provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    topics = provisioned.topics
    serde = AvroSerde()
    calls: dict[str, int] = {}

    def handle(request: InformationRequest) -> Answer:
        calls[request.request_id] = calls.get(request.request_id, 0) + 1
        if request.request_id == "boom":
            raise ValueError(f"lookup failed for {request.subject.given_name}")  # PII in text
        if request.request_id == "flaky":
            if calls["flaky"] < 3:
                raise TransientError("agency system restarting")
            return Answer.not_known()
        if request.request_id == "down":
            raise TransientError("agency system down")
        return Answer.not_known()

    adapter = start_adapter("health", handle, backoff_initial_s=0.01, max_attempts=4,
                            health_port=_free_port())
    subject = make_request("health").subject.model_copy(update={"given_name": SECRET_NAME})
    reqs = [make_request("health", Rag.AMBER, request_id=rid, case_id=f"c-{rid}", subject=subject)
            for rid in ("boom", "flaky", "down")]
    green_topic = topics.requests("health", Rag.GREEN)
    produce_records(provisioned, topics.requests("health", Rag.AMBER), [(r.case_id, r) for r in reqs])
    sender = Producer(provisioned.producer_config())
    sender.produce(green_topic, key=b"c-after", value=b"\xc3\x01garbage",
                   headers=[("trace-id", b"t-1")], timestamp=1_790_000_000_000)
    assert sender.flush(30) == 0
    after = make_request("health", Rag.GREEN, request_id="after", case_id="c-after")
    produce_records(provisioned, green_topic, [(after.case_id, after)])

    with TopicReader(provisioned, [topics.responses("health"), topics.deadletter]) as reader:
        got = reader.read_count(5, timeout_s=60)
        responses = {r.request_id: r for r in (serde.decode(m.value or b"", InformationResponse)
                                               for m in got if m.topic == topics.responses("health"))}
        letters = [serde.decode(m.value or b"", DeadLetter) for m in got
                   if m.topic == topics.deadletter]
        assert responses["boom"].status is ResponseStatus.ERROR
        assert responses["boom"].reason == "adapter handler failed (ValueError)"
        assert responses["flaky"].status is ResponseStatus.NOT_KNOWN and calls["flaky"] == 3
        assert responses["down"].status is ResponseStatus.ERROR and calls["down"] == 4
        assert responses["after"].status is ResponseStatus.NOT_KNOWN
        assert responses["after"].responder.name == "Agency safeguarding team"
        [letter] = letters
        assert (letter.topic, letter.value, letter.key) == (green_topic, b"\xc3\x01garbage", b"c-after")
        assert letter.stage == "adapter.health" and letter.reason_code == "CORRUPT_BODY"
        # The original's headers and timestamp, and Kafka Connect's error headers.
        [raw] = [m for m in got if m.topic == topics.deadletter]
        assert raw.timestamp_ms == 1_790_000_000_000
        assert raw.headers[0] == ("trace-id", b"t-1")
        assert deadletters.as_text(raw.headers) == {
            deadletters.TOPIC: green_topic, deadletters.PARTITION: str(letter.partition),
            deadletters.OFFSET: str(letter.offset),
            deadletters.EXCEPTION_CLASS: "mash_common.errors.CorruptBodyError",
            deadletters.EXCEPTION_MESSAGE: letter.error, deadletters.STAGE: "adapter.health",
        }

        # A chase of an answered request re-sends the same answer without asking the agency.
        chase = after.model_copy(update={"is_chase": True, "chase_number": 1})
        produce_records(provisioned, green_topic, [(chase.case_id, chase)])
        reader.read_count(6, timeout_s=30)
        again = serde.decode(reader.received[-1].value or b"", InformationResponse)
        assert again == responses["after"] and calls["after"] == 1

    health = httpx.get(f"http://127.0.0.1:{adapter.settings.health_port}/healthz")
    assert health.status_code == 200, health.text
    metrics = httpx.get(f"http://127.0.0.1:{adapter.settings.health_port}/metrics").text
    assert 'mash_adapter_requests_total{agency="health",rag="AMBER",status="ERROR"} 2.0' in metrics
    assert "mash_adapter_handler_latency_seconds_bucket" in metrics
    assert "mash_adapter_queue_lag" in metrics
    assert 'mash_adapter_deadletters_total{agency="health",reason="CORRUPT_BODY"} 1.0' in metrics
    assert SECRET_NAME not in metrics
    adapter.stop()
    assert adapter.stopped.wait(30)
    assert adapter.health()[0] is False


def test_async_handler(provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    async def handle(request: InformationRequest) -> Answer:
        await asyncio.sleep(0.01)
        return Answer.declined("no consent recorded")

    start_adapter("housing", handle)
    req = make_request("housing", Rag.RED)
    produce_records(provisioned, provisioned.topics.requests("housing", Rag.RED), [(req.case_id, req)])
    with TopicReader(provisioned, [provisioned.topics.responses("housing")]) as reader:
        [msg] = reader.read_count(1, timeout_s=30)
    response = AvroSerde().decode(msg.value or b"", InformationResponse)
    assert msg.key == req.case_id.encode()
    assert (response.request_id, response.status, response.reason) == (
        req.request_id, ResponseStatus.DECLINED, "no consent recorded")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    """A handler object: answers requests, and is told of withdrawals by its withdraw hook."""

    def __init__(self) -> None:
        self.answered: list[str] = []
        self.withdrawn: list[str] = []
        self.withdrawal_seen = threading.Event()

    def __call__(self, request: InformationRequest) -> Answer:
        self.answered.append(request.request_id)
        return Answer.not_known()

    def withdraw(self, request: InformationRequest) -> None:
        self.withdrawn.append(request.request_id)
        self.withdrawal_seen.set()


def test_a_withdrawal_reaches_the_handler_and_is_never_answered(
        provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    handler = _Handler()
    start_adapter("health", handler)
    topic = provisioned.topics.requests("health", Rag.AMBER)
    pending = make_request("health", Rag.AMBER, request_id="gated", case_id="c-gated")
    withdrawal = pending.model_copy(update={"withdrawn": True,
                                            "withdrawal_reason": "consent refused or withdrawn"})
    # The same case, so the same partition: served in order, and answered in order.
    after = make_request("health", Rag.AMBER, request_id="after", case_id="c-gated")
    produce_records(provisioned, topic, [(withdrawal.case_id, withdrawal), (after.case_id, after)])
    with TopicReader(provisioned, [provisioned.topics.responses("health")]) as reader:
        # Had the withdrawal been answered, its answer would come first on the partition.
        [first] = reader.read_count(1, timeout_s=60)
    assert handler.withdrawal_seen.wait(30)
    assert AvroSerde().decode(first.value or b"", InformationResponse).request_id == "after"
    assert handler.withdrawn == ["gated"] and "gated" not in handler.answered
