"""The gather state machine: one case's requests, responses, chases, deadline and assembly.

Pure: `apply(state, event, now, rules)` returns the next state and the effects to carry out
(requests to send, cases to publish, audit events, rejections). It knows nothing of Kafka
or faust and never reads the clock, so tables of events drive it in the unit tests.

Rounds. A case gathers in rounds. Round 1 starts with the first referral. A linked referral
while the round is open joins it (raising its RAG, and shortening its deadline, if it is more
urgent). A linked referral after the case was assembled opens a new round: every agency the
agreement allows is asked again (new request ids) and the round's assembly is the next
version. A response is "late" if it arrives after the round it belongs to was assembled.

Lawful sharing. Each request carries, per data category, the legal basis, purpose and consent
rule the agreement gives it. A response's records in a category its request did not carry
are not stored, assembled or disclosed (EXCESS_DISCLOSURE). The case's consent follows its
referrals (agreement.next_consent); a referral that refuses consent withdraws the pending
requests for categories that rested on consent or an override, and an answer to a withdrawn
request is not disclosed. A referral that would open a case under an id another child's
case already has is refused (CASE_ID_COLLISION), never merged.

Re-rating in flight (#19). A case's rating changes with a recorded reason only: a linked
referral, a response rule of the threshold policy that an agency's answer satisfies (it only
ever raises), or a manager's RatingChange from a hub system (up or down; its rationale is
mandatory). A raise tightens the deadline (the new RAG's timescale from now, if sooner) and
asks any agency the higher RAG adds; a lowering loosens the deadline to the lower RAG's
timescale from the round's start, and only for what has not been answered. Either way every
pending request is re-sent at the new RAG, as the next `revision` of the same request_id on
that RAG's topic, and a notice on the old RAG's topic tells the adapter the earlier revision
is superseded. Every rating the case has had is in `rating_history`, which the assembled
case carries.

Red first. Intake triages Red referrals on their own lane (mash.referrals.triaged.red), so
a Red referral can reach enrichment before the earlier referral that opened its case. The
state opened by such a referral waits for that opener (`awaiting_opener`, from
CaseLink.opened_by) and takes it in when it comes, instead of calling it a collision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    CategoryTerms,
    Completeness,
    ConsentOverride,
    ConsentStatus,
    Contribution,
    FiredRule,
    InformationRequest,
    InformationResponse,
    Rag,
    RatingCause,
    RatingChange,
    RatingEntry,
    Referral,
    ReferrerType,
    ResponseStatus,
    Subject,
    SubjectIdentifiers,
    TriagedReferral,
    UtcDatetime,
)
from mash_common.ids import stable_id
from mash_common.rectification import changed_fields, corrected_identifiers
from mash_common.threshold import ResponseRule, Timescales, due_at, fired_response_rules, highest
from mash_common.workinghours import WorkingHours
from mash_hub.services.enrichment.agreement import (
    Ask,
    ConsentState,
    SharingAgreement,
    decide,
    next_consent,
    permits,
)

DEFAULT_CHASE_POINTS = (0.5, 0.8)


class Phase(StrEnum):
    GATHERING = "GATHERING"
    ASSEMBLED = "ASSEMBLED"


class AskState(BaseModel):
    """One request to one agency in one round."""

    model_config = ConfigDict(extra="forbid")
    agency: str
    request_id: str
    round: int
    rag: Rag
    requested_at: UtcDatetime
    respond_by: UtcDatetime
    identifiers: SubjectIdentifiers
    data_categories: list[str]
    legal_basis: str
    purpose: str
    consent_status: str
    chases: int = 0
    answered_at: UtcDatetime | None = None
    response_id: str | None = None  # the agency's id of the answer that stands
    category_terms: list[CategoryTerms] = Field(default_factory=list)
    consent_override: ConsentOverride | None = None
    withdrawn_at: UtcDatetime | None = None  # the whole request withdrawn
    withdrawn_categories: list[str] = Field(default_factory=list)
    revision: int = 0  # raised each time the request is re-rated

    @property
    def pending(self) -> bool:
        return self.answered_at is None and self.withdrawn_at is None


class GatherState(BaseModel):
    """Everything enrichment keeps about one case; the value of the changelog-backed table."""

    model_config = ConfigDict(extra="forbid")
    case_id: str
    partition: int
    referrals: list[Referral]
    rag: Rag
    opened_at: UtcDatetime
    due_at: UtcDatetime
    round: int = 1
    round_started_at: UtcDatetime
    phase: Phase = Phase.GATHERING
    version: int = 0
    chase_points_passed: int = 0
    asks: list[AskState] = Field(default_factory=list)
    contributions: list[Contribution] = Field(default_factory=list)
    fired_rules: list[FiredRule] = Field(default_factory=list)
    cin_factor_codes: list[str] = Field(default_factory=list)
    consent_status: ConsentStatus = ConsentStatus.UNKNOWN
    consent_override: ConsentOverride | None = None
    rating_history: list[RatingEntry] = Field(default_factory=list)
    # Opened by a linked (Red) referral that overtook the one that opened the case in intake.
    awaiting_opener: str | None = None

    @property
    def consent(self) -> ConsentState:
        return ConsentState(self.consent_status, self.consent_override)

    def current_asks(self) -> list[AskState]:
        return [a for a in self.asks if a.round == self.round]

    def missing_agencies(self) -> list[str]:
        return [a.agency for a in self.current_asks() if a.pending]

    def chase_times(self, points: tuple[float, ...],
                    calendar: WorkingHours | None = None) -> list[datetime]:
        """When unanswered agencies are chased: at fractions of the round's time. For a RAG
        the calendar applies to, the time is working time, so chases fall inside working
        hours (none at night or at weekends); Red is chased round the clock."""
        start, due = self.round_started_at, self.due_at
        if calendar is not None and self.rag in calendar.applies_to:
            span = calendar.elapsed(start, due)
            if span <= timedelta(0):
                return [due for _ in points]  # no working time left: the deadline comes first
            return sorted(min(due, calendar.advance(start, span * p)) for p in points)
        return sorted(start + (due - start) * p for p in points)

    def next_wakeup(self, points: tuple[float, ...],
                    calendar: WorkingHours | None = None) -> datetime | None:
        """When the sweeper must next look at this case: a chase point or the deadline."""
        if self.phase is not Phase.GATHERING:
            return None
        upcoming = self.chase_times(points, calendar)[self.chase_points_passed:]
        return min([self.due_at, *upcoming])


# Events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Triaged:
    triaged: TriagedReferral
    partition: int


@dataclass(frozen=True)
class Responded:
    response: InformationResponse
    # The agency whose own topic carried the response: the broker's ACLs bind it, so it,
    # not the record's `agency` field, says who answered.
    sender: str


@dataclass(frozen=True)
class RatingChanged:
    change: RatingChange
    # The hub system whose own topic carried it (the broker's ACLs bind it).
    sender: str


@dataclass(frozen=True)
class Tick:
    """The sweeper looked at the case; `now` says what is due."""


Event = Triaged | Responded | RatingChanged | Tick


# Effects --------------------------------------------------------------------------------


class RequestKind(StrEnum):
    NEW = "NEW"
    CHASE = "CHASE"
    RERATED = "RERATED"
    NARROWED = "NARROWED"  # consent refused: re-sent without the categories it gated
    WITHDRAWN = "WITHDRAWN"  # consent refused: the whole request withdrawn
    SUPERSEDED = "SUPERSEDED"  # the notice on the old RAG's topic after a re-rating
    RECTIFIED = "RECTIFIED"  # re-sent as it stands, the subject's identifiers corrected


@dataclass(frozen=True)
class SendRequest:
    request: InformationRequest
    kind: RequestKind


@dataclass(frozen=True)
class Audit:
    action: AuditAction
    agency: str | None = None
    reference: str | None = None
    legal_basis: str | None = None
    data_categories: list[str] = field(default_factory=list)
    detail: str | None = None
    purpose: str | None = None
    consent_status: str | None = None
    category_terms: list[CategoryTerms] = field(default_factory=list)
    consent_override: ConsentOverride | None = None
    actor: str | None = None  # who acted, when not mash-hub itself (a manager)


@dataclass(frozen=True)
class ExcessDisclosure:
    """Records in categories not asked for were dropped (counted per agency)."""

    agency: str
    records: int


@dataclass(frozen=True)
class PublishCase:
    case: AssembledCase
    amended: bool
    # Seconds after due_at the deadline fired; None when not assembled by the deadline.
    lateness_s: float | None = None


@dataclass(frozen=True)
class Reject:
    """The input cannot be applied: dead-letter it with this reason."""

    reason_code: str
    error: str


@dataclass(frozen=True)
class ResponseRecorded:
    agency: str
    status: ResponseStatus
    response_time_s: float
    late: bool


@dataclass(frozen=True)
class Refuse:
    """Tell a hub system its rating change was refused, and why (no personal data)."""

    hub_system: str
    case_id: str
    change_id: str
    reasons: list[str]


@dataclass(frozen=True)
class Ignored:
    """Redelivered or duplicate input: nothing changes (counted, not audited)."""

    reason_code: str


Effect = (SendRequest | Audit | PublishCase | Reject | ResponseRecorded | Ignored | ExcessDisclosure
          | Refuse)


@dataclass(frozen=True)
class Rules:
    agreement: SharingAgreement
    chase_points: tuple[float, ...] = DEFAULT_CHASE_POINTS
    # Source system -> its kind (hub.yaml): who may record a consent override.
    source_kinds: Mapping[str, ReferrerType] = field(default_factory=dict)
    # The threshold policy's working-hours calendar: chases for the RAGs it applies to go
    # out in working hours, like their deadlines; None: chase at any time.
    calendar: WorkingHours | None = None
    # The threshold policy's timescales (a re-rated case's new deadline) and its rules over
    # agency responses, in the hub's time zone.
    timescales: Timescales = field(default_factory=Timescales)
    response_rules: tuple[ResponseRule, ...] = ()
    zone: str = "Europe/London"


@dataclass
class Outcome:
    state: GatherState | None
    effects: list[Effect]


# Pure helpers ---------------------------------------------------------------------------


def request_id(case_id: str, agency: str, round_: int) -> str:
    """Stable per case, agency and round: a redelivered referral and every chase reuse it."""
    return stable_id("request", case_id, agency, round_)


def more_urgent(a: Rag, b: Rag) -> Rag:
    return a if a.rank <= b.rank else b


def merged_subject(referrals: list[Referral]) -> Subject:
    """The latest referral's subject, with identifiers only earlier referrals gave filled in."""
    latest = referrals[-1].subject.model_dump()
    for ref in reversed(referrals[:-1]):
        for name, value in ref.subject.model_dump().items():
            if latest.get(name) is None and value is not None:
                latest[name] = value
    return Subject.model_validate(latest)


