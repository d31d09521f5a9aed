"""Pydantic models of the message contracts; each mirrors one record in schemas/avro/.

The .avsc files are the source of truth. tests/unit/test_contracts_match_schemas.py proves,
field by field, that these models agree with them. Timestamps are timezone-aware UTC
datetimes (Avro timestamp-millis); dates are Avro date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, ConfigDict, Field

from mash_common.limits import WithinLimits


def utcnow() -> datetime:
    """Now, in UTC, truncated to the millisecond Avro can carry."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def _to_utc_millis(value: datetime) -> datetime:
    # Avro timestamp-millis has no zone and no microseconds; we always mean UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset() != timedelta(0):
        value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# AgencyRecord has a field called "date", which would shadow the type inside that class.
CalendarDate = date

UtcDatetime = Annotated[datetime, AfterValidator(_to_utc_millis)]


class Contract(WithinLimits):
    """Base of every contract model: immutable, strict about unknown fields, and within the
    contract's limits on every string and list (mash_common.limits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    avro_name: ClassVar[str] = ""


# Enums ---------------------------------------------------------------------------------


class Rag(StrEnum):
    RED = "RED"
    AMBER = "AMBER"
    GREEN = "GREEN"

    @property
    def rank(self) -> int:
        """0 is most urgent; lets callers compare priorities."""
        return _RAG_RANK[self]


_RAG_RANK = {Rag.RED: 0, Rag.AMBER: 1, Rag.GREEN: 2}


class ReferrerType(StrEnum):
    POLICE = "POLICE"
    HEALTH = "HEALTH"
    EDUCATION = "EDUCATION"
    SOCIAL_CARE = "SOCIAL_CARE"
    PROBATION = "PROBATION"
    HOUSING = "HOUSING"
    YOUTH_OFFENDING = "YOUTH_OFFENDING"
    LOCAL_AUTHORITY = "LOCAL_AUTHORITY"
    VOLUNTARY_SECTOR = "VOLUNTARY_SECTOR"
    FAMILY_MEMBER = "FAMILY_MEMBER"
    MEMBER_OF_PUBLIC = "MEMBER_OF_PUBLIC"
    SELF = "SELF"
    ANONYMOUS = "ANONYMOUS"
    OTHER = "OTHER"


class Concern(StrEnum):
    PHYSICAL_ABUSE = "PHYSICAL_ABUSE"
    SEXUAL_ABUSE = "SEXUAL_ABUSE"
    EMOTIONAL_ABUSE = "EMOTIONAL_ABUSE"
    NEGLECT = "NEGLECT"
    DOMESTIC_ABUSE = "DOMESTIC_ABUSE"
    SEXUAL_EXPLOITATION = "SEXUAL_EXPLOITATION"
    CRIMINAL_EXPLOITATION = "CRIMINAL_EXPLOITATION"
    MISSING = "MISSING"
    SELF_HARM = "SELF_HARM"
    MENTAL_HEALTH = "MENTAL_HEALTH"
    SUBSTANCE_MISUSE = "SUBSTANCE_MISUSE"
    FGM = "FGM"
    RADICALISATION = "RADICALISATION"
    ONLINE_HARM = "ONLINE_HARM"
    OTHER = "OTHER"


class Indicator(StrEnum):
    IMMEDIATE_DANGER = "IMMEDIATE_DANGER"
    INJURY = "INJURY"
    CHILD_DISCLOSURE = "CHILD_DISCLOSURE"
    WEAPON_INVOLVED = "WEAPON_INVOLVED"
    ALLEGED_PERPETRATOR_HAS_ACCESS = "ALLEGED_PERPETRATOR_HAS_ACCESS"
    REPEAT_INCIDENT = "REPEAT_INCIDENT"
    CURRENTLY_MISSING = "CURRENTLY_MISSING"
    DISABLED_CHILD = "DISABLED_CHILD"
    PREGNANCY_OR_UNBORN = "PREGNANCY_OR_UNBORN"
    OTHER = "OTHER"


class ConsentStatus(StrEnum):
    GIVEN = "GIVEN"
    REFUSED = "REFUSED"
    NOT_SOUGHT = "NOT_SOUGHT"
    OVERRIDDEN_CHILD_PROTECTION = "OVERRIDDEN_CHILD_PROTECTION"
    UNKNOWN = "UNKNOWN"


class LinkMatch(StrEnum):
    NHS_NUMBER = "NHS_NUMBER"
    NAME_DOB_POSTCODE = "NAME_DOB_POSTCODE"


class ResponseStatus(StrEnum):
    FOUND = "FOUND"
    NOT_KNOWN = "NOT_KNOWN"
    DECLINED = "DECLINED"
    ERROR = "ERROR"


class Completeness(StrEnum):
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"


class DecisionOutcome(StrEnum):
    NO_FURTHER_ACTION = "NO_FURTHER_ACTION"
    ADVICE_AND_UNIVERSAL_SERVICES = "ADVICE_AND_UNIVERSAL_SERVICES"
    EARLY_HELP = "EARLY_HELP"
    CHILD_IN_NEED_ASSESSMENT = "CHILD_IN_NEED_ASSESSMENT"
    STRATEGY_DISCUSSION = "STRATEGY_DISCUSSION"
    POLICE_ACTION = "POLICE_ACTION"
    REFERRED_TO_ANOTHER_AUTHORITY = "REFERRED_TO_ANOTHER_AUTHORITY"
    OTHER = "OTHER"


class NotificationKind(StrEnum):
    RECEIVED = "RECEIVED"
    REJECTED = "REJECTED"
    INFORMATION_GATHERED = "INFORMATION_GATHERED"
    DECISION = "DECISION"


class AuditAction(StrEnum):
    REFERRAL_RECEIVED = "REFERRAL_RECEIVED"
    REFERRAL_REJECTED = "REFERRAL_REJECTED"
    REFERRAL_DUPLICATE = "REFERRAL_DUPLICATE"
    REFERRAL_LINKED = "REFERRAL_LINKED"
    REFERRAL_RATED = "REFERRAL_RATED"
    REQUEST_SENT = "REQUEST_SENT"
    REQUEST_CHASED = "REQUEST_CHASED"
    REQUEST_WITHHELD = "REQUEST_WITHHELD"
    RESPONSE_RECEIVED = "RESPONSE_RECEIVED"
    DISCLOSURE = "DISCLOSURE"
    REFUSAL = "REFUSAL"
    CASE_ASSEMBLED = "CASE_ASSEMBLED"
    CASE_AMENDED = "CASE_AMENDED"
    DECISION_RECEIVED = "DECISION_RECEIVED"
    NOTIFICATION_SENT = "NOTIFICATION_SENT"
    DEADLETTER_REPLAYED = "DEADLETTER_REPLAYED"
    OTHER = "OTHER"
    # Security events: a record on one sender's topic claimed to be from another.
    SENDER_MISMATCH = "SENDER_MISMATCH"
    # A second, different answer to a request without naming the one it corrects.
    RESPONSE_CONFLICT = "RESPONSE_CONFLICT"
    RESPONSE_CORRECTED = "RESPONSE_CORRECTED"
    # An answer carried records in a data category its request did not ask for: not
    # stored, assembled or disclosed; recorded with agency and category, never content.
    EXCESS_DISCLOSURE = "EXCESS_DISCLOSURE"
    # Consent was refused or withdrawn: a pending consent-gated request is withdrawn...
    REQUEST_WITHDRAWN = "REQUEST_WITHDRAWN"
    # ...and an answer to it that arrives anyway is not disclosed.
    RESPONSE_AFTER_WITHDRAWAL = "RESPONSE_AFTER_WITHDRAWAL"
    # A consent override from a sender kind the agreement does not allow, or incomplete.
    CONSENT_OVERRIDE_IGNORED = "CONSENT_OVERRIDE_IGNORED"
    # Two different first referrals produced one case id: refused, never merged.
    CASE_ID_COLLISION = "CASE_ID_COLLISION"
    # A case's rating changed (a response rule or a manager), with its reason...
    RATING_CHANGED = "RATING_CHANGED"
    # ...or a manager's change was refused (no rationale, unknown case, wrong sender).
    RATING_CHANGE_REFUSED = "RATING_CHANGE_REFUSED"
    # A pending request was re-sent at another RAG; the earlier revision is superseded.
    REQUEST_SUPERSEDED = "REQUEST_SUPERSEDED"
    # Evidence (docs/evidence.md): the audit store blanked an event's personal fields; its
    # content hash stays in the chain, so the chain still verifies and shows the redaction.
    RECORD_REDACTED = "RECORD_REDACTED"
    CASE_ERASED = "CASE_ERASED"
    CASE_RECTIFIED = "CASE_RECTIFIED"
    RETENTION_PURGED = "RETENTION_PURGED"


class RatingCause(StrEnum):
    """Why a case's rating is what it is (AssembledCase.rating_history)."""

    TRIAGE = "TRIAGE"
    LINKED_REFERRAL = "LINKED_REFERRAL"
    RESPONSE_RULE = "RESPONSE_RULE"
    MANAGER = "MANAGER"
    OTHER = "OTHER"


