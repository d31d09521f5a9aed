"""The status command's numbers, derived from what is actually on the topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from mash_common.contracts import (
    AssembledCase,
    Completeness,
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    Subject,
    SubjectIdentifiers,
    TriagedReferral,
)
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_ops.settings import OpsSettings
from mash_ops.status import collect_status, render, to_json
from tests.integration.ops.helpers import commit
from tests.support.factories import referral
from tests.support.kafka import produce, produce_records

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def triaged(case_id: str, rag: Rag, due: datetime) -> TriagedReferral:
    return TriagedReferral(case_id=case_id, referral=referral(f"R-{case_id}"), rag=rag,
                           opened_at=NOW - 5 * H, due_at=due, triaged_at=NOW - 5 * H,
                           fired_rules=[])


def request(rid: str, agency: str, rag: Rag, respond_by: datetime) -> InformationRequest:
    return InformationRequest(
        request_id=rid, case_id="case-red", agency=agency, rag=rag, requested_at=NOW - 5 * H,
        respond_by=respond_by, subject=SubjectIdentifiers(given_name="Sam"),
        data_categories=["incidents"], legal_basis="Children Act 1989 s47",
        purpose="safeguarding enquiry")


def test_status_from_topics(provisioned: KafkaSettings, secured_hub: SecuredHub) -> None:
    s = provisioned
    t = s.topics
    produce_records(s, t.triaged, [
        ("case-red", triaged("case-red", Rag.RED, NOW - 1 * H)),       # overdue
        ("case-amber", triaged("case-amber", Rag.AMBER, NOW + 3 * H)),
        ("case-green", triaged("case-green", Rag.GREEN, NOW + 60 * H)),  # assembled below
    ])
    produce_records(s, t.assembled, [("case-green", AssembledCase(
        case_id="case-green", version=1, referral_ids=["R-case-green"],
        subject=Subject(given_name="Sam", family_name="Example"), rag=Rag.GREEN,
        opened_at=NOW - 5 * H, due_at=NOW + 60 * H, assembled_at=NOW - 1 * H,
        completeness=Completeness.COMPLETE, contributions=[]))])
    produce_records(s, t.requests("police", Rag.RED), [
        ("case-red", request("q1", "police", Rag.RED, NOW - 1 * H)),
        ("case-red", request("q2", "police", Rag.RED, NOW - 1 * H)),
    ])
    produce_records(s, t.requests("health", Rag.AMBER), [
        ("case-amber", request("q3", "health", Rag.AMBER, NOW + 1 * H))])
    produce_records(s, t.responses("police"), [("case-red", InformationResponse(
        request_id="q1", case_id="case-red", agency="police", responded_at=NOW - 4 * H,
        status=ResponseStatus.FOUND, responder=Responder(name="PC Example", role="analyst")))])
    letter = DeadLetter(topic=t.referrals("school-portal"), partition=0, offset=0, stage="intake", error="x",
                        at=NOW, reason_code="BAD_MARKER")
    produce_records(s, t.deadletter, [(None, letter), (None, letter)])
    produce(s, t.deadletter, [(None, b"unreadable")])
    group = f"{s.topic_prefix}mash-enrichment"
    commit(s, group, t.triaged, 0, partition=0)

    # Read-only operations see everything they need to report, and may write nothing.
    report = collect_status(OpsSettings(kafka=secured_hub.ops_reader), now=lambda: NOW)
    data = to_json(report)
    assert data["broker"]["reachable"] and data["broker"]["brokers"] == 1
    assert data["error"] is None
    assert data["cases"]["open_total"] == 2 and data["cases"]["overdue_total"] == 1
    assert data["cases"]["by_rag"]["RED"] == {"open": 1, "overdue": 1,
                                              "soonest_seconds_left": -3600.0}
    assert [c["case_id"] for c in data["cases"]["most_urgent"]] == ["case-red", "case-amber"]
    agencies = {a["agency"]: a for a in data["agencies"]}
    assert agencies["police"]["requests"] == 2 and agencies["police"]["no_response"] == 1
    assert agencies["police"]["p50_seconds"] == 3600.0
    assert agencies["police"]["no_response_rate"] == 0.5
    assert agencies["health"]["pending"] == 1
    assert data["deadletters"]["by_reason"] == {"BAD_MARKER": 2}
    assert data["unreadable"] == {t.deadletter: 1}
    groups = {g["group"]: g for g in data["consumer_groups"]}
    assert group in groups
    # Never personal data: names from the records appear nowhere in either output.
    text = json.dumps(data)
    assert "Sam" not in text and "PC Example" not in text
    console = Console(record=True, width=140)
    console.print(render(report))
    screen = console.export_text()
    assert "case-red" in screen and "OVERDUE" in screen and "Sam" not in screen