def _request(state: GatherState, ask: AskState, now: datetime, *, chase: int = 0,
             supersedes: Rag | None = None, notice_on: Rag | None = None) -> InformationRequest:
    """The request as it stands; `notice_on`: instead, the notice on that RAG's topic that
    the revision sent there is superseded by this one."""
    return InformationRequest(
        request_id=ask.request_id,
        case_id=state.case_id,
        agency=ask.agency,
        rag=notice_on or ask.rag,
        requested_at=now,
        respond_by=ask.respond_by,
        subject=ask.identifiers,
        data_categories=ask.data_categories,
        legal_basis=ask.legal_basis,
        purpose=ask.purpose,
        is_chase=chase > 0,
        chase_number=chase,
        consent_status=ask.consent_status,
        category_terms=ask.category_terms,
        consent_override=ask.consent_override,
        withdrawn=ask.withdrawn_at is not None,
        withdrawal_reason="consent refused or withdrawn" if ask.withdrawn_at is not None else None,
        revision=ask.revision,
        supersedes_rag=supersedes,
        superseded=notice_on is not None,
        superseded_by_rag=ask.rag if notice_on is not None else None,
    )


def _supersede(state: GatherState, ask: AskState, previous: Rag, now: datetime,
               why: str) -> list[Effect]:
    """Re-send a pending request as its next revision at its (new) RAG; if the RAG changed,
    tell the adapter on the old RAG's topic that the revision there is superseded."""
    ask.revision += 1
    effects: list[Effect] = [
        SendRequest(_request(state, ask, now, chase=ask.chases,
                             supersedes=previous if previous is not ask.rag else None),
                    RequestKind.RERATED),
        _request_audit(AuditAction.REQUEST_SENT, ask, f"{why}: revision {ask.revision}"),
    ]
    if previous is not ask.rag:
        effects.append(SendRequest(_request(state, ask, now, chase=ask.chases, notice_on=previous),
                                   RequestKind.SUPERSEDED))
        effects.append(_request_audit(AuditAction.REQUEST_SUPERSEDED, ask,
                                      f"{previous.value} revision {ask.revision - 1} superseded by "
                                      f"{ask.rag.value} revision {ask.revision}"))
    return effects


