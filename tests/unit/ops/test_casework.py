"""Status summaries from decoded records: open cases, agency performance, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mash_common.contracts import (
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    SubjectIdentifiers,
    TriagedReferral,
)
from mash_ops.casework import (
    agency_performance,
    count_deadletters,
    open_cases,
    percentile,
    summarise_cases,
)
from tests.support.factories import referral

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def triaged(case_id: str, rag: Rag, due_in: timedelta) -> TriagedReferral:
    return TriagedReferral(case_id=case_id, referral=referral(f"R-{case_id}"), rag=rag,
                           opened_at=T0, due_at=T0 + due_in, triaged_at=T0, fired_rules=[])


def request(request_id: str, agency: str, at: datetime = T0, respond_in: timedelta = 4 * H,
            is_chase: bool = False) -> InformationRequest:
    return InformationRequest(
        request_id=request_id, case_id="C", agency=agency, rag=Rag.RED, requested_at=at,
        respond_by=T0 + respond_in, subject=SubjectIdentifiers(), data_categories=["x"],
        legal_basis="Children Act 1989 s47", purpose="safeguarding", is_chase=is_chase)


def response(request_id: str, agency: str, after: timedelta) -> InformationResponse:
    return InformationResponse(request_id=request_id, case_id="C", agency=agency,
                               responded_at=T0 + after, status=ResponseStatus.FOUND,
                               responder=Responder(name="A Responder", role="analyst"))


def test_open_cases_are_triaged_minus_assembled_most_urgent_first() -> None:
    cases = open_cases(
        [triaged("c1", Rag.GREEN, 72 * H), triaged("c2", Rag.RED, 4 * H),
         triaged("c3", Rag.AMBER, 24 * H), triaged("c1", Rag.RED, 4 * H)],  # c1 re-referred
        assembled=["c3"],
    )
    assert [(c.case_id, c.rag) for c in cases] == [("c1", Rag.RED), ("c2", Rag.RED)]
    assert cases[0].due_at == T0 + 4 * H


def test_summary_counts_overdue_per_rag() -> None:
    cases = open_cases([triaged("a", Rag.RED, 1 * H), triaged("b", Rag.RED, 5 * H),
                        triaged("c", Rag.GREEN, 72 * H)], [])
    summary = {s.rag: s for s in summarise_cases(cases, now=T0 + 2 * H)}
    assert (summary[Rag.RED].open, summary[Rag.RED].overdue) == (2, 1)
    assert summary[Rag.RED].soonest_seconds_left == -3600
    assert (summary[Rag.AMBER].open, summary[Rag.AMBER].soonest_seconds_left) == (0, None)
    assert summary[Rag.GREEN].overdue == 0


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 100)) == (5, 9, 10)


def test_agency_performance() -> None:
    requests = [
        request("p1", "police"), request("p2", "police"), request("p3", "police"),
        request("p1", "police", at=T0 + 3 * H, is_chase=True),  # a chase repeats the id
        request("h1", "health"), request("h2", "health", respond_in=10 * H),
    ]
    responses = [
        response("p1", "police", 1 * H), response("p1", "police", 2 * H),  # duplicate
        response("p2", "police", 5 * H),  # late
        response("unknown", "police", 1 * H),  # matches nothing
    ]
    perf = {p.agency: p for p in agency_performance(requests, responses, now=T0 + 6 * H)}
    police, health = perf["police"], perf["health"]
    assert (police.requests, police.answered, police.answered_late, police.no_response,
            police.pending) == (3, 2, 1, 1, 0)
    assert police.response_seconds == [3600.0, 18000.0]
    assert police.p50_seconds == 3600.0 and police.p90_seconds == 18000.0
    assert police.no_response_rate == 1 / 3
    assert (health.no_response, health.pending, health.no_response_rate) == (1, 1, 1.0)
    assert health.p50_seconds is None


def test_deadletter_counts() -> None:
    def dl(reason: str, stage: str) -> DeadLetter:
        return DeadLetter(topic="mash.referrals", partition=0, offset=1, stage=stage,
                          error="e", at=T0, reason_code=reason)

    counts = count_deadletters([dl("BAD_MARKER", "intake"), dl("BAD_MARKER", "intake"),
                                dl("CONTRACT_VIOLATION", "enrichment")])
    assert counts.total == 3
    assert counts.by_reason == {"BAD_MARKER": 2, "CONTRACT_VIOLATION": 1}
    assert counts.by_stage == {"intake": 2, "enrichment": 1}
