"""Pure summaries for the status screen: open cases against their deadlines, each agency's
response times and no-response rate, dead letters by reason. Input: decoded contract records;
output: ids and counts only, never personal data. No Kafka, no clock reads."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from mash_common.contracts import (
    DeadLetter,
    InformationRequest,
    InformationResponse,
    Rag,
    TriagedReferral,
)


@dataclass(frozen=True)
class OpenCase:
    case_id: str
    rag: Rag
    opened_at: datetime
    due_at: datetime

    def seconds_left(self, now: datetime) -> float:
        return (self.due_at - now).total_seconds()


def open_cases(triaged: Iterable[TriagedReferral], assembled: Iterable[str]) -> list[OpenCase]:
    """Cases triaged but not yet assembled, most urgent deadline first.

    Several referrals can join one case (linked referrals): the case takes the most urgent
    RAG and the earliest due time any of them carried."""
    done = set(assembled)
    cases: dict[str, OpenCase] = {}
    for t in triaged:
        if t.case_id in done:
            continue
        seen = cases.get(t.case_id)
        if seen is None:
            cases[t.case_id] = OpenCase(t.case_id, t.rag, t.opened_at, t.due_at)
        else:
            cases[t.case_id] = OpenCase(
                t.case_id,
                min(seen.rag, t.rag, key=lambda r: r.rank),
                min(seen.opened_at, t.opened_at),
                min(seen.due_at, t.due_at),
            )
    return sorted(cases.values(), key=lambda c: (c.due_at, c.rag.rank, c.case_id))


@dataclass(frozen=True)
class RagSummary:
    rag: Rag
    open: int
    overdue: int
    soonest_seconds_left: float | None


def summarise_cases(cases: list[OpenCase], now: datetime) -> list[RagSummary]:
    out = []
    for rag in Rag:
        mine = [c for c in cases if c.rag is rag]
        out.append(RagSummary(
            rag,
            open=len(mine),
            overdue=sum(1 for c in mine if c.seconds_left(now) < 0),
            soonest_seconds_left=min((c.seconds_left(now) for c in mine), default=None),
        ))
    return out


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class AgencyPerformance:
    agency: str
    requests: int = 0
    answered: int = 0
    answered_late: int = 0
    pending: int = 0  # not answered, respond_by not yet passed
    no_response: int = 0  # not answered and respond_by passed
    response_seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def p50_seconds(self) -> float | None:
        return percentile(self.response_seconds, 50)

    @property
    def p90_seconds(self) -> float | None:
        return percentile(self.response_seconds, 90)

    @property
    def no_response_rate(self) -> float | None:
        """Share of requests past their respond_by (or answered) that got no answer."""
        decided = self.answered + self.no_response
        return None if decided == 0 else self.no_response / decided


def agency_performance(
    requests: Iterable[InformationRequest],
    responses: Iterable[InformationResponse],
    now: datetime,
) -> list[AgencyPerformance]:
    """Match responses to requests by request_id. A chase repeats a request_id: the first
    request's requested_at and respond_by count; the first response counts, duplicates not."""
    first_request: dict[str, InformationRequest] = {}
    for r in requests:
        seen = first_request.get(r.request_id)
        if seen is None or r.requested_at < seen.requested_at:
            first_request[r.request_id] = r
    first_response: dict[str, datetime] = {}
    for resp in responses:
        at = first_response.get(resp.request_id)
        if at is None or resp.responded_at < at:
            first_response[resp.request_id] = resp.responded_at
    perf: dict[str, AgencyPerformance] = {}
    for request_id, req in first_request.items():
        p = perf.setdefault(req.agency, AgencyPerformance(req.agency))
        p.requests += 1
        answered_at = first_response.get(request_id)
        if answered_at is not None:
            p.answered += 1
            p.response_seconds.append(max(0.0, (answered_at - req.requested_at).total_seconds()))
            if answered_at > req.respond_by:
                p.answered_late += 1
        elif now > req.respond_by:
            p.no_response += 1
        else:
            p.pending += 1
    return sorted(perf.values(), key=lambda p: p.agency)


@dataclass(frozen=True)
class DeadLetterCounts:
    total: int
    by_reason: dict[str, int]
    by_stage: dict[str, int]


def count_deadletters(letters: Iterable[DeadLetter]) -> DeadLetterCounts:
    reasons: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for dl in letters:
        reasons[dl.reason_code] += 1
        stages[dl.stage] += 1
    return DeadLetterCounts(sum(reasons.values()), dict(reasons.most_common()),
                            dict(stages.most_common()))
