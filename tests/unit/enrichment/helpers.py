"""Builders and a small driver for the gather state machine's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mash_common.contracts import (
    AgencyRecord,
    CaseLink,
    Consent,
    ConsentStatus,
    InformationRequest,
    InformationResponse,
    LinkMatch,
    Rag,
    Responder,
    ResponseStatus,
    TriagedReferral,
)
from mash_common.hubconfig import load_hub_config
from mash_hub.services.enrichment.agreement import SharingAgreement, load_agreement, source_kinds
from mash_hub.services.enrichment.logic import (
    Effect,
    Event,
    GatherState,
    PublishCase,
    Rules,
    SendRequest,
    apply,
)
from mash_hub.services.enrichment.settings import EnrichmentSettings
from tests.support.factories import referral

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DURATION = {Rag.RED: timedelta(hours=4), Rag.AMBER: timedelta(hours=24), Rag.GREEN: timedelta(hours=72)}


def default_agreement() -> SharingAgreement:
    settings = EnrichmentSettings()
    return load_agreement(settings.sharing_agreement, load_hub_config(settings.hub_config))


RULES = Rules(default_agreement(), source_kinds=source_kinds(load_hub_config()))
_UNSET: Any = object()


def triaged(case_id: str = "CASE-1", referral_id: str = "REF-1", rag: Rag = Rag.AMBER,
            consent: ConsentStatus = ConsentStatus.GIVEN, at: datetime = T0,
            source: str | None = None, linked_case: CaseLink | None = _UNSET,
            **kw: Any) -> TriagedReferral:
    """A triaged referral; any but REF-1 is linked to the case (as intake would link it).
    An override comes, complete, from the police system unless another source is named."""
    override = consent is ConsentStatus.OVERRIDDEN_CHILD_PROTECTION
    given = Consent(status=consent, override_reason="Telling the parents would put the child at risk",
                    override_authorised_by="DS Example, MASH") if override else Consent(status=consent)
    if linked_case is _UNSET:
        linked_case = None if referral_id == "REF-1" else CaseLink(
            case_id=case_id, match=LinkMatch.NHS_NUMBER, reason="same NHS number", previous_rag=rag)
    return TriagedReferral(
        case_id=case_id,
        referral=referral(referral_id, consent=given,
                          source_system=source or ("police-niche" if override else "school-portal")),
        rag=rag, opened_at=at, due_at=at + DURATION[rag], triaged_at=at, fired_rules=[],
        linked_case=linked_case, **kw,
    )


def response(req: InformationRequest, status: ResponseStatus = ResponseStatus.FOUND,
             agency: str | None = None, request_id: str | None = None) -> InformationResponse:
    records = [AgencyRecord(category=req.data_categories[0], summary="Synthetic record",
                            reference=f"{req.agency}-1", risk_flag=True)] if status is ResponseStatus.FOUND else []
    return InformationResponse(
        request_id=request_id or req.request_id, case_id=req.case_id, agency=agency or req.agency,
        responded_at=T0, status=status, records=records,
        reason="Not proportionate" if status is ResponseStatus.DECLINED else None,
        responder=Responder(name="Synthetic Officer", role="Safeguarding lead"),
    )


@dataclass
class Driver:
    """Feeds events to apply() at given times, keeping the state and every effect."""

    rules: Rules = RULES
    state: GatherState | None = None
    log: list[tuple[datetime, Effect]] = field(default_factory=list)

    def at(self, when: datetime, event: Event) -> list[Effect]:
        outcome = apply(self.state, event, when, self.rules)
        self.state = outcome.state
        self.log.extend((when, e) for e in outcome.effects)
        return outcome.effects

    def requests(self) -> list[InformationRequest]:
        return [e.request for _, e in self.log if isinstance(e, SendRequest)]

    def cases(self) -> list[PublishCase]:
        return [e for _, e in self.log if isinstance(e, PublishCase)]

    def request_for(self, agency: str) -> InformationRequest:
        return next(r for r in self.requests() if r.agency == agency and not r.is_chase)
