"""Builders of the events one case leaves behind, for the report's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    AuditEvent,
    Completeness,
    Consent,
    ConsentStatus,
    Contribution,
    DeadLetter,
    Decision,
    DecisionOutcome,
    InformationRequest,
    InformationResponse,
    NotificationKind,
    OutcomeNotification,
    Rag,
    Responder,
    ResponseStatus,
    Subject,
    SubjectIdentifiers,
    TriagedReferral,
)
from mash_ops.report.events import Events
from mash_ops.report.figures import ReportOptions
from tests.support.factories import referral

# A Monday.
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
TIMESCALES = {Rag.RED: 4 * H, Rag.AMBER: 24 * H, Rag.GREEN: 72 * H}
AGENCIES = ("education", "health", "police")
SOURCES = ("police-niche", "school-portal")


def options(**overrides: Any) -> ReportOptions:
    fields: dict[str, Any] = dict(
        hub_name="Test MASH", start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC), as_of=datetime(2026, 12, 5, tzinfo=UTC),
        timescales=TIMESCALES, calendar=None, referrers_told=frozenset(SOURCES),
        authoriser_roles=frozenset({"MASH team manager"}), source_systems=SOURCES,
        agencies=AGENCIES)
    fields.update(overrides)
    return ReportOptions(**fields)


@dataclass
class World:
    events: Events = field(default_factory=Events)
    n: int = 0

    def case(
        self,
        rag: Rag,
        received_at: datetime = T0,
        *,
        source: str = "school-portal",
        cin_source: str | None = "2A",
        nhs: str | None = None,
        consent: Consent | None = None,
        triage_after: timedelta = M,
        assembled_after: timedelta | None = H,
        decided_after: timedelta | None = 2 * H,
        answers: dict[str, tuple[ResponseStatus, timedelta] | None] | None = None,
        respond_in: timedelta = H,
        outcome: DecisionOutcome = DecisionOutcome.EARLY_HELP,
        need: str | None = "N1",
        rationale: str = "Reasons recorded by the decision maker about Sam Example",
        told: dict[str, timedelta] | None = None,
        case_id: str | None = None,
    ) -> str:
        """One referral's case and everything that happened to it.

        answers: agency -> (status, after the request) or None (never answered); every
        agency named is asked. told: recipient -> delay after the decision."""
        self.n += 1
        cid = case_id or f"CASE-{self.n:04d}"
        rid = f"REF-{self.n:04d}"
        subject = Subject(given_name="Sam", family_name=f"Example{self.n}",
                          nhs_number=nhs or f"9{self.n:09d}", postcode="EX1 1AA")
        ref = referral(rid, source_system=source, received_at=received_at, subject=subject,
                       cin_referral_source=cin_source,
                       consent=consent or Consent(status=ConsentStatus.GIVEN))
        triaged_at = received_at + triage_after
        self.events.triaged.append(TriagedReferral(
            case_id=cid, referral=ref, rag=rag, opened_at=triaged_at,
            due_at=triaged_at + TIMESCALES[rag], triaged_at=triaged_at, fired_rules=[]))
        self.events.audit.append(AuditEvent(
            event_id=f"E-rated-{rid}", at=triaged_at, actor="intake",
            action=AuditAction.REFERRAL_RATED, case_id=cid, reference=rid,
            detail=f"{rag.value} by some-rule; policy test"))
        answers = answers if answers is not None else {"police": (ResponseStatus.FOUND, 10 * M)}
        contributions = []
        missing = []
        for agency, answer in answers.items():
            request_id = f"{cid}-{agency}"
            self.events.requests.append(InformationRequest(
                request_id=request_id, case_id=cid, agency=agency, rag=rag,
                requested_at=triaged_at, respond_by=triaged_at + respond_in,
                subject=SubjectIdentifiers(given_name="Sam"), data_categories=["records"],
                legal_basis="Children Act 1989 s17", purpose="safeguarding"))
            self.events.audit.append(AuditEvent(
                event_id=f"E-sent-{request_id}", at=triaged_at, actor="enrichment",
                action=AuditAction.REQUEST_SENT, case_id=cid, agency=agency,
                reference=request_id, detail=f"{rag.value} round 1"))
            if answer is None:
                missing.append(agency)
                continue
            status, after = answer
            responded = triaged_at + after
            self.events.responses.append(InformationResponse(
                request_id=request_id, case_id=cid, agency=agency, responded_at=responded,
                status=status, responder=Responder(name="Pat Responder", role="analyst")))
            contributions.append(Contribution(
                agency=agency, request_id=request_id, status=status, responded_at=responded,
                responder=Responder(name="Pat Responder", role="analyst")))
        if assembled_after is not None:
            assembled_at = received_at + assembled_after
            self.events.assembled.append(AssembledCase(
                case_id=cid, version=1, referral_ids=[rid], referrals=[ref], subject=subject,
                rag=rag,
                opened_at=triaged_at, due_at=triaged_at + TIMESCALES[rag],
                assembled_at=assembled_at,
                completeness=Completeness.PARTIAL if missing else Completeness.COMPLETE,
                asked_agencies=list(answers), contributions=contributions,
                missing_agencies=missing))
        if decided_after is not None:
            decided_at = received_at + decided_after
            self.events.decisions.append(Decision(
                case_id=cid, decided_at=decided_at, outcome=outcome, rationale=rationale,
                decided_by="Jo Manager", cin_primary_need=need))
            for recipient, delay in (told or {}).items():
                self.events.outcomes.append(OutcomeNotification(
                    notification_id=f"N-{cid}-{recipient}", case_id=cid, referral_id=rid,
                    recipient=recipient, kind=NotificationKind.DECISION,
                    sent_at=decided_at + delay, message="The hub decided."))
        return cid

    def audit(self, action: AuditAction, case_id: str, agency: str | None = None,
              at: datetime = T0, detail: str | None = None) -> None:
        self.n += 1
        self.events.audit.append(AuditEvent(event_id=f"E{self.n}", at=at, actor="enrichment",
                                            action=action, case_id=case_id, agency=agency,
                                            detail=detail))

    def deadletter(self, reason: str, stage: str = "intake", at: datetime = T0) -> None:
        self.events.deadletters.append(DeadLetter(
            topic="mash.referrals.public-portal", partition=0, offset=self.n, stage=stage,
            error="cannot decode", at=at, reason_code=reason))
        self.n += 1


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 (London is on UTC then)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)