def _request_audit(action: AuditAction, ask: AskState, detail: str,
                   categories: list[str] | None = None) -> Audit:
    return Audit(action, agency=ask.agency, reference=ask.request_id, legal_basis=ask.legal_basis,
                 data_categories=ask.data_categories if categories is None else categories,
                 detail=detail, purpose=ask.purpose, consent_status=ask.consent_status,
                 category_terms=ask.category_terms, consent_override=ask.consent_override)


def _consent_step(state: GatherState, referral: Referral, rules: Rules) -> list[Effect]:
    """Fold one referral's consent into the case's; audit an override that does not count."""
    step = next_consent(state.consent if state.referrals[:-1] else None, referral,
                        rules.source_kinds.get(referral.source_system), rules.agreement)
    state.consent_status = step.state.status
    state.consent_override = step.state.override
    if step.ignored is None:
        return []
    return [Audit(AuditAction.CONSENT_OVERRIDE_IGNORED, agency=referral.source_system,
                  reference=referral.referral_id, consent_status=state.consent_status.value,
                  detail=f"{step.ignored.value}: override from {referral.source_system} not accepted")]


def _withdraw(state: GatherState, now: datetime) -> list[Effect]:
    """Consent is refused: take back what rested on it from every pending request."""
    effects: list[Effect] = []
    consent = state.consent
    for ask in state.current_asks():
        if not ask.pending:
            continue
        keep = [t for t in ask.category_terms if permits(t.consent_rule, consent)]
        gone = [t.category for t in ask.category_terms if t not in keep]
        if not gone:
            continue
        ask.withdrawn_categories = [*ask.withdrawn_categories, *gone]
        ask.consent_status = consent.status.value
        if keep:
            ask.category_terms = keep
            ask.data_categories = [t.category for t in keep]
            ask.legal_basis = "; ".join(dict.fromkeys(t.legal_basis for t in keep))
            ask.consent_override = None
            effects.append(SendRequest(_request(state, ask, now, chase=ask.chases), RequestKind.NARROWED))
            effects.append(_request_audit(AuditAction.REQUEST_WITHDRAWN, ask,
                                          "consent refused: categories withdrawn", gone))
        else:
            ask.withdrawn_at = now
            effects.append(SendRequest(_request(state, ask, now, chase=ask.chases), RequestKind.WITHDRAWN))
            effects.append(_request_audit(AuditAction.REQUEST_WITHDRAWN, ask,
                                          "consent refused: request withdrawn", gone))
    return effects


