"""The contract test kit: proves a running adapter follows the hub's contract.

It plays the hub: it sends synthetic requests to the agency's request topics and reads what
comes back on mash.responses.<agency> and mash.deadletter. Run it against a test hub (a topic
prefix), never against live topics: it sends hundreds of synthetic requests.

Checks:
- answers: a request gets a response with the same request_id, case_id and agency before
  its respond_by, from a named responder, and not ERROR;
- not-known: an unknown (synthetic, random) subject is answered NOT_KNOWN;
- declines: a request for the category the adapter is configured to decline (default
  `kit.decline`) is DECLINED with a reason;
- found (only with --known-nhs): a subject the agency holds is answered FOUND with records
  of the requested category;
- malformed: garbage bytes on a request topic are dead-lettered with their position, and
  the next valid request on the same partition is still answered;
- red-first: with a Green backlog queued and being worked, a Red request is answered ahead
  of at least a tenth of the backlog (by the adapter's responded_at stamps); an adapter that
  serves its topics first-come-first-served answers it after the whole backlog.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from mash_common.contracts import (
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    ResponseStatus,
    SubjectIdentifiers,
    utcnow,
)
from mash_common.errors import SerdeError
from mash_common.partitioning import partition_for
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_sdk.testing import synthetic_nhs_number

logger = logging.getLogger(__name__)

GARBAGE = b"\x00not an InformationRequest\xff\xfe"


ALL_CHECKS: tuple[str, ...] = (
    "answers", "not-known", "declines", "found", "malformed", "red-first", "supersession",
)


@dataclass(frozen=True)
class KitOptions:
    agency: str
    category: str = "kit.general"
    decline_category: str = "kit.decline"
    known_nhs: str | None = None
    timeout_s: float = 30.0
    backlog: int = 300
    checks: tuple[str, ...] = ALL_CHECKS


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float = 0.0


@dataclass
class Report:
    agency: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def render(self) -> str:
        lines = [f"Contract kit for agency '{self.agency}':"]
        for r in self.results:
            lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.name:<12} {r.seconds:6.1f}s  {r.detail}")
        failed = sum(not r.passed for r in self.results)
        lines.append(f"{len(self.results) - failed} passed, {failed} failed: "
                     f"{'CONTRACT MET' if self.passed else 'CONTRACT NOT MET'}")
        return "\n".join(lines)


class _Watcher:
    """Reads the agency's mash.responses.<agency> and mash.deadletter from their current end
    onwards."""

    def __init__(self, kafka: KafkaSettings, serde: AvroSerde, agency: str) -> None:
        self.serde = serde
        self.consumer = Consumer(kafka.confluent_config(**{
            # Never joins the group (the partitions are assigned); prefixed as the kit's
            # principal's groups must be.
            "group.id": f"{kafka.topic_prefix}mash-contract-kit-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }))
        self.responses: list[InformationResponse] = []
        self.deadletters: list[DeadLetter] = []
        self.unreadable = 0
        # request_id -> (key, partition) each answer arrived with: the partitioning rule.
        self.placement: dict[str, tuple[bytes | None, int]] = {}
        topics = [kafka.topics.responses(agency), kafka.topics.deadletter]
        self._responses_topic = kafka.topics.responses(agency)
        metadata = self.consumer.list_topics(timeout=10)
        assignment = []
        for topic in topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise RuntimeError(f"topic {topic} does not exist: is the hub provisioned?")
            for p in metadata.topics[topic].partitions:
                assignment.append(TopicPartition(topic, p, self._end_offset(topic, p)))
        self.consumer.assign(assignment)
        self.response_partitions = len(metadata.topics[self._responses_topic].partitions)

    def _end_offset(self, topic: str, partition: int) -> int:
        # A freshly created topic may not have a leader yet: retry for a while.
        deadline = time.monotonic() + 30
        while True:
            try:
                return int(self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10)[1])
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.consumer.close()

    def poll(self, timeout: float = 0.1) -> None:
        for msg in self.consumer.consume(500, timeout):
            if msg.error() is not None:
                continue
            try:
                if msg.topic() == self._responses_topic:
                    response = self.serde.decode(msg.value() or b"", InformationResponse)
                    self.responses.append(response)
                    self.placement.setdefault(response.request_id, (msg.key(), msg.partition()))
                else:
                    self.deadletters.append(self.serde.decode(msg.value() or b"", DeadLetter))
            except SerdeError:
                self.unreadable += 1

    def wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            self.poll()
        return True

    def answers_to(self, request_id: str) -> list[InformationResponse]:
        return [r for r in self.responses if r.request_id == request_id]

    def about_case(self, case_id: str) -> list[InformationResponse]:
        return [r for r in self.responses if r.case_id == case_id]


class ContractKit:
    def __init__(self, kafka: KafkaSettings, options: KitOptions, serde: AvroSerde | None = None) -> None:
        self.kafka = kafka
        self.options = options
        self.serde = serde or AvroSerde()
        self.run_id = uuid.uuid4().hex[:8]
        self._n = 0
        self._rng = random.Random()

    # Building and sending -----------------------------------------------------------------

    def _unknown_subject(self) -> SubjectIdentifiers:
        # Random, synthetic, in the NHS test range: no agency can know this child.
        return SubjectIdentifiers(
            given_name="Kit", family_name=f"Nobody{self._rng.randrange(10**8):08d}",
            date_of_birth=date(1901, 1, 1) + timedelta(days=self._rng.randrange(3000)),
            nhs_number=synthetic_nhs_number(self._rng.randrange(900_000, 999_999)),
            postcode="ZZ99 9ZZ",
        )

    def request(self, rag: Rag, categories: list[str], subject: SubjectIdentifiers | None = None,
                respond_in_s: float | None = None) -> InformationRequest:
        self._n += 1
        now = utcnow()
        return InformationRequest(
            request_id=f"kit-{self.run_id}-{self._n}",
            case_id=f"kit-case-{self.run_id}-{self._n}",
            agency=self.options.agency,
            rag=rag,
            requested_at=now,
            respond_by=now + timedelta(seconds=respond_in_s or self.options.timeout_s),
            subject=subject or self._unknown_subject(),
            data_categories=categories,
            legal_basis="Contract kit test (synthetic subject)",
            purpose="Adapter contract check",
        )

    def _send(self, producer: Producer, items: list[tuple[str, str, bytes]]) -> None:
        for topic, key, value in items:
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
        remaining = producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} kit messages not delivered")

    def _topic(self, rag: Rag) -> str:
        return self.kafka.topics.requests(self.options.agency, rag)

    def _req_item(self, req: InformationRequest) -> tuple[str, str, bytes]:
        return self._topic(req.rag), req.case_id, self.serde.encode(req)

    # The checks ---------------------------------------------------------------------------

    def run(self) -> Report:
        report = Report(self.options.agency)
        producer = Producer(self.kafka.producer_config())
        watcher = _Watcher(self.kafka, self.serde, self.options.agency)
        try:
            self._simple_checks(report, producer, watcher)
            if "malformed" in self.options.checks:
                report.results.append(self._malformed(producer, watcher))
            if "red-first" in self.options.checks:
                report.results.append(self._red_first(producer, watcher))
            if "supersession" in self.options.checks:
                report.results.append(self._supersession(producer, watcher))
        finally:
            watcher.close()
        return report

    def _answer(self, watcher: _Watcher, req: InformationRequest, name: str,
                started: float) -> tuple[InformationResponse | None, CheckResult | None]:
        answers = watcher.answers_to(req.request_id)
        if answers:
            return answers[0], None
        elapsed = time.monotonic() - started
        strays = watcher.about_case(req.case_id)
        if strays:
            return None, CheckResult(name, False, f"answered case {req.case_id} with request_id "
                                     f"{strays[0].request_id!r}, expected {req.request_id!r}", elapsed)
        return None, CheckResult(name, False, f"no answer to {req.request_id} within "
                                 f"{self.options.timeout_s:.0f}s", elapsed)

    def _simple_checks(self, report: Report, producer: Producer, watcher: _Watcher) -> None:
        o = self.options
        wanted: dict[str, InformationRequest] = {}
        if "answers" in o.checks or "not-known" in o.checks:
            wanted["answers"] = self.request(Rag.AMBER, [o.category])
        if "declines" in o.checks:
            wanted["declines"] = self.request(Rag.AMBER, [o.decline_category])
        if "found" in o.checks and o.known_nhs:
            wanted["found"] = self.request(Rag.AMBER, [o.category],
                                           SubjectIdentifiers(nhs_number=o.known_nhs))
        if not wanted:
            return
        started = time.monotonic()
        self._send(producer, [self._req_item(r) for r in wanted.values()])
        watcher.wait(lambda: all(watcher.answers_to(r.request_id) for r in wanted.values()),
                     o.timeout_s)
        took = time.monotonic() - started

        if "answers" in wanted:
            req = wanted["answers"]
            resp, failure = self._answer(watcher, req, "answers", started)
            if "answers" in o.checks:
                report.results.append(failure or self._check_answer(req, resp, took))
                report.results.append(self._partitioning(watcher, req))
            if "not-known" in o.checks:
                if resp is None:
                    report.results.append(CheckResult("not-known", False, "no answer to check", took))
                else:
                    ok = resp.status is ResponseStatus.NOT_KNOWN
                    report.results.append(CheckResult(
                        "not-known", ok, f"unknown subject answered {resp.status.value}"
                        + ("" if ok else ", expected NOT_KNOWN"), took))
        if "declines" in wanted:
            req = wanted["declines"]
            resp, failure = self._answer(watcher, req, "declines", started)
            if failure:
                report.results.append(failure)
            else:
                assert resp is not None
                ok = resp.status is ResponseStatus.DECLINED and bool((resp.reason or "").strip())
                report.results.append(CheckResult(
                    "declines", ok, f"category {o.decline_category!r} answered {resp.status.value}"
                    + (" with a reason" if resp.reason else " without a reason")
                    + ("" if ok else ", expected DECLINED with a reason"), took))
        if "found" in wanted:
            req = wanted["found"]
            resp, failure = self._answer(watcher, req, "found", started)
            if failure:
                report.results.append(failure)
            else:
                assert resp is not None
                ok = (resp.status is ResponseStatus.FOUND and bool(resp.records)
                      and all(r.category in req.data_categories for r in resp.records))
                report.results.append(CheckResult(
                    "found", ok, f"known subject answered {resp.status.value} with "
                    f"{len(resp.records)} record(s)" + ("" if ok else ", expected FOUND with "
                                                        f"records of {req.data_categories}"), took))

    def _partitioning(self, watcher: _Watcher, req: InformationRequest) -> CheckResult:
        """The answer is keyed by case_id and on the partition murmur2 of that key gives
        (docs/adapters.md): anything else splits a case across enrichment's partitions."""
        placed = watcher.placement.get(req.request_id)
        if placed is None:
            return CheckResult("partitioning", False, "no answer to check", 0.0)
        key, partition = placed
        expected_key = req.case_id.encode("utf-8")
        if key != expected_key:
            return CheckResult("partitioning", False, "answer is not keyed by its case_id", 0.0)
        expected = partition_for(expected_key, watcher.response_partitions)
        ok = partition == expected
        return CheckResult(
            "partitioning", ok, f"answer on partition {partition}"
            + (", as murmur2 of its key gives" if ok else
               f", but murmur2 of its key gives {expected}: use the default (murmur2) partitioner"),
            0.0)

    def _check_answer(self, req: InformationRequest, resp: InformationResponse | None,
                      took: float) -> CheckResult:
        assert resp is not None
        problems = []
        if resp.case_id != req.case_id:
            problems.append("wrong case_id")
        if resp.agency != req.agency:
            problems.append(f"agency {resp.agency!r}, expected {req.agency!r}")
        if resp.responded_at > req.respond_by:
            problems.append("responded_at after respond_by")
        if resp.status is ResponseStatus.ERROR:
            problems.append(f"status ERROR ({resp.reason})")
        if not resp.responder.name.strip() or not resp.responder.role.strip():
            problems.append("responder has no name or role")
        detail = (f"answered {resp.status.value} in {took:.2f}s, before respond_by"
                  if not problems else "; ".join(problems))
        return CheckResult("answers", not problems, detail, took)

    def _malformed(self, producer: Producer, watcher: _Watcher) -> CheckResult:
        started = time.monotonic()
        topic = self._topic(Rag.GREEN)
        req = self.request(Rag.GREEN, [self.options.category])
        # Same key, so the same partition: the valid request is queued behind the garbage.
        self._send(producer, [(topic, req.case_id, GARBAGE)])
        self._send(producer, [self._req_item(req)])

        def dead_lettered() -> bool:
            return any(d.topic == topic and d.value == GARBAGE for d in watcher.deadletters)

        watcher.wait(lambda: bool(watcher.answers_to(req.request_id)) and dead_lettered(),
                     self.options.timeout_s)
        took = time.monotonic() - started
        answered = bool(watcher.answers_to(req.request_id))
        letters = [d for d in watcher.deadletters if d.topic == topic and d.value == GARBAGE]
        if answered and letters:
            return CheckResult("malformed", True, f"garbage dead-lettered ({letters[0].reason_code}"
                               f" at {topic}[{letters[0].partition}]@{letters[0].offset}) and the "
                               "next request answered", took)
        problems = []
        if not letters:
            problems.append("garbage not dead-lettered with its original bytes")
        if not answered:
            problems.append("the valid request after the garbage was not answered")
        return CheckResult("malformed", False, "; ".join(problems), took)

    def _red_first(self, producer: Producer, watcher: _Watcher) -> CheckResult:
        started = time.monotonic()
        n = self.options.backlog
        greens = [self.request(Rag.GREEN, [self.options.category], respond_in_s=3600)
                  for _ in range(n)]
        green_ids = {g.request_id for g in greens}
        self._send(producer, [self._req_item(g) for g in greens])

        def greens_answered() -> int:
            return len({r.request_id for r in watcher.responses if r.request_id in green_ids})

        if not watcher.wait(lambda: greens_answered() > 0, self.options.timeout_s):
            return CheckResult("red-first", False, "no Green request of the backlog was answered",
                               time.monotonic() - started)
        red = self.request(Rag.RED, [self.options.category])
        self._send(producer, [self._req_item(red)])
        sent = time.monotonic()
        ok = watcher.wait(lambda: bool(watcher.answers_to(red.request_id)), self.options.timeout_s)
        red_s = time.monotonic() - sent
        if not ok:
            return CheckResult("red-first", False, f"Red not answered within "
                               f"{self.options.timeout_s:.0f}s ({greens_answered()}/{n} greens "
                               "answered)", time.monotonic() - started)
        # Let the backlog drain (the next run starts clean), then compare the adapter's own
        # responded_at stamps: one clock, so no skew between the kit's and the adapter's.
        watcher.wait(lambda: greens_answered() >= n, max(self.options.timeout_s, 60.0))
        red_at = watcher.answers_to(red.request_id)[0].responded_at
        green_at = {r.request_id: r.responded_at for r in watcher.responses
                    if r.request_id in green_ids}
        after = n - sum(1 for t in green_at.values() if t <= red_at)
        needed = max(1, n // 10)
        passed = after >= needed
        return CheckResult(
            "red-first", passed,
            f"Red answered {red_s:.2f}s after it was sent, ahead of {after}/{n} queued greens"
            + ("" if passed else f"; expected it ahead of at least {needed} (it waited behind "
                                 "the backlog)"),
            time.monotonic() - started)


    def _supersession(self, producer: Producer, watcher: _Watcher) -> CheckResult:
        """A request re-rated Green -> Red (#19): its Red revision is answered; the Green
        revision still queued and the hub's notice on the Green topic are not. A request
        sent after them on the same partition proves the adapter got past them."""
        started = time.monotonic()
        old = self.request(Rag.GREEN, [self.options.category])
        new = old.model_copy(update={"rag": Rag.RED, "revision": 1, "supersedes_rag": Rag.GREEN})
        notice = old.model_copy(update={"revision": 1, "superseded": True,
                                        "superseded_by_rag": Rag.RED})
        after = self.request(Rag.GREEN, [self.options.category]).model_copy(
            update={"case_id": old.case_id})
        self._send(producer, [self._req_item(new)])
        if not watcher.wait(lambda: bool(watcher.answers_to(new.request_id)), self.options.timeout_s):
            return CheckResult("supersession", False, "the Red revision of a re-rated request was "
                               "not answered", time.monotonic() - started)
        self._send(producer, [self._req_item(old), self._req_item(notice), self._req_item(after)])
        watcher.wait(lambda: bool(watcher.answers_to(after.request_id)), self.options.timeout_s)
        took = time.monotonic() - started
        if not watcher.answers_to(after.request_id):
            return CheckResult("supersession", False, "the request after a superseded revision and "
                               "its notice was not answered", took)
        count = len(watcher.answers_to(new.request_id))
        return CheckResult(
            "supersession", count == 1,
            "re-rated request answered once, at its Red revision" if count == 1 else
            f"re-rated request answered {count} times: a superseded revision or the hub's notice "
            "was answered (docs/adapters.md rule 11)", took)


def run_contract_kit(kafka: KafkaSettings, options: KitOptions) -> Report:
    return ContractKit(kafka, options).run()
