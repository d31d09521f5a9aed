"""Builders and a small driver for the gather state machine's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mash_common.contracts import (
    AgencyRecord,
    Consent,
    ConsentStatus,
    InformationRequest,
    InformationResponse,
    Rag,
    Responder,
    ResponseStatus,
    TriagedReferral,
)
from mash_common.hubconfig import load_hub_config
from services.enrichment.agreement import SharingAgreement, load_agreement
from services.enrichment.logic import (
    Effect,
    Event,
    GatherState,
    PublishCase,
    Rules,
    SendRequest,
    apply,
)
from services.enrichment.settings import EnrichmentSettings
from tests.support.factories import referral

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DURATION = {Rag.RED: timedelta(hours=4), Rag.AMBER: timedelta(hours=24), Rag.GREEN: timedelta(hours=72)}


def default_agreement() -> SharingAgreement:
    settings = EnrichmentSettings()
    return load_agreement(settings.sharing_agreement, load_hub_config(settings.hub_config))


RULES = Rules(default_agreement())


def triaged(case_id: str = "CASE-1", referral_id: str = "REF-1", rag: Rag = Rag.AMBER,
            consent: ConsentStatus = ConsentStatus.GIVEN, at: datetime = T0, **kw: Any) -> TriagedReferral:
    return TriagedReferral(
        case_id=case_id,
        referral=referral(referral_id, consent=Consent(status=consent)),
        rag=rag, opened_at=at, due_at=at + DURATION[rag], triaged_at=at, fired_rules=[], **kw,
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