def _plan(state: GatherState, now: datetime, rules: Rules, referral_id: str) -> list[Effect]:
    """Ask every agency the agreement allows that this round has not asked yet; re-send the
    unanswered ones whose priority or categories the round's RAG has changed."""
    effects: list[Effect] = []
    consent = state.consent
    subject = merged_subject(state.referrals)
    asked = {a.agency: a for a in state.current_asks()}
    for agency in rules.agreement.agencies:
        decision = decide(rules.agreement, agency, state.rag, consent, subject)
        existing = asked.get(agency)
        if existing is not None and existing.withdrawn_at is not None:
            continue  # withdrawn in this round: asked again only in a new round
        if not isinstance(decision, Ask):
            if existing is None:
                effects.append(Audit(AuditAction.REQUEST_WITHHELD, agency=agency, reference=referral_id,
                                     data_categories=decision.categories,
                                     consent_status=consent.status.value,
                                     detail=f"{decision.reason.value}: {decision.detail}"))
            continue
        if existing is None and decision.withheld:
            effects.append(Audit(AuditAction.REQUEST_WITHHELD, agency=agency, reference=referral_id,
                                 data_categories=decision.withheld, consent_status=consent.status.value,
                                 detail=f"CONSENT_REQUIRED: consent {consent.status.value} "
                                        "(some categories)"))
        override = consent.override if decision.rests_on_override else None
        if existing is None:
            ask = AskState(
                agency=agency, request_id=request_id(state.case_id, agency, state.round),
                round=state.round, rag=state.rag, requested_at=now, respond_by=state.due_at,
                identifiers=decision.identifiers, data_categories=decision.data_categories,
                legal_basis=decision.legal_basis, purpose=decision.purpose,
                consent_status=consent.status.value, category_terms=decision.terms,
                consent_override=override,
            )
            state.asks.append(ask)
            effects.append(SendRequest(_request(state, ask, now), RequestKind.NEW))
            effects.append(_request_audit(AuditAction.REQUEST_SENT, ask, f"{ask.rag.value} round {ask.round}"))
        elif existing.pending and (
            existing.rag is not state.rag or existing.respond_by != state.due_at
        ):
            previous = existing.rag
            existing.rag = state.rag
            existing.respond_by = state.due_at
            existing.data_categories = decision.data_categories
            existing.category_terms = decision.terms
            existing.legal_basis = decision.legal_basis
            existing.purpose = decision.purpose
            existing.consent_status = consent.status.value
            existing.consent_override = override
            existing.identifiers = decision.identifiers
            effects += _supersede(state, existing, previous, now,
                                  f"re-rated {previous.value}->{state.rag.value}")
    return effects


# Re-rating ------------------------------------------------------------------------------


def _entry(state: GatherState, rag: Rag, cause: RatingCause, now: datetime, *, rationale: str,
           decided_by: str, reference: str | None, rule_ids: list[str] | None = None,
           previous: Rag | None = None) -> RatingEntry:
    return RatingEntry(at=now, rag=rag, previous_rag=previous, cause=cause,
                       rule_ids=rule_ids or [], rationale=rationale, decided_by=decided_by,
                       reference=reference)


def _rating_audit(entry: RatingEntry, what: str, via: str) -> Audit:
    """RATING_CHANGED: the change, its cause and rules, and a digest of the rationale the
    case records (the text itself stays with the case: it may name people)."""
    digest = hashlib.sha256(entry.rationale.encode("utf-8")).hexdigest()[:16]
    rules = f" {','.join(entry.rule_ids)}" if entry.rule_ids else ""
    manager = entry.cause is RatingCause.MANAGER
    return Audit(AuditAction.RATING_CHANGED, reference=entry.reference,
                 detail=f"{what} {entry.cause.value}{rules} via {via}; rationale sha256 {digest}",
                 actor=entry.decided_by if manager else None)


def _change_rating(state: GatherState, rag: Rag, now: datetime, rules: Rules,
                   entry: RatingEntry, actor: str) -> list[Effect]:
    """Move the case to `rag` for the reason `entry` records: its deadline, its pending
    requests, and its history. Answered requests are left as they are."""
    previous = state.rag
    state.rag = rag
    state.rating_history.append(entry)
    gathering = state.phase is Phase.GATHERING
    effects: list[Effect] = [_rating_audit(entry, f"{previous.value}->{rag.value}", actor)]
    why = f"re-rated {previous.value}->{rag.value}"
    if rag.rank < previous.rank and gathering:
        # Raised: the new timescale from now, if sooner; the higher RAG may ask more.
        state.due_at = min(state.due_at, due_at(rules.timescales, rules.calendar, rag, now))
        return effects + _plan(state, now, rules, entry.reference or state.case_id)
    lowered = rag.rank > previous.rank
    if gathering and lowered:
        # Lowered: the lower RAG's timescale from the round's start, never sooner than now's.
        state.due_at = max(state.due_at, due_at(rules.timescales, rules.calendar, rag,
                                                state.round_started_at))
    subject = merged_subject(state.referrals)
    for ask in state.current_asks():
        if not ask.pending:
            continue  # answered (or withdrawn): nothing to loosen or tighten
        if lowered:
            # Asked only what the agreement allows at the lower RAG: an agency it does not
            # ask there is withdrawn, the others narrowed to its categories there.
            decision = decide(rules.agreement, ask.agency, rag, state.consent, subject)
            allowed = decision.data_categories if isinstance(decision, Ask) else []
            if not set(allowed) & set(ask.data_categories):
                ask.withdrawn_at = now
                effects.append(SendRequest(_request(state, ask, now, chase=ask.chases),
                                           RequestKind.WITHDRAWN))
                effects.append(_request_audit(AuditAction.REQUEST_WITHDRAWN, ask,
                                              f"{why}: not asked at {rag.value}"))
                continue
            gone = [c for c in ask.data_categories if c not in allowed]
            kept = [t for t in ask.category_terms if t.category in allowed]
            if gone and kept:
                ask.category_terms = kept
                ask.data_categories = [t.category for t in kept]
                ask.legal_basis = "; ".join(dict.fromkeys(t.legal_basis for t in kept))
                ask.purpose = "; ".join(dict.fromkeys(t.purpose for t in kept))
                ask.withdrawn_categories = [*ask.withdrawn_categories, *gone]
        before = ask.rag
        ask.rag = rag
        if gathering:
            ask.respond_by = state.due_at
        effects += _supersede(state, ask, before, now, why)
    return effects