class ConsentRule(StrEnum):
    """How a data category's sharing depends on consent (the sharing agreement)."""

    NOT_REQUIRED = "NOT_REQUIRED"  # a statutory gateway applies whatever consent says
    REQUIRED = "REQUIRED"  # only with consent given
    OVERRIDE_ALLOWED = "OVERRIDE_ALLOWED"  # consent given, or a valid recorded override


# Shared records ------------------------------------------------------------------------


class Subject(Contract):
    avro_name: ClassVar[str] = "Subject"
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    nhs_number: str | None = None
    postcode: str | None = None
    address: str | None = None
    sex: str | None = None


class AgencyRecord(Contract):
    avro_name: ClassVar[str] = "AgencyRecord"
    category: str
    summary: str
    date: CalendarDate | None = None
    risk_flag: bool = False
    reference: str


class Responder(Contract):
    avro_name: ClassVar[str] = "Responder"
    name: str
    role: str


# Referral ------------------------------------------------------------------------------


class Referrer(Contract):
    avro_name: ClassVar[str] = "Referrer"
    name: str
    role: str
    organisation: str
    agency_type: ReferrerType
    contact: str | None = None


class HouseholdMember(Contract):
    avro_name: ClassVar[str] = "HouseholdMember"
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    relationship: str


class Consent(Contract):
    avro_name: ClassVar[str] = "Consent"
    status: ConsentStatus
    override_reason: str | None = None
    override_authorised_by: str | None = None
    recorded_at: UtcDatetime | None = None


