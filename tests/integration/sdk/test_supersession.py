"""Supersession in the SDK on a real broker (#19): the hub re-rated a case, so a request
stands at a higher revision on another RAG's topic. The old revision and the hub's notice
are never answered, the handler is told once, and a revision of a request already answered
is answered from the cache."""

from __future__ import annotations

import threading

import pytest

from mash_common.contracts import InformationRequest, InformationResponse, Rag
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_sdk import Answer
from mash_sdk.testing import make_request
from tests.integration.sdk.conftest import StartAdapter
from tests.support.kafka import TopicReader, produce_records

pytestmark = pytest.mark.integration
SERDE = AvroSerde()


class Handler:
    def __init__(self) -> None:
        self.called: list[tuple[str, int, Rag]] = []
        self.superseded_seen: list[tuple[str, int]] = []
        self.told = threading.Event()

    def __call__(self, request: InformationRequest) -> Answer:
        self.called.append((request.request_id, request.revision, request.rag))
        return Answer.not_known()

    def superseded(self, request: InformationRequest) -> None:
        self.superseded_seen.append((request.request_id, request.revision))
        self.told.set()


def revisions(case_id: str) -> tuple[InformationRequest, InformationRequest, InformationRequest]:
    """The request as first sent (Green), re-rated (Red, revision 1), and the notice on Green."""
    old = make_request("police", Rag.GREEN, request_id="rerated", case_id=case_id)
    new = old.model_copy(update={"rag": Rag.RED, "revision": 1, "supersedes_rag": Rag.GREEN})
    notice = old.model_copy(update={"revision": 1, "superseded": True, "superseded_by_rag": Rag.RED})
    return old, new, notice


def answers(reader: TopicReader) -> list[InformationResponse]:
    return [SERDE.decode(m.value or b"", InformationResponse) for m in reader.received]


def test_the_old_revision_queued_behind_the_red_one_is_never_answered(
        provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    handler = Handler()
    start_adapter("police", handler)
    names = provisioned.topics
    old, new, notice = revisions("c-sup")
    after = make_request("police", Rag.GREEN, request_id="after", case_id="c-sup")
    with TopicReader(provisioned, [names.responses("police")]) as reader:
        produce_records(provisioned, names.requests("police", Rag.RED), [(new.case_id, new)])
        reader.read_count(1, timeout_s=60)
        # The Green queue reaches the old request, then the hub's notice; then a request
        # after them on the same partition, so its answer proves they were served.
        produce_records(provisioned, names.requests("police", Rag.GREEN),
                        [(old.case_id, old), (notice.case_id, notice), (after.case_id, after)])
        reader.read_count(2, timeout_s=60)
        reader.drain(quiet_s=1.5)
    assert [a.request_id for a in answers(reader)] == ["rerated", "after"]
    assert handler.called == [("rerated", 1, Rag.RED), ("after", 0, Rag.GREEN)]
    assert handler.told.wait(10) and handler.superseded_seen == [("rerated", 0)]  # told once


def test_a_revision_of_an_answered_request_is_answered_from_the_cache(
        provisioned: KafkaSettings, start_adapter: StartAdapter) -> None:
    handler = Handler()
    start_adapter("police", handler)
    names = provisioned.topics
    old, new, notice = revisions("c-cache")
    with TopicReader(provisioned, [names.responses("police")]) as reader:
        produce_records(provisioned, names.requests("police", Rag.GREEN), [(old.case_id, old)])
        [first] = reader.read_count(1, timeout_s=60)
        produce_records(provisioned, names.requests("police", Rag.RED), [(new.case_id, new)])
        produce_records(provisioned, names.requests("police", Rag.GREEN), [(notice.case_id, notice)])
        reader.read_count(2, timeout_s=60)
        assert handler.told.wait(30)
        reader.drain(quiet_s=1.5)
    first_answer, again = answers(reader)
    assert again == first_answer  # the same answer, not a second one from the handler
    assert handler.called == [("rerated", 0, Rag.GREEN)]
    assert handler.superseded_seen == [("rerated", 1)]
