"""Red before Green: a Red request overtakes a Green backlog of hundreds at one agency."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Producer

from mash_common.contracts import InformationRequest, InformationResponse, Rag, ResponseStatus
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_sdk import Answer
from mash_sdk.testing import make_request
from tests.integration.sdk.conftest import StartAdapter
from tests.support.kafka import TopicReader, produce_records

BACKLOG = 300
HANDLER_S = 0.01


def test_red_overtakes_green_backlog(provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    topics = provisioned.topics
    greens = [make_request("police", Rag.GREEN, case_id=f"case-g{i}") for i in range(BACKLOG)]
    produce_records(provisioned, topics.requests("police", Rag.GREEN),
                    [(r.case_id, r) for r in greens])
    serde = AvroSerde()
    handled: list[InformationRequest] = []
    first_green = threading.Event()
    red_done = threading.Event()

    def handle(request: InformationRequest) -> Answer:
        handled.append(request)
        first_green.set()
        if request.rag is Rag.RED:
            red_done.set()
        time.sleep(HANDLER_S)  # a slow-ish agency system
        return Answer.not_known()

    start_adapter("police", handle)
    assert first_green.wait(30)
    red = make_request("police", Rag.RED, case_id="case-red")
    producer = Producer(provisioned.producer_config())
    producer.list_topics(timeout=10)  # connect first: time the red request, not the client
    producer.produce(topics.requests("police", Rag.RED), key=red.case_id, value=serde.encode(red))
    assert producer.flush(10) == 0
    produced_at = time.monotonic()
    greens_before = sum(1 for r in handled if r.rag is Rag.GREEN)
    assert red_done.wait(30)
    waited = time.monotonic() - produced_at
    position = next(i for i, r in enumerate(handled) if r.rag is Rag.RED)
    greens_left = BACKLOG - position
    print(f"\nRED-FIRST: red handled as request #{position + 1} of {BACKLOG + 1}, "
          f"{waited * 1000:.0f} ms after it was delivered to the broker, "
          f"{position - greens_before} greens handled meanwhile, {greens_left} greens still waiting")
    assert greens_left > BACKLOG * 0.8, f"red waited behind {position} greens"

    with TopicReader(provisioned, [topics.responses("police")]) as reader:
        got = reader.read_count(BACKLOG + 1, timeout_s=60)
    responses = [serde.decode(r.value or b"", InformationResponse) for r in got]
    assert {r.request_id for r in responses} == {r.request_id for r in [*greens, red]}
    assert all(r.status is ResponseStatus.NOT_KNOWN for r in responses)