class Referral(Contract):
    avro_name: ClassVar[str] = "Referral"
    referral_id: str
    source_system: str
    received_at: UtcDatetime
    referrer: Referrer
    subject: Subject
    household: list[HouseholdMember] = Field(default_factory=list)
    concerns: list[Concern]
    indicators: list[Indicator] = Field(default_factory=list)
    narrative: str
    consent: Consent
    cin_referral_source: str | None = None


# Triage --------------------------------------------------------------------------------


class FiredRule(Contract):
    avro_name: ClassVar[str] = "FiredRule"
    rule_id: str
    description: str
    rag: Rag


class CaseLink(Contract):
    avro_name: ClassVar[str] = "CaseLink"
    case_id: str
    match: LinkMatch
    reason: str
    previous_rag: Rag
    opened_by: str | None = None


class TriagedReferral(Contract):
    avro_name: ClassVar[str] = "TriagedReferral"
    case_id: str
    referral: Referral
    rag: Rag
    opened_at: UtcDatetime
    due_at: UtcDatetime
    triaged_at: UtcDatetime
    fired_rules: list[FiredRule]
    linked_case: CaseLink | None = None
    policy_version: str = ""
    cin_factor_codes: list[str] = Field(default_factory=list)


# Requests and responses ----------------------------------------------------------------


class SubjectIdentifiers(Contract):
    avro_name: ClassVar[str] = "SubjectIdentifiers"
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    nhs_number: str | None = None
    postcode: str | None = None
    address: str | None = None


class CategoryTerms(Contract):
    avro_name: ClassVar[str] = "CategoryTerms"
    category: str
    legal_basis: str
    purpose: str
    consent_rule: ConsentRule


class ConsentOverride(Contract):
    avro_name: ClassVar[str] = "ConsentOverride"
    reason: str
    authorised_by: str
    source_system: str
    referral_id: str


class InformationRequest(Contract):
    avro_name: ClassVar[str] = "InformationRequest"
    request_id: str
    case_id: str
    agency: str
    rag: Rag
    requested_at: UtcDatetime
    respond_by: UtcDatetime
    subject: SubjectIdentifiers
    data_categories: list[str]
    legal_basis: str
    purpose: str
    is_chase: bool = False
    chase_number: int = 0
    consent_status: str | None = None
    category_terms: list[CategoryTerms] = Field(default_factory=list)
    consent_override: ConsentOverride | None = None
    withdrawn: bool = False
    withdrawal_reason: str | None = None
    revision: int = 0
    supersedes_rag: Rag | None = None
    superseded: bool = False
    superseded_by_rag: Rag | None = None


class InformationResponse(Contract):
    avro_name: ClassVar[str] = "InformationResponse"
    request_id: str
    case_id: str
    agency: str
    responded_at: UtcDatetime
    status: ResponseStatus
    reason: str | None = None
    records: list[AgencyRecord] = Field(default_factory=list)
    responder: Responder
    response_id: str | None = None
    corrects: str | None = None