def _rate_by_response(state: GatherState, resp: InformationResponse, now: datetime,
                      rules: Rules) -> list[Effect]:
    """The response rules this answer satisfies: recorded on the case; if one rates the
    case higher than it is, the case is raised (a response rule never lowers it)."""
    fired = fired_response_rules(rules.response_rules, resp, now, rules.zone)
    if not fired:
        return []
    for rule in fired:
        if rule not in state.fired_rules:
            state.fired_rules.append(rule)
    target = highest([f.rag for f in fired])
    if target.rank >= state.rag.rank:
        return []
    raising = [f for f in fired if f.rag.rank < state.rag.rank]
    entry = _entry(state, target, RatingCause.RESPONSE_RULE, now, previous=state.rag,
                   rule_ids=[f.rule_id for f in raising],
                   rationale="; ".join(f.description for f in raising),
                   decided_by="mash-hub threshold policy", reference=resp.request_id)
    return _change_rating(state, target, now, rules, entry, "threshold policy")


def _assemble(state: GatherState, now: datetime, *, amended: bool, at_deadline: bool) -> list[Effect]:
    state.version += 1
    state.phase = Phase.ASSEMBLED
    missing = state.missing_agencies()
    completeness = Completeness.PARTIAL if missing else Completeness.COMPLETE
    case = AssembledCase(
        case_id=state.case_id,
        version=state.version,
        referral_ids=[r.referral_id for r in state.referrals],
        referrals=state.referrals,
        subject=merged_subject(state.referrals),
        rag=state.rag,
        opened_at=state.opened_at,
        due_at=state.due_at,
        assembled_at=now,
        completeness=completeness,
        asked_agencies=[a.agency for a in state.current_asks()],
        contributions=state.contributions,
        missing_agencies=missing,
        fired_rules=state.fired_rules,
        cin_factor_codes=state.cin_factor_codes,
        rating_history=state.rating_history,
    )
    action = AuditAction.CASE_AMENDED if amended else AuditAction.CASE_ASSEMBLED
    detail = f"v{state.version} {completeness.value}"
    if missing:
        detail += " missing " + ",".join(missing)
    lateness = (now - state.due_at).total_seconds() if at_deadline else None
    return [
        PublishCase(case, amended=amended, lateness_s=lateness),
        Audit(action, reference=f"{state.case_id}@v{state.version}", detail=detail),
    ]


def _merge_codes(state: GatherState, triaged: TriagedReferral) -> None:
    for rule in triaged.fired_rules:
        if rule not in state.fired_rules:
            state.fired_rules.append(rule)
    for code in triaged.cin_factor_codes:
        if code not in state.cin_factor_codes:
            state.cin_factor_codes.append(code)


# Transitions ----------------------------------------------------------------------------


def _triage_entry(state: GatherState, tr: TriagedReferral, previous: Rag | None,
                  cause: RatingCause) -> RatingEntry:
    fired = [f for f in tr.fired_rules if f.rag is tr.rag]
    return _entry(state, tr.rag, cause, tr.triaged_at, previous=previous,
                  rule_ids=[f.rule_id for f in fired],
                  rationale="; ".join(f.description for f in fired) or "the threshold policy's default",
                  decided_by=f"mash-hub intake (threshold policy {tr.policy_version or 'unversioned'})",
                  reference=tr.referral.referral_id)


