"""The gateway's JSON: what a source posts and what it reads back.

A submission is the contract's Referral (the same nested records, from mash_common's
models), with source_system and received_at filled in by the gateway: the sender is the
one its API key names, and the time is when the gateway took the referral.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mash_common.contracts import (
    Concern,
    Consent,
    DecisionOutcome,
    HouseholdMember,
    Indicator,
    NotificationKind,
    OutcomeNotification,
    Rag,
    Referral,
    Referrer,
    Subject,
    UtcDatetime,
)
from mash_common.limits import WithinLimits

# Ids appear in URLs and Kafka keys: letters, digits and a few separators, nothing personal.
REFERRAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
_KEY_NAMESPACE = uuid.UUID("6f0c1a52-8d1e-4c39-9a57-2f3f3a0e0b18")


class ReferralSubmission(WithinLimits):
    """A referral as a source system posts it (within the contract's limits, which its
    JSON Schema states)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    referral_id: str | None = Field(
        default=None, pattern=REFERRAL_ID_PATTERN,
        description="The source system's own id for the referral. Without it, the id "
                    "is derived from the Idempotency-Key header; without both, the gateway "
                    "makes a new one (and a resend is a new referral).")
    source_system: str | None = Field(
        default=None, description="If given, must be the source system the API key belongs to.")
    received_at: UtcDatetime | None = Field(
        default=None, description="When the source took the referral; the gateway's time if absent.")
    referrer: Referrer
    subject: Subject
    household: list[HouseholdMember] = Field(default_factory=list)
    concerns: list[Concern] = Field(min_length=1)
    indicators: list[Indicator] = Field(default_factory=list)
    narrative: str = Field(min_length=1)
    consent: Consent
    cin_referral_source: str | None = None

    def digest(self) -> str:
        """Of the parsed body, so key order and whitespace do not make a resend a conflict."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_referral(self, referral_id: str, source: str, now: datetime) -> Referral:
        fields = self.model_dump(exclude={"referral_id", "source_system", "received_at"})
        return Referral.model_validate({**fields, "referral_id": referral_id, "source_system": source,
                                        "received_at": self.received_at or now})


def derived_referral_id(source: str, idempotency_key: str) -> str:
    return f"{source}-{uuid.uuid5(_KEY_NAMESPACE, f'{source}:{idempotency_key}')}"


class Accepted(BaseModel):
    referral_id: str
    status: str = Field(description="ACCEPTED: on the broker, for intake to triage")
    status_url: str
    accepted_at: datetime


class Outcome(BaseModel):
    """One outcome notification, as the recipient policy let this source see it."""

    sequence: int = Field(description="Position in this source's outcome stream (SSE event id)")
    notification_id: str
    kind: NotificationKind
    referral_id: str | None = None
    case_id: str | None = None
    sent_at: datetime
    message: str
    decision_outcome: DecisionOutcome | None = None
    reasons: list[str] = Field(default_factory=list)
    rag: Rag | None = None
    due_at: datetime | None = None
    lead_agency: str | None = None
    lead_contact: str | None = None
    revision: int = 1

    @classmethod
    def of(cls, sequence: int, n: OutcomeNotification) -> Outcome:
        return cls(sequence=sequence, **n.model_dump(exclude={"recipient"}))


class ReferralStatus(BaseModel):
    referral_id: str
    status: str = Field(description="ACCEPTED, then the kind of the latest outcome: RECEIVED, "
                                    "REJECTED, INFORMATION_GATHERED or DECISION")
    accepted_at: datetime
    case_id: str | None = None
    outcomes: list[Outcome]


class OutcomePage(BaseModel):
    outcomes: list[Outcome]
    next_after: int = Field(description="Pass as ?after= to get only what came since")


class Health(BaseModel):
    status: str
    detail: dict[str, bool] = Field(default_factory=dict)