# Assembly and decisions ----------------------------------------------------------------


class Contribution(Contract):
    avro_name: ClassVar[str] = "Contribution"
    agency: str
    request_id: str
    status: ResponseStatus
    responded_at: UtcDatetime
    reason: str | None = None
    records: list[AgencyRecord] = Field(default_factory=list)
    responder: Responder
    late: bool = False


class RatingEntry(Contract):
    avro_name: ClassVar[str] = "RatingEntry"
    at: UtcDatetime
    rag: Rag
    previous_rag: Rag | None = None
    cause: RatingCause
    rule_ids: list[str] = Field(default_factory=list)
    rationale: str
    decided_by: str
    reference: str | None = None


class AssembledCase(Contract):
    avro_name: ClassVar[str] = "AssembledCase"
    case_id: str
    version: int
    referral_ids: list[str]
    referrals: list[Referral] = Field(default_factory=list)
    subject: Subject
    rag: Rag
    opened_at: UtcDatetime
    due_at: UtcDatetime
    assembled_at: UtcDatetime
    completeness: Completeness
    asked_agencies: list[str] = Field(default_factory=list)
    contributions: list[Contribution]
    missing_agencies: list[str] = Field(default_factory=list)
    fired_rules: list[FiredRule] = Field(default_factory=list)
    cin_factor_codes: list[str] = Field(default_factory=list)
    rating_history: list[RatingEntry] = Field(default_factory=list)


class RatingChange(Contract):
    avro_name: ClassVar[str] = "RatingChange"
    change_id: str
    case_id: str
    hub_system: str
    rag: Rag
    rationale: str
    decided_by: str
    decided_at: UtcDatetime
    previous_rag: Rag | None = None


class Decision(Contract):
    avro_name: ClassVar[str] = "Decision"
    case_id: str
    decided_at: UtcDatetime
    outcome: DecisionOutcome
    rationale: str
    decided_by: str
    lead_agency: str | None = None
    lead_contact: str | None = None
    revision: int = 1
    cin_primary_need: str | None = None


class OutcomeNotification(Contract):
    avro_name: ClassVar[str] = "OutcomeNotification"
    notification_id: str
    case_id: str | None = None
    referral_id: str | None = None
    recipient: str
    kind: NotificationKind
    sent_at: UtcDatetime
    message: str
    decision_outcome: DecisionOutcome | None = None
    reasons: list[str] = Field(default_factory=list)
    rag: Rag | None = None
    due_at: UtcDatetime | None = None
    lead_agency: str | None = None
    lead_contact: str | None = None
    revision: int = 1


class DeadLetter(Contract):
    avro_name: ClassVar[str] = "DeadLetter"
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    stage: str
    error: str
    at: UtcDatetime
    reason_code: str = "UNSPECIFIED"


class AuditEvent(Contract):
    avro_name: ClassVar[str] = "AuditEvent"
    event_id: str
    at: UtcDatetime
    actor: str
    action: AuditAction
    case_id: str | None = None
    agency: str | None = None
    legal_basis: str | None = None
    data_categories: list[str] = Field(default_factory=list)
    reference: str | None = None
    detail: str | None = None
    purpose: str | None = None
    consent_status: str | None = None
    category_terms: list[CategoryTerms] = Field(default_factory=list)
    consent_override: ConsentOverride | None = None
    key_id: str | None = None
    signature: str | None = None


# Every record that travels on a topic on its own, by Avro name.
MESSAGE_TYPES: dict[str, type[Contract]] = {
    m.avro_name: m
    for m in (
        Referral,
        TriagedReferral,
        InformationRequest,
        InformationResponse,
        AssembledCase,
        Decision,
        OutcomeNotification,
        DeadLetter,
        AuditEvent,
        RatingChange,
    )
}

# Every model that mirrors a named Avro record, top-level or nested.
ALL_RECORD_MODELS: tuple[type[Contract], ...] = (
    Subject,
    AgencyRecord,
    Responder,
    Referrer,
    HouseholdMember,
    Consent,
    Referral,
    FiredRule,
    CaseLink,
    TriagedReferral,
    SubjectIdentifiers,
    CategoryTerms,
    ConsentOverride,
    InformationRequest,
    InformationResponse,
    Contribution,
    RatingEntry,
    AssembledCase,
    RatingChange,
    Decision,
    OutcomeNotification,
    DeadLetter,
    AuditEvent,
)