def _on_triaged(state: GatherState | None, ev: Triaged, now: datetime, rules: Rules) -> Outcome:
    tr = ev.triaged
    if state is None:
        state = GatherState(
            case_id=tr.case_id, partition=ev.partition, referrals=[tr.referral], rag=tr.rag,
            opened_at=tr.opened_at, due_at=tr.due_at, round_started_at=now,
        )
        linked = tr.linked_case is not None and tr.linked_case.case_id == tr.case_id
        # A linked referral first: it overtook its case's opener (the Red lane).
        state.awaiting_opener = tr.linked_case.opened_by if linked and tr.linked_case else None
        state.rating_history.append(_triage_entry(
            state, tr, None, RatingCause.LINKED_REFERRAL if linked else RatingCause.TRIAGE))
        _merge_codes(state, tr)
        effects = _consent_step(state, tr.referral, rules)
        effects += _plan(state, now, rules, tr.referral.referral_id)
        if not state.current_asks():
            effects += _assemble(state, now, amended=False, at_deadline=False)
        return Outcome(state, effects)
    if any(r.referral_id == tr.referral.referral_id for r in state.referrals):
        return Outcome(state, [Ignored("DUPLICATE_REFERRAL")])
    late_opener = tr.linked_case is None and state.awaiting_opener == tr.referral.referral_id
    if not late_opener and (tr.linked_case is None or tr.linked_case.case_id != state.case_id):
        # Intake opened a new case, and its id is one another child's case already has.
        # Merging would put two children's records in one case: refuse, loudly.
        return Outcome(state, [
            Reject("CASE_ID_COLLISION", f"referral {tr.referral.referral_id} opened a new case "
                                        f"whose id {tr.case_id} an existing case has"),
            Audit(AuditAction.CASE_ID_COLLISION, reference=tr.referral.referral_id,
                  detail="a new case's id equals an existing case's; not merged"),
        ])
    if late_opener:
        # The case's first referral, overtaken on the way by a Red one that joined it.
        state.awaiting_opener = None
        state.referrals.insert(0, tr.referral)
    else:
        state.referrals.append(tr.referral)
    _merge_codes(state, tr)
    if state.phase is Phase.ASSEMBLED:
        # A new concern about an assembled case: gather again, as the case's next version.
        state.round += 1
        state.phase = Phase.GATHERING
        state.round_started_at = now
        state.chase_points_passed = 0
        if tr.rag is not state.rag:
            state.rating_history.append(
                _triage_entry(state, tr, state.rag, RatingCause.LINKED_REFERRAL))
        state.rag = tr.rag
        state.due_at = tr.due_at
        if state.consent_override is not None:
            # An override was recorded for the round it was made in; a new concern needs
            # consent or a fresh override.
            state.consent_status, state.consent_override = ConsentStatus.UNKNOWN, None
        effects = _consent_step(state, tr.referral, rules)
        effects += _plan(state, now, rules, tr.referral.referral_id)
        if not state.current_asks():
            effects += _assemble(state, now, amended=False, at_deadline=False)
        return Outcome(state, effects)
    # Joins the open round: the more urgent RAG and the earlier deadline win.
    if tr.rag.rank < state.rag.rank:
        state.rating_history.append(_triage_entry(
            state, tr, state.rag, RatingCause.TRIAGE if late_opener else RatingCause.LINKED_REFERRAL))
    state.rag = more_urgent(state.rag, tr.rag)
    state.due_at = min(state.due_at, tr.due_at)
    before = state.consent
    effects = _consent_step(state, tr.referral, rules)
    if state.consent_status is ConsentStatus.REFUSED and before.status is not ConsentStatus.REFUSED:
        effects += _withdraw(state, now)
    effects += _plan(state, now, rules, tr.referral.referral_id)
    if state.current_asks() and not state.missing_agencies():
        effects += _assemble(state, now, amended=False, at_deadline=False)
    return Outcome(state, effects)


def _same_answer(first: Contribution, resp: InformationResponse) -> bool:
    """Whether a second response says what the first did (a chase answered again)."""
    return (first.status, first.reason, first.records, first.responder) == (
        resp.status, resp.reason, resp.records, resp.responder)


def _excess(resp: InformationResponse, ask: AskState, rules: Rules
            ) -> tuple[InformationResponse, list[Effect]]:
    """The response limited to the categories its request carried, and what to record
    about the rest: agency and category (a category the agreement does not know is not
    named, it could be anything), never the records' content."""
    asked = set(ask.data_categories)
    kept = [r for r in resp.records if r.category in asked]
    if len(kept) == len(resp.records):
        return resp, []
    known = rules.agreement.agencies[ask.agency].known_categories() \
        if ask.agency in rules.agreement.agencies else set()
    dropped: dict[tuple[AuditAction, str], int] = {}
    for record in resp.records:
        if record.category in asked:
            continue
        action = (AuditAction.RESPONSE_AFTER_WITHDRAWAL if record.category in ask.withdrawn_categories
                  else AuditAction.EXCESS_DISCLOSURE)
        name = record.category if record.category in known else "(a category not in the agreement)"
        dropped[(action, name)] = dropped.get((action, name), 0) + 1
    effects: list[Effect] = [ExcessDisclosure(ask.agency, len(resp.records) - len(kept))]
    for (action, name), count in sorted(dropped.items()):
        effects.append(Audit(action, agency=ask.agency, reference=ask.request_id,
                             legal_basis=ask.legal_basis, data_categories=[name],
                             detail=f"{count} record{'s' if count != 1 else ''} outside the request; "
                                    "not stored, assembled or disclosed"))
    return resp.model_copy(update={"records": kept}), effects


def _on_response(state: GatherState | None, ev: Responded, now: datetime, rules: Rules) -> Outcome:
    resp = ev.response
    if resp.agency != ev.sender:
        # Checked before anything else: a record one agency wrote in another's name is never
        # looked up, stored or disclosed.
        return Outcome(state, [
            Reject("SENDER_MISMATCH", f"response on {ev.sender}'s topic names another agency"),
            Audit(AuditAction.SENDER_MISMATCH, agency=ev.sender, reference=resp.request_id,
                  detail=f"security: {ev.sender} wrote a response in another agency's name"),
        ])
    if state is None:
        return Outcome(None, [Reject("UNKNOWN_REQUEST", f"no case {resp.case_id} for request {resp.request_id}")])
    ask = next((a for a in state.asks if a.request_id == resp.request_id), None)
    if ask is None:
        return Outcome(state, [Reject("UNKNOWN_REQUEST", f"case {resp.case_id} has no request {resp.request_id}")])
    if ask.agency != resp.agency:
        return Outcome(state, [Reject("AGENCY_MISMATCH", f"request {resp.request_id} was sent to {ask.agency}, "
                                                         f"answered as {resp.agency}")])
    if ask.withdrawn_at is not None:
        # Consent was refused before the agency answered: nothing of it is kept or passed on.
        return Outcome(state, [
            Ignored("WITHDRAWN_REQUEST"),
            Audit(AuditAction.RESPONSE_AFTER_WITHDRAWAL, agency=resp.agency, reference=resp.request_id,
                  legal_basis=ask.legal_basis, consent_status=state.consent_status.value,
                  detail=f"{resp.status.value} to a withdrawn request; not stored, assembled or disclosed"),
        ])
    resp, excess = _excess(resp, ask, rules)
    if ask.answered_at is not None:
        second = _on_second_answer(state, ask, resp, now, rules)
        if any(isinstance(e, Ignored | Reject) for e in second.effects):
            return second  # a redelivery or a conflict: its excess was recorded the first time
        return Outcome(second.state, [*excess, *second.effects])
    late = ask.round < state.round or state.phase is Phase.ASSEMBLED
    ask.answered_at = now
    ask.response_id = resp.response_id
    state.contributions.append(_contribution(resp, late))
    effects: list[Effect] = [
        *excess,
        ResponseRecorded(resp.agency, resp.status, (now - ask.requested_at).total_seconds(), late),
        _answer_audit(resp, ask, detail=f"{resp.status.value}{' late' if late else ''}"),
    ]
    effects += _rate_by_response(state, resp, now, rules)
    if state.phase is Phase.ASSEMBLED:
        effects += _assemble(state, now, amended=True, at_deadline=False)
    elif ask.round == state.round and not state.missing_agencies():
        effects += _assemble(state, now, amended=False, at_deadline=False)
    return Outcome(state, effects)


