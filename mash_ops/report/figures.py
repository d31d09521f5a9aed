"""The monitoring report's figures, computed from decoded events: pure functions, no Kafka,
no clock (the moment the report speaks for, `as_of`, is passed in).

Who is counted: the period's cohort. A referral belongs to the period when it was received
in it; a case when its first referral was. Everything that happened to the cohort (ratings,
requests, assembly, decisions, notifications) is counted whenever it happened up to
`as_of`, so a late answer still counts against the case it was for. Dead letters are counted
by when they were dead-lettered.

What never leaves this module: names, dates of birth, NHS numbers, addresses, narratives,
rationales, case and referral ids. A child is recognised across referrals (re-referrals)
with keys built here in memory and thrown away; the output holds counts only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mash_common.codes import PRIMARY_NEED, SOURCE_OF_REFERRAL
from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    AuditEvent,
    CaseLink,
    Completeness,
    ConsentStatus,
    Decision,
    InformationRequest,
    InformationResponse,
    LinkMatch,
    NotificationKind,
    OutcomeNotification,
    Rag,
    ResponseStatus,
    SubjectIdentifiers,
    TriagedReferral,
)
from mash_common.workinghours import WorkingHours
from mash_ops.report.events import Events
from mash_ops.report.tables import ALL, Measure, Row, Table

RE_REFERRAL_WINDOW = timedelta(days=365)
NOT_RECORDED = "NOT_RECORDED"
UNLISTED_ROLE = "UNLISTED (withheld: may be a name)"


@dataclass(frozen=True)
class ReportOptions:
    """What the figures are measured against; the hub's configuration, not the data."""

    hub_name: str
    start: datetime  # inclusive
    end: datetime  # exclusive
    as_of: datetime
    timescales: dict[Rag, timedelta]
    calendar: WorkingHours | None = None
    # Agencies whose answer has one of these statuses are told the decision.
    contributor_statuses: frozenset[ResponseStatus] = frozenset(
        {ResponseStatus.FOUND, ResponseStatus.NOT_KNOWN, ResponseStatus.DECLINED})
    # Source systems that are sent DECISION notifications (the recipient policy's `hears`).
    referrers_told: frozenset[str] | None = None
    # Roles an override's authoriser may be reported as (case-insensitive); anything else
    # in that free-text field might be a person's name and is withheld.
    authoriser_roles: frozenset[str] = frozenset()
    source_systems: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()

    def in_period(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def clock_applies(self, rag: Rag) -> bool:
        return self.calendar is not None and rag in self.calendar.applies_to

    def deadline(self, rag: Rag, start: datetime) -> datetime:
        """The hub's own arithmetic (services/intake's due_at): a RAG's timescale from
        start, in working time where the calendar applies."""
        duration = self.timescales[rag]
        if self.calendar is not None and self.clock_applies(rag):
            return self.calendar.add(start, duration)
        return start + duration

    def elapsed(self, rag: Rag, start: datetime, end: datetime) -> float:
        """Seconds from start to end on the hub's clock for this RAG: working time where
        the calendar applies, else elapsed time."""
        if self.calendar is not None and self.clock_applies(rag):
            return self.calendar.elapsed(start, end).total_seconds()
        return max(0.0, (end - start).total_seconds())


# -- the cohort ------------------------------------------------------------------------------


@dataclass
class CaseFacts:
    case_id: str
    rag: Rag  # the rating the case was first assembled at (else first triaged at)
    received_at: datetime  # its first referral's receipt
    referrals: list[TriagedReferral] = field(default_factory=list)
    first_assembly: AssembledCase | None = None
    latest_assembly: AssembledCase | None = None
    first_decision: Decision | None = None
    latest_decision: Decision | None = None


def _child_keys(t: TriagedReferral) -> list[tuple[str, ...]]:
    """In-memory keys that say two referrals are about the same child, matching intake's
    linking (NHS number; else name, date of birth and postcode). Never output."""
    s = t.referral.subject
    keys: list[tuple[str, ...]] = []
    if s.nhs_number:
        keys.append(("nhs", s.nhs_number))
    if s.date_of_birth and s.postcode:
        keys.append(("ndp", s.given_name.strip().lower(), s.family_name.strip().lower(),
                     s.date_of_birth.isoformat(), s.postcode.replace(" ", "").upper()))
    return keys


def first_triage_per_referral(events: Events) -> dict[str, TriagedReferral]:
    """A referral redelivered is triaged once; if it shows twice, the first counts.

    The triaged topic keeps a week; the assembled topic is compacted (kept) and carries
    each case's referrals, and the audit trail is kept for ever. A referral gone from the
    triaged topic is rebuilt from those: its case's latest assembly, intake's
    REFERRAL_RATED event (its RAG and when) and REFERRAL_LINKED (it joined an open case)."""
    out: dict[str, TriagedReferral] = {}
    for t in sorted(events.triaged, key=lambda t: t.triaged_at):
        out.setdefault(t.referral.referral_id, t)
    rated: dict[str, AuditEvent] = {}
    linked: dict[str, AuditEvent] = {}
    for e in events.audit:
        if e.reference and e.action is AuditAction.REFERRAL_RATED:
            rated.setdefault(e.reference, e)
        elif e.reference and e.action is AuditAction.REFERRAL_LINKED:
            linked.setdefault(e.reference, e)
    latest: dict[str, AssembledCase] = {}
    for a in events.assembled:
        if a.case_id not in latest or a.version > latest[a.case_id].version:
            latest[a.case_id] = a
    for a in latest.values():
        for ref in a.referrals:
            rid = ref.referral_id
            event = rated.get(rid)
            if rid in out or event is None or event.case_id != a.case_id:
                continue
            rag = _rated_rag(event.detail) or a.rag
            link = linked.get(rid)
            out[rid] = TriagedReferral(
                case_id=a.case_id, referral=ref, rag=rag, opened_at=a.opened_at,
                due_at=a.due_at, triaged_at=event.at, fired_rules=[],
                linked_case=None if link is None else CaseLink(
                    case_id=a.case_id, match=_link_match(link.detail), reason="",
                    previous_rag=rag))
    return out


_REVISION = re.compile(r": revision (\d+)$")
_SUPERSEDED = re.compile(r"superseded by (RED|AMBER|GREEN) revision (\d+)$")


def _rated_rag(detail: str | None) -> Rag | None:
    """The RAG in a REFERRAL_RATED detail ("AMBER by amber-abuse; policy ...")."""
    head = (detail or "").split(" ", 1)[0]
    return Rag(head) if head in Rag.__members__ else None


def _link_match(detail: str | None) -> LinkMatch:
    if detail is not None and detail in LinkMatch.__members__:
        return LinkMatch(detail)
    return LinkMatch.NHS_NUMBER


def re_referrals(triaged: Iterable[TriagedReferral]) -> set[str]:
    """Referral ids whose child had an earlier referral received within the 12 months
    before this one (the CIN census's re-referral)."""
    seen: dict[tuple[str, ...], list[datetime]] = defaultdict(list)
    out: set[str] = set()
    for t in sorted(triaged, key=lambda t: (t.referral.received_at, t.referral.referral_id)):
        at = t.referral.received_at
        keys = _child_keys(t)
        if any(at - before <= RE_REFERRAL_WINDOW for k in keys for before in seen[k]):
            out.add(t.referral.referral_id)
        for k in keys:
            seen[k].append(at)
    return out


def cases(events: Events, options: ReportOptions,
          referrals: dict[str, TriagedReferral]) -> dict[str, CaseFacts]:
    """The period's cases: those whose first referral was received in the period."""
    by_case: dict[str, list[TriagedReferral]] = defaultdict(list)
    for t in referrals.values():
        by_case[t.case_id].append(t)
    out: dict[str, CaseFacts] = {}
    for case_id, refs in by_case.items():
        first = min(refs, key=lambda t: t.referral.received_at)
        if not options.in_period(first.referral.received_at):
            continue
        out[case_id] = CaseFacts(case_id, first.rag, first.referral.received_at,
                                 sorted(refs, key=lambda t: t.referral.received_at))
    for a in events.assembled:
        facts = out.get(a.case_id)
        if facts is None or a.assembled_at > options.as_of:
            continue
        if facts.first_assembly is None or a.version < facts.first_assembly.version:
            facts.first_assembly = a
        if facts.latest_assembly is None or a.version > facts.latest_assembly.version:
            facts.latest_assembly = a
    for d in events.decisions:
        facts = out.get(d.case_id)
        if facts is None or d.decided_at > options.as_of:
            continue
        if facts.first_decision is None or (d.revision, d.decided_at) < (
                facts.first_decision.revision, facts.first_decision.decided_at):
            facts.first_decision = d
        if facts.latest_decision is None or (d.revision, d.decided_at) > (
                facts.latest_decision.revision, facts.latest_decision.decided_at):
            facts.latest_decision = d
    for facts in out.values():
        if facts.first_assembly is not None:
            facts.rag = facts.first_assembly.rag
    return out


# -- the tables ---------------------------------------------------------------------------


def _count(name: str, title: str, parts: tuple[str, ...] = ()) -> Measure:
    return Measure(name, "count", title, parts=parts)


def _share(name: str, title: str, num: str, den: str) -> Measure:
    return Measure(name, "share", title, numerator=num, denominator=den)


def _pct(name: str, title: str, of: str, q: float) -> Measure:
    return Measure(name, "percentile", title, of=of, q=q, unit="seconds")


class _Tally:
    """Rows keyed by their labels, with an ALL row per dimension combination wanted."""

    def __init__(self, dimensions: list[str], *, no_total: tuple[str, ...] = ()) -> None:
        self.dimensions = dimensions
        # Dimensions whose values must not be added up (stages of one case).
        self.no_total = no_total
        self.rows: dict[tuple[str, ...], Row] = {}

    def _row(self, labels: dict[str, str]) -> Row:
        key = tuple(labels[d] for d in self.dimensions)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(dict(labels))
        return row

    def ensure(self, **labels: str) -> None:
        self._row(labels)

    def _targets(self, labels: dict[str, str]) -> list[dict[str, str]]:
        """The row itself and every total over one or more of its dimensions."""
        out: list[dict[str, str]] = [{}]
        for d in self.dimensions:
            values = (labels[d],) if d in self.no_total else (labels[d], ALL)
            out = [{**o, d: v} for o in out for v in values]
        return out

    def add(self, measure: str, labels: dict[str, str] | None = None, /, **more: str) -> None:
        for target in self._targets({**(labels or {}), **more}):
            row = self._row(target)
            row.counts[measure] = row.counts.get(measure, 0) + 1

    def duration(self, name: str, seconds: float, labels: dict[str, str] | None = None, /,
                 **more: str) -> None:
        for target in self._targets({**(labels or {}), **more}):
            self._row(target).durations.setdefault(name, []).append(seconds)

    def finish(self, table: Table, order: dict[str, list[str]] | None = None) -> Table:
        def rank(row: Row) -> tuple[tuple[int, str], ...]:
            out = []
            for d in self.dimensions:
                v = row.labels[d]
                known = (order or {}).get(d, [])
                out.append((1_000_000 if v == ALL else known.index(v) if v in known
                            else len(known), v))
            return tuple(out)
        for row in self.rows.values():
            for m in table.counts:
                row.counts.setdefault(m.name, 0)
        table.rows = sorted(self.rows.values(), key=rank)
        return table


RAG_ORDER = [r.value for r in Rag]


def referrals_by_source(referrals: list[TriagedReferral], again: set[str],
                        options: ReportOptions) -> tuple[Table, Table]:
    by_code = _Tally(["cin_referral_source"])
    by_system = _Tally(["source_system"])
    for code in SOURCE_OF_REFERRAL:
        by_code.ensure(cin_referral_source=code)
    for system in options.source_systems:
        by_system.ensure(source_system=system)
    for t in referrals:
        code = t.referral.cin_referral_source or NOT_RECORDED
        system = t.referral.source_system
        by_code.add("referrals", cin_referral_source=code)
        by_system.add("referrals", source_system=system)
        if t.referral.referral_id in again:
            by_code.add("re_referrals", cin_referral_source=code)
            by_system.add("re_referrals", source_system=system)
        if t.linked_case is not None:
            by_system.add("joined_open_case", source_system=system)
    for row in by_code.rows.values():
        code = row.labels["cin_referral_source"]
        row.labels["description"] = ("All sources" if code == ALL else
                                     SOURCE_OF_REFERRAL.get(code, "Not recorded by the sender"))
    measures = [_count("referrals", "Referrals"),
                _count("re_referrals", "Re-referrals within 12 months"),
                _share("re_referral_share", "Share that are re-referrals", "re_referrals",
                       "referrals")]
    code_table = by_code.finish(Table(
        "referrals_by_cin_source", "Referrals by source (CIN census source of referral)",
        "Referrals received in the period by the DfE Children in Need census source-of-"
        "referral code the sending system gave, and how many were about a child referred "
        "in the 12 months before.",
        ["cin_referral_source"], list(measures), descriptions=["description"]),
        {"cin_referral_source": [*SOURCE_OF_REFERRAL, NOT_RECORDED]})
    system_table = by_system.finish(Table(
        "referrals_by_source_system", "Referrals by sending system",
        "Referrals received in the period by the system that sent them (hub.yaml's "
        "source_systems); joined_open_case: the child already had an open case the "
        "referral joined.",
        ["source_system"],
        [*measures, _count("joined_open_case", "Joined a case already open")]),
        {"source_system": list(options.source_systems)})
    return code_table, system_table


def rag_mix(referrals: list[TriagedReferral], again: set[str],
            options: ReportOptions) -> Table:
    tally = _Tally(["rag"])
    for rag in Rag:
        tally.ensure(rag=rag.value)
    for t in referrals:
        tally.add("referrals", rag=t.rag.value)
        if t.referral.referral_id in again:
            tally.add("re_referrals", rag=t.rag.value)
        tally.duration("to_rag", options.elapsed(t.rag, t.referral.received_at, t.triaged_at),
                       rag=t.rag.value)
    return tally.finish(Table(
        "rag_mix", "RAG mix, and time from receipt to RAG",
        "Referrals received in the period by the RAG intake gave them; the time from the "
        "referral's receipt to its rating, on the hub's clock for that RAG (working time "
        "where the working-hours calendar applies).",
        ["rag"],
        [_count("referrals", "Referrals"),
         _count("re_referrals", "Re-referrals within 12 months"),
         _pct("to_rag_p50_s", "Receipt to RAG, median", "to_rag", 50),
         _pct("to_rag_p90_s", "Receipt to RAG, 90th percentile", "to_rag", 90)]),
        {"rag": RAG_ORDER})


STAGES = ("assembled", "decided")


def timeliness(facts: dict[str, CaseFacts], options: ReportOptions) -> Table:
    tally = _Tally(["stage", "rag"], no_total=("stage",))
    for stage in STAGES:
        for rag in Rag:
            tally.ensure(stage=stage, rag=rag.value)
    for c in facts.values():
        due = options.deadline(c.rag, c.received_at)
        reached = {
            "assembled": c.first_assembly.assembled_at if c.first_assembly else None,
            "decided": c.first_decision.decided_at if c.first_decision else None,
        }
        for stage, at in reached.items():
            labels = {"stage": stage, "rag": c.rag.value}
            tally.add("cases", labels)
            if at is None:
                tally.add("overdue_not_reached" if options.as_of > due else "not_yet_due",
                          labels)
                continue
            tally.add("on_time" if at <= due else "late", labels)
            tally.duration("elapsed", options.elapsed(c.rag, c.received_at, at), labels)
    return tally.finish(Table(
        "timeliness", "Time from receipt to assembled case and to decision, against the "
        "hub's timescales",
        "Cases opened in the period by the RAG they were first assembled at. A case is on "
        "time when its first assembly (or first decision) came no later than its RAG's "
        "timescale from its first referral's receipt, counted as the hub counts it (Amber "
        "and Green in working time where the threshold policy's calendar applies, Red round "
        "the clock). Percentiles are of the time taken on that same clock.",
        ["stage", "rag"],
        [_count("cases", "Cases",
                parts=("on_time", "late", "overdue_not_reached", "not_yet_due")),
         _count("on_time", "On time"),
         _count("late", "Late"),
         _count("overdue_not_reached", "Not reached, past its timescale"),
         _count("not_yet_due", "Not reached, still within its timescale"),
         _share("on_time_share", "Share on time", "on_time", "cases"),
         _pct("p50_s", "Median time", "elapsed", 50),
         _pct("p90_s", "90th percentile time", "elapsed", 90)]),
        {"stage": list(STAGES), "rag": RAG_ORDER})


AGENCY_PARTS = ("answered_on_time", "answered_late", "declined", "error", "no_response",
                "withdrawn", "pending")


def _first_requests(requests: Iterable[InformationRequest]) -> dict[str, InformationRequest]:
    """request_id -> the request as it stands: its latest revision (a re-rated case re-sends
    it at the new RAG with a tighter respond_by), never a chase (which repeats the
    request_id) or a supersession notice where another record stands."""
    out: dict[str, InformationRequest] = {}
    for r in sorted(requests, key=lambda r: (r.is_chase, r.superseded, -r.revision,
                                             r.requested_at)):
        if not r.withdrawn:
            out.setdefault(r.request_id, r)
    return out


def _first_responses(responses: Iterable[InformationResponse]) -> dict[str, InformationResponse]:
    """request_id -> the first answer (a duplicate or conflicting second changes nothing)."""
    out: dict[str, InformationResponse] = {}
    for r in sorted(responses, key=lambda r: r.responded_at):
        out.setdefault(r.request_id, r)
    return out


def recovered_requests(events: Events) -> tuple[list[InformationRequest],
                                                 list[InformationResponse]]:
    """Requests and answers gone from their week-long topics, rebuilt from what is kept: the
    audit trail (REQUEST_SENT, REQUEST_CHASED, REQUEST_WITHDRAWN: agency, RAG, when) and the
    compacted assembled cases (the case's due time, which enrichment gives each request as
    its respond_by, and every contribution). Only ids the topics no longer hold."""
    known_requests = {r.request_id for r in events.requests}
    known_answers = {r.request_id for r in events.responses}
    due: dict[str, datetime] = {}
    for a in sorted(events.assembled, key=lambda a: a.version, reverse=True):
        due[a.case_id] = a.due_at  # the first assembly's, after the loop
    kinds = {AuditAction.REQUEST_SENT: (False, False), AuditAction.REQUEST_CHASED: (True, False),
             AuditAction.REQUEST_WITHDRAWN: (False, True)}
    # A re-rated request (#19): REQUEST_SENT "<why>: revision N", and, when its RAG changed,
    # REQUEST_SUPERSEDED "<old> revision N-1 superseded by <new> revision N".
    moved: dict[tuple[str, int], Rag] = {}
    for e in events.audit:
        if e.action is AuditAction.REQUEST_SUPERSEDED and e.reference:
            found = _SUPERSEDED.search(e.detail or "")
            if found:
                moved[(e.reference, int(found.group(2)))] = Rag(found.group(1))
    first_rag: dict[str, Rag] = {}
    requests = []
    for e in sorted(events.audit, key=lambda e: e.at):
        if (e.action not in kinds or not e.reference or e.reference in known_requests
                or not e.case_id or not e.agency or e.case_id not in due):
            continue
        chase, withdrawn = kinds[e.action]
        revised = _REVISION.search(e.detail or "") if e.action is AuditAction.REQUEST_SENT else None
        revision = int(revised.group(1)) if revised else 0
        rag = _rated_rag(e.detail)
        if revision:
            rag = moved.get((e.reference, revision)) or first_rag.get(e.reference)
        rag = rag or first_rag.get(e.reference) or Rag.GREEN
        first_rag.setdefault(e.reference, rag)
        requests.append(InformationRequest(
            request_id=e.reference, case_id=e.case_id, agency=e.agency,
            rag=rag, requested_at=e.at, revision=revision,
            respond_by=due[e.case_id], subject=SubjectIdentifiers(),
            data_categories=list(e.data_categories), legal_basis=e.legal_basis or "",
            purpose=e.purpose or "", is_chase=chase, withdrawn=withdrawn))
    answers: dict[str, InformationResponse] = {}
    for a in events.assembled:
        for c in a.contributions:
            if c.request_id in known_answers:
                continue
            seen = answers.get(c.request_id)
            if seen is None or c.responded_at < seen.responded_at:
                answers[c.request_id] = InformationResponse(
                    request_id=c.request_id, case_id=a.case_id, agency=c.agency,
                    responded_at=c.responded_at, status=c.status, reason=c.reason,
                    responder=c.responder)
    return requests, list(answers.values())


def agency_contribution(events: Events, facts: dict[str, CaseFacts],
                        options: ReportOptions) -> Table:
    tally = _Tally(["agency", "rag"])
    for agency in options.agencies:
        for rag in Rag:
            tally.ensure(agency=agency, rag=rag.value)
    old_requests, old_answers = recovered_requests(events)
    all_requests = [*events.requests, *old_requests]
    requests = {rid: r for rid, r in _first_requests(all_requests).items()
                if r.case_id in facts}
    withdrawn = {r.request_id for r in all_requests if r.withdrawn}
    chased = {r.request_id for r in all_requests if r.is_chase}
    answers = _first_responses(r for r in [*events.responses, *old_answers]
                               if r.responded_at <= options.as_of)
    for rid, req in requests.items():
        labels = {"agency": req.agency, "rag": req.rag.value}
        tally.add("asked", labels)
        if rid in chased:
            tally.add("chased", labels)
        answer = answers.get(rid)
        if answer is None:
            part = ("withdrawn" if rid in withdrawn else
                    "no_response" if options.as_of > req.respond_by else "pending")
        elif answer.status is ResponseStatus.DECLINED:
            part = "declined"
        elif answer.status is ResponseStatus.ERROR:
            part = "error"
        else:
            part = "answered_on_time" if answer.responded_at <= req.respond_by else "answered_late"
        tally.add(part, labels)
        if answer is not None and answer.status is not ResponseStatus.ERROR:
            tally.duration("response", max(0.0, (answer.responded_at
                                                 - req.requested_at).total_seconds()), labels)
    rag_of = {case_id: c.rag for case_id, c in facts.items()}
    for e in events.audit:
        if (e.action is AuditAction.EXCESS_DISCLOSURE and e.case_id in rag_of and e.agency
                and e.at <= options.as_of):
            tally.add("excess_disclosures", agency=e.agency, rag=rag_of[e.case_id].value)
    return tally.finish(Table(
        "agency_contribution", "Each agency's contribution",
        "Requests to each agency for the period's cases, by the RAG of the request, and what "
        "became of each (the first answer counts; a chase repeats a request and is not "
        "counted again). On time: answered by the request's respond_by. No response: no "
        "answer and respond_by has passed; pending: not yet. Withdrawn: the hub withdrew the "
        "request (consent refused or withdrawn) before an answer. Excess disclosures: answers "
        "that carried data categories the request did not ask for (audit "
        "EXCESS_DISCLOSURE). Response times are wall-clock, from request to first answer.",
        ["agency", "rag"],
        [_count("asked", "Asked", parts=AGENCY_PARTS),
         _count("answered_on_time", "Answered on time"),
         _count("answered_late", "Answered late"),
         _count("declined", "Declined"),
         _count("error", "Answered with an error"),
         _count("no_response", "No response"),
         _count("withdrawn", "Withdrawn by the hub"),
         _count("pending", "Not yet due"),
         _count("chased", "Chased"),
         _count("excess_disclosures", "Excess disclosures"),
         _share("on_time_share", "Share answered on time", "answered_on_time", "asked"),
         _pct("response_p50_s", "Median response time", "response", 50),
         _pct("response_p90_s", "90th percentile response time", "response", 90)]),
        {"agency": list(options.agencies), "rag": RAG_ORDER})


def partial_cases(facts: dict[str, CaseFacts], options: ReportOptions) -> tuple[Table, Table]:
    by_rag = _Tally(["rag"])
    missing = _Tally(["agency"])
    for rag in Rag:
        by_rag.ensure(rag=rag.value)
    for agency in options.agencies:
        missing.ensure(agency=agency)
    for c in facts.values():
        a = c.first_assembly
        if a is None:
            continue
        by_rag.add("assembled", rag=c.rag.value)
        if a.completeness is Completeness.PARTIAL:
            by_rag.add("partial", rag=c.rag.value)
            late = {x.agency for x in (c.latest_assembly or a).contributions if x.late}
            for agency in a.missing_agencies:
                missing.add("cases_missing", agency=agency)
                if agency in late:
                    missing.add("answered_after_assembly", agency=agency)
    rag_table = by_rag.finish(Table(
        "partial_cases", "Cases assembled partial",
        "Cases of the period by the completeness of their first assembly: PARTIAL when an "
        "asked agency had not answered by the case's due time.",
        ["rag"],
        [_count("assembled", "Cases assembled"), _count("partial", "Assembled partial"),
         _share("partial_share", "Share partial", "partial", "assembled")]),
        {"rag": RAG_ORDER})
    missing_table = missing.finish(Table(
        "missing_agencies", "Who was missing from partial cases",
        "For each agency, the partial cases it was missing from at first assembly, and how "
        "many of those it answered later (the case was amended).",
        ["agency"],
        [_count("cases_missing", "Partial cases it was missing from"),
         _count("answered_after_assembly", "Answered after assembly"),
         _share("answered_after_share", "Share answered after assembly",
                "answered_after_assembly", "cases_missing")]),
        {"agency": list(options.agencies)})
    return rag_table, missing_table


def decisions(facts: dict[str, CaseFacts]) -> tuple[Table, Table]:
    by_outcome = _Tally(["outcome"])
    by_need = _Tally(["cin_primary_need"])
    for code in PRIMARY_NEED:
        by_need.ensure(cin_primary_need=code)
    for c in facts.values():
        d = c.latest_decision
        if d is None:
            continue
        by_outcome.add("cases", outcome=d.outcome.value)
        if d.rationale.strip():
            by_outcome.add("rationale_recorded", outcome=d.outcome.value)
        by_need.add("cases", cin_primary_need=d.cin_primary_need or NOT_RECORDED)
    for row in by_need.rows.values():
        code = row.labels["cin_primary_need"]
        row.labels["description"] = ("All decisions" if code == ALL
                                     else PRIMARY_NEED.get(code, "Not recorded"))
    outcome_table = by_outcome.finish(Table(
        "decisions_by_outcome", "Decisions by outcome",
        "The latest decision on each case of the period, by outcome, and how many record a "
        "rationale (a decision's reasons must be recorded: the Haringey judgment).",
        ["outcome"],
        [_count("cases", "Cases decided"),
         _count("rationale_recorded", "Rationale recorded"),
         _share("rationale_share", "Share with a rationale", "rationale_recorded", "cases")]))
    need_table = by_need.finish(Table(
        "decisions_by_primary_need", "Decisions by CIN primary need",
        "The latest decision on each case of the period by the DfE Children in Need census "
        "primary need code it carries.",
        ["cin_primary_need"], [_count("cases", "Cases decided")],
        descriptions=["description"]),
        {"cin_primary_need": [*PRIMARY_NEED, NOT_RECORDED]})
    return outcome_table, need_table


def _decision_notices(outcomes: Iterable[OutcomeNotification],
                      case_of_referral: dict[str, str]) -> dict[tuple[str, str], datetime]:
    """(case_id, recipient) -> when it was first sent a DECISION notification."""
    out: dict[tuple[str, str], datetime] = {}
    for n in outcomes:
        if n.kind is not NotificationKind.DECISION:
            continue
        case_id = n.case_id or case_of_referral.get(n.referral_id or "")
        if case_id is None:
            continue
        key = (case_id, n.recipient)
        if key not in out or n.sent_at < out[key]:
            out[key] = n.sent_at
    return out


def told(events: Events, facts: dict[str, CaseFacts], options: ReportOptions,
         referrals: dict[str, TriagedReferral]) -> Table:
    tally = _Tally(["role", "recipient"], no_total=("role",))
    case_of_referral = {rid: t.case_id for rid, t in referrals.items()}
    notices = _decision_notices((n for n in events.outcomes if n.sent_at <= options.as_of),
                                case_of_referral)
    for c in facts.values():
        d = c.first_decision
        if d is None:
            continue
        expected: list[tuple[str, str]] = []
        for system in sorted({t.referral.source_system for t in c.referrals}):
            if options.referrers_told is None or system in options.referrers_told:
                expected.append(("referrer", system))
        contributions = (c.latest_assembly.contributions if c.latest_assembly else [])
        for agency in sorted({x.agency for x in contributions
                              if x.status in options.contributor_statuses}):
            expected.append(("contributor", agency))
        for role, recipient in expected:
            labels = {"role": role, "recipient": recipient}
            tally.add("due_to_be_told", labels)
            sent = notices.get((c.case_id, recipient))
            if sent is None:
                tally.add("not_told", labels)
            else:
                tally.add("told", labels)
                tally.duration("delay", max(0.0, (sent - d.decided_at).total_seconds()),
                               labels)
    return tally.finish(Table(
        "told", "Referrers and contributing agencies told the decision",
        "For each decided case of the period: every system a referral came from (if the "
        "recipient policy sends its kind decisions) and every agency whose answer makes it a "
        "contributor, whether it was sent a DECISION notification, and how long after the "
        "first decision (wall-clock).",
        ["role", "recipient"],
        [_count("due_to_be_told", "Due to be told", parts=("told", "not_told")),
         _count("told", "Told"), _count("not_told", "Not told"),
         _share("told_share", "Share told", "told", "due_to_be_told"),
         _pct("delay_p50_s", "Median time to tell", "delay", 50),
         _pct("delay_p90_s", "90th percentile time to tell", "delay", 90)]),
        {"role": ["referrer", "contributor"]})


def consent(referrals: list[TriagedReferral], events: Events, facts: dict[str, CaseFacts],
            options: ReportOptions) -> tuple[Table, Table, Table]:
    states = _Tally(["consent_status"])
    for status in ConsentStatus:
        states.ensure(consent_status=status.value)
    overrides = _Tally(["authorised_by_role"])
    allowed = {r.lower(): r for r in options.authoriser_roles}
    for t in referrals:
        states.add("referrals", consent_status=t.referral.consent.status.value)
        if t.referral.consent.status is ConsentStatus.OVERRIDDEN_CHILD_PROTECTION:
            who = (t.referral.consent.override_authorised_by or "").strip()
            role = allowed.get(who.lower(), NOT_RECORDED if not who else UNLISTED_ROLE)
            overrides.add("overrides", authorised_by_role=role)
            if t.referral.consent.override_reason:
                overrides.add("reason_recorded", authorised_by_role=role)
    audit = _Tally(["action", "reason"], no_total=("action",))
    consent_actions = (AuditAction.REQUEST_WITHHELD, AuditAction.REQUEST_WITHDRAWN,
                       AuditAction.CONSENT_OVERRIDE_IGNORED)
    for action in consent_actions:
        audit.ensure(action=action.value, reason=ALL)
    for e in events.audit:
        if e.action in consent_actions and e.case_id in facts and e.at <= options.as_of:
            audit.add("events", action=e.action.value, reason=_reason_code(e))
    states_table = states.finish(Table(
        "consent", "Consent states",
        "Referrals of the period by the consent state the referrer recorded.",
        ["consent_status"], [_count("referrals", "Referrals")]),
        {"consent_status": [s.value for s in ConsentStatus]})
    override_table = overrides.finish(Table(
        "consent_overrides", "Consent overridden on child-protection grounds, by who "
        "authorised it",
        "Referrals of the period recording a child-protection override, by the role that "
        "authorised it. The authoriser is free text in the contract; it is reported only when "
        "it matches a role the report is configured with (--authoriser-role), since anything "
        "else may be a person's name.",
        ["authorised_by_role"],
        [_count("overrides", "Overrides"), _count("reason_recorded", "Reason recorded"),
         _share("reason_share", "Share with a reason", "reason_recorded", "overrides")]))
    audit_table = audit.finish(Table(
        "consent_audit", "Requests withheld and withdrawn, and overrides not relied on",
        "Audit events on the period's cases, by the reason code enrichment records: "
        "REQUEST_WITHHELD (an agency or some categories not asked: NOT_AT_RAG, the "
        "sharing agreement does not ask it at this RAG; CONSENT_REQUIRED, consent needed and "
        "not given), REQUEST_WITHDRAWN (consent refused or withdrawn after asking) and "
        "CONSENT_OVERRIDE_IGNORED (an override the hub could not rely on).",
        ["action", "reason"], [_count("events", "Audit events")]),
        {"action": [a.value for a in consent_actions]})
    return states_table, override_table, audit_table


# Reason codes enrichment puts first in a REQUEST_WITHHELD or REQUEST_WITHDRAWN detail
# ("CONSENT_REQUIRED: consent REFUSED", "consent refused: request withdrawn"); anything
# else is reported as OTHER, never as text.
AUDIT_REASONS = frozenset({"NOT_AT_RAG", "CONSENT_REQUIRED", "CONSENT_REFUSED",
                           "CONSENT_WITHDRAWN"})


def _reason_code(e: AuditEvent) -> str:
    head = (e.detail or "").split(":", 1)[0].strip().upper().replace(" ", "_")
    return head if head in AUDIT_REASONS else "OTHER"


def deadletters(events: Events, options: ReportOptions) -> Table:
    tally = _Tally(["reason_code", "stage"])
    for dl in events.deadletters:
        if options.in_period(dl.at) and dl.at <= options.as_of:
            tally.add("dead_letters", reason_code=dl.reason_code, stage=dl.stage)
    return tally.finish(Table(
        "deadletters", "Dead letters by reason",
        "Messages dead-lettered in the period, by reason code and the stage that could not "
        "process them.",
        ["reason_code", "stage"], [_count("dead_letters", "Dead letters")]))


def compute(events: Events, options: ReportOptions) -> list[Table]:
    """Every figure of the hub's report, raw (publish suppresses)."""
    triage = first_triage_per_referral(events)
    again = re_referrals(triage.values())
    period = sorted((t for t in triage.values() if options.in_period(t.referral.received_at)),
                    key=lambda t: t.referral.received_at)
    facts = cases(events, options, triage)
    by_code, by_system = referrals_by_source(period, again, options)
    partial, missing = partial_cases(facts, options)
    outcome, need = decisions(facts)
    consent_states, overrides, consent_audit = consent(period, events, facts, options)
    return [by_code, by_system, rag_mix(period, again, options), timeliness(facts, options),
            agency_contribution(events, facts, options), partial, missing, outcome, need,
            told(events, facts, options, triage), consent_states, overrides,
            consent_audit, deadletters(events, options)]