def _contribution(resp: InformationResponse, late: bool) -> Contribution:
    return Contribution(
        agency=resp.agency, request_id=resp.request_id, status=resp.status,
        responded_at=resp.responded_at, reason=resp.reason, records=resp.records,
        responder=resp.responder, late=late,
    )


def _answer_audit(resp: InformationResponse, ask: AskState, detail: str,
                  action: AuditAction | None = None) -> Audit:
    chosen = action or {
        ResponseStatus.FOUND: AuditAction.DISCLOSURE,
        ResponseStatus.DECLINED: AuditAction.REFUSAL,
    }.get(resp.status, AuditAction.RESPONSE_RECEIVED)
    return Audit(chosen, agency=resp.agency, reference=resp.request_id, legal_basis=ask.legal_basis,
                 data_categories=sorted({r.category for r in resp.records}), detail=detail)


def _on_second_answer(state: GatherState, ask: AskState, resp: InformationResponse,
                      now: datetime, rules: Rules) -> Outcome:
    """A request already answered: the same answer again changes nothing; a correction that
    names the answer it replaces, or any answer after an ERROR, amends the case; any other
    different answer is a conflict, and the first answer stands."""
    index, first = next((i, c) for i, c in enumerate(state.contributions)
                        if c.request_id == resp.request_id)
    if resp.response_id is not None and resp.response_id == ask.response_id:
        return Outcome(state, [Ignored("DUPLICATE_RESPONSE")])  # the standing answer, again
    if resp.corrects is None and _same_answer(first, resp):
        return Outcome(state, [Ignored("DUPLICATE_RESPONSE")])  # e.g. a chase answered again
    # An ERROR answer says the agency could not look; a later answer (a retry that worked,
    # say on a chase) replaces it without naming it. Any other change must name what it
    # corrects.
    retried = first.status is ResponseStatus.ERROR and resp.corrects is None
    if retried or (resp.corrects is not None and resp.corrects == ask.response_id):
        ask.response_id = resp.response_id
        state.contributions[index] = _contribution(resp, first.late)
        effects: list[Effect] = [_answer_audit(
            resp, ask, action=AuditAction.RESPONSE_CORRECTED,
            detail=f"{resp.status.value} replaces {first.status.value}")]
        effects += _rate_by_response(state, resp, now, rules)
        if state.phase is Phase.ASSEMBLED:
            effects += _assemble(state, now, amended=True, at_deadline=False)
        return Outcome(state, effects)
    why = ("names an answer that is not the one standing" if resp.corrects is not None
           else "differs from the first and names no answer it corrects")
    return Outcome(state, [
        Reject("RESPONSE_CONFLICT", f"second answer to request {resp.request_id} {why}"),
        Audit(AuditAction.RESPONSE_CONFLICT, agency=resp.agency, reference=resp.request_id,
              legal_basis=ask.legal_basis, detail=f"conflict: {why}; the first answer stands"),
    ])


def _refuse(ch: RatingChange, sender: str, reason_code: str, why: str) -> list[Effect]:
    return [
        Reject(reason_code, f"rating change {ch.change_id}: {why}"),
        Audit(AuditAction.RATING_CHANGE_REFUSED, agency=sender, reference=ch.change_id,
              detail=f"{reason_code}: {why}"),
        Refuse(sender, ch.case_id, ch.change_id, [f"{reason_code}: {why}"]),
    ]


def _on_rating_change(state: GatherState | None, ev: RatingChanged, now: datetime,
                      rules: Rules) -> Outcome:
    """A manager's re-rating: refused without a rationale, otherwise applied up or down."""
    ch = ev.change
    if ch.hub_system != ev.sender:
        return Outcome(state, [
            Reject("SENDER_MISMATCH", f"rating change on {ev.sender}'s topic names another hub system"),
            Audit(AuditAction.SENDER_MISMATCH, agency=ev.sender, reference=ch.change_id,
                  detail=f"security: {ev.sender} wrote a rating change in another system's name"),
        ])
    if not ch.rationale.strip():
        return Outcome(state, _refuse(ch, ev.sender, "RATIONALE_MISSING",
                                      "a rationale is required; a rating never changes without "
                                      "a recorded reason"))
    if not ch.decided_by.strip():
        return Outcome(state, _refuse(ch, ev.sender, "DECIDED_BY_MISSING",
                                      "decided_by must say who decided"))
    if state is None:
        return Outcome(None, _refuse(ch, ev.sender, "UNKNOWN_CASE",
                                     f"no open case {ch.case_id} here (never seen, or forgotten)"))
    if any(e.cause is RatingCause.MANAGER and e.reference == ch.change_id
           for e in state.rating_history):
        return Outcome(state, [Ignored("DUPLICATE_RATING_CHANGE")])
    entry = _entry(state, ch.rag, RatingCause.MANAGER, now, previous=state.rag,
                   rationale=ch.rationale, decided_by=ch.decided_by, reference=ch.change_id)
    if ch.rag is state.rag:
        # A review that keeps the rating is part of the history too; nothing else moves.
        state.rating_history.append(entry)
        return Outcome(state, [_rating_audit(entry, f"{ch.rag.value} confirmed", ev.sender)])
    effects = _change_rating(state, ch.rag, now, rules, entry, ev.sender)
    if state.phase is Phase.ASSEMBLED:
        effects += _assemble(state, now, amended=True, at_deadline=False)
    elif state.current_asks() and not state.missing_agencies():
        effects += _assemble(state, now, amended=False, at_deadline=False)
    return Outcome(state, effects)


def _on_tick(state: GatherState, now: datetime, rules: Rules) -> Outcome:
    if state.phase is not Phase.GATHERING:
        return Outcome(state, [])
    if now >= state.due_at:
        return Outcome(state, _assemble(state, now, amended=False, at_deadline=True))
    passed = sum(1 for t in state.chase_times(rules.chase_points, rules.calendar) if t <= now)
    if passed <= state.chase_points_passed:
        return Outcome(state, [])
    state.chase_points_passed = passed
    effects: list[Effect] = []
    for ask in state.current_asks():
        if ask.pending:
            ask.chases += 1
            effects.append(SendRequest(_request(state, ask, now, chase=ask.chases), RequestKind.CHASE))
            effects.append(_request_audit(AuditAction.REQUEST_CHASED, ask, f"chase {ask.chases}"))
    return Outcome(state, effects)


def rectify(state: GatherState, referral: Referral, now: datetime) -> Outcome:
    """A rectification of one of the case's referrals (mash_ops.erasure rectify): its
    subject is replaced by the corrected one, each request's identifiers are corrected
    (only those it carried) and re-sent as they stand (same id and revision, so adapters
    answer from their cache), and an assembled case is published again as its next
    version. A case gathering a later round carries the correction at its next assembly."""
    index = next((i for i, r in enumerate(state.referrals)
                  if r.referral_id == referral.referral_id), None)
    if index is None:
        return Outcome(state, [Ignored("RECTIFY_UNKNOWN_REFERRAL")])
    fields = changed_fields(state.referrals[index].subject, referral.subject)
    if not fields:
        return Outcome(state, [Ignored("RECTIFY_NOTHING_CHANGED")])
    state = state.model_copy(deep=True)
    state.referrals[index] = state.referrals[index].model_copy(update={"subject": referral.subject})
    values = {f: getattr(referral.subject, f) for f in fields}
    effects: list[Effect] = [Audit(AuditAction.CASE_RECTIFIED, reference=referral.referral_id,
                                   detail="enrichment: gather state corrected: subject."
                                          + ", subject.".join(fields))]
    for i, ask in enumerate(state.asks):
        ids = corrected_identifiers(ask.identifiers, values)
        if ids == ask.identifiers:
            continue
        state.asks[i] = ask = ask.model_copy(update={"identifiers": ids})
        effects.append(SendRequest(_request(state, ask, now, chase=ask.chases),
                                   RequestKind.RECTIFIED))
    if state.version > 0 and state.phase is Phase.ASSEMBLED:
        effects += _assemble(state, now, amended=True, at_deadline=False)
    return Outcome(state, effects)


def apply(state: GatherState | None, event: Event, now: datetime, rules: Rules) -> Outcome:
    """The next state of a case and what to do about it. The given state is not modified."""
    work = state.model_copy(deep=True) if state is not None else None
    if isinstance(event, Triaged):
        return _on_triaged(work, event, now, rules)
    if isinstance(event, Responded):
        return _on_response(work, event, now, rules)
    if isinstance(event, RatingChanged):
        return _on_rating_change(work, event, now, rules)
    if work is None:
        return Outcome(None, [])
    return _on_tick(work, now, rules)


def is_due(state: GatherState, now: datetime, rules: Rules) -> bool:
    wake = state.next_wakeup(rules.chase_points, rules.calendar)
    return wake is not None and now >= wake


def forgettable(state: GatherState, now: datetime, keep_for: timedelta) -> bool:
    """An assembled case is forgotten `keep_for` after its deadline (it was assembled by
    then). Until then a late answer still amends it; after, it is an unknown request.
    keep_for must outlast intake's link window, so that no referral can join a case
    enrichment has forgotten."""
    return state.phase is Phase.ASSEMBLED and now - state.due_at >= keep_for


def overdue_by(state: GatherState, now: datetime) -> timedelta | None:
    if state.phase is Phase.GATHERING and now >= state.due_at:
        return now - state.due_at
    return None
