"""The information-sharing agreement: who may be asked what, on which legal basis, with which consent.

Loaded from config/sharing-agreement.yaml at start; a mistake is reported with its file and
line. The agreement decides per agency, per RAG and per data category: whether the category
may be asked for, its legal basis, its purpose and its consent rule (NOT_REQUIRED, REQUIRED,
OVERRIDE_ALLOWED). It also says which kinds of sender may record a child-protection override
of consent. The decision functions here are pure: given a case's RAG and consent state, they
say what an agency may be asked, and which categories are withheld and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mash_common.configfile import load_yaml_model
from mash_common.contracts import (
    CategoryTerms,
    ConsentOverride,
    ConsentRule,
    ConsentStatus,
    Rag,
    Referral,
    ReferrerType,
    Subject,
    SubjectIdentifiers,
)
from mash_common.errors import ConfigError
from mash_common.hubconfig import HubConfig

# The identifiers an agency may be sent to search its system; names of SubjectIdentifiers.
Identifier = Literal["given_name", "family_name", "date_of_birth", "nhs_number", "postcode", "address"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryEntry(_Model):
    """One data category at one RAG; unset fields take the RAG tier's value."""

    category: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    legal_basis: str | None = Field(default=None, min_length=10)
    purpose: str | None = Field(default=None, min_length=10)
    consent: ConsentRule | None = None


def _entry(value: object) -> object:
    return {"category": value} if isinstance(value, str) else value


class Tier(_Model):
    """What an agency may be asked at one RAG."""

    legal_basis: str = Field(min_length=10)
    purpose: str | None = Field(default=None, min_length=10)
    consent: ConsentRule
    categories: list[CategoryEntry] = Field(min_length=1)

    @field_validator("categories", mode="before")
    @classmethod
    def _names_or_entries(cls, value: object) -> object:
        return [_entry(v) for v in value] if isinstance(value, list) else value

    @field_validator("categories")
    @classmethod
    def _unique(cls, entries: list[CategoryEntry]) -> list[CategoryEntry]:
        names = [e.category for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"category {', '.join(twice)} listed twice")
        return entries


class AgencyTerms(_Model):
    purpose: str = Field(min_length=10)
    identifiers: list[Identifier] = Field(min_length=1)
    # A RAG that is absent means "not asked at that RAG".
    at: dict[Rag, Tier]

    def terms(self, rag: Rag) -> list[CategoryTerms]:
        tier = self.at.get(rag)
        if tier is None:
            return []
        return [
            CategoryTerms(
                category=e.category,
                legal_basis=e.legal_basis or tier.legal_basis,
                purpose=e.purpose or tier.purpose or self.purpose,
                consent_rule=e.consent or tier.consent,
            )
            for e in tier.categories
        ]

    def known_categories(self) -> set[str]:
        return {e.category for tier in self.at.values() for e in tier.categories}


class OverridePolicy(_Model):
    """Who may record that consent is overridden on child-protection grounds."""

    allowed_from: list[ReferrerType] = Field(default_factory=list)


class SharingAgreement(_Model):
    version: str
    consent_overrides: OverridePolicy = Field(default_factory=OverridePolicy)
    agencies: dict[str, AgencyTerms]

    @model_validator(mode="after")
    def _public_may_not_override(self) -> SharingAgreement:
        lay = {ReferrerType.MEMBER_OF_PUBLIC, ReferrerType.FAMILY_MEMBER, ReferrerType.SELF,
               ReferrerType.ANONYMOUS}
        wrong = sorted(k.value for k in set(self.consent_overrides.allowed_from) & lay)
        if wrong:
            raise ValueError(f"consent_overrides.allowed_from: {', '.join(wrong)} cannot authorise "
                             "a child-protection override (it is a professional decision)")
        return self

    def check_roster(self, hub: HubConfig, source: Path | str = "sharing agreement") -> None:
        """Every roster agency has terms, and the agreement names no agency the hub lacks."""
        missing = sorted(set(hub.agencies) - set(self.agencies))
        unknown = sorted(set(self.agencies) - set(hub.agencies))
        problems = []
        if missing:
            problems.append(f"{source}: agencies: no terms for {', '.join(missing)} (in hub.yaml)")
        if unknown:
            problems.append(f"{source}: agencies: {', '.join(unknown)} not in hub.yaml")
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def load_agreement(path: Path, hub: HubConfig) -> SharingAgreement:
    agreement = load_yaml_model(path, SharingAgreement)
    agreement.check_roster(hub, path)
    return agreement


# Consent --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentState:
    """The case's consent, as the referrals so far have stated it."""

    status: ConsentStatus
    override: ConsentOverride | None = None  # set exactly when status is OVERRIDDEN_...


class OverrideProblem(StrEnum):
    SENDER_NOT_ALLOWED = "SENDER_NOT_ALLOWED"
    INCOMPLETE = "INCOMPLETE"


@dataclass(frozen=True)
class ConsentStep:
    state: ConsentState
    ignored: OverrideProblem | None = None  # the referral's override was not accepted
    withdrawing: bool = False  # this referral refuses consent the case had


def next_consent(current: ConsentState | None, referral: Referral, sender_kind: ReferrerType | None,
                 agreement: SharingAgreement) -> ConsentStep:
    """The case's consent after one more referral.

    GIVEN and REFUSED replace what came before; NOT_SOUGHT and UNKNOWN say nothing new. An
    override counts only from a sender kind the agreement allows (the kind of the source
    system whose topic carried the referral, from hub.yaml: not a field the sender fills
    in) and with a reason and an authoriser; otherwise it is ignored, and audited.
    """
    consent = referral.consent
    status = consent.status
    if status is ConsentStatus.OVERRIDDEN_CHILD_PROTECTION:
        problem = None
        if sender_kind not in agreement.consent_overrides.allowed_from:
            problem = OverrideProblem.SENDER_NOT_ALLOWED
        elif not (consent.override_reason or "").strip() or not (consent.override_authorised_by or "").strip():
            problem = OverrideProblem.INCOMPLETE
        if problem is not None:
            kept = current or ConsentState(ConsentStatus.UNKNOWN)
            return ConsentStep(kept, ignored=problem)
        override = ConsentOverride(
            reason=consent.override_reason or "", authorised_by=consent.override_authorised_by or "",
            source_system=referral.source_system, referral_id=referral.referral_id)
        return ConsentStep(ConsentState(status, override))
    if status in (ConsentStatus.GIVEN, ConsentStatus.REFUSED) or current is None:
        withdrawing = (status is ConsentStatus.REFUSED and current is not None
                       and current.status is not ConsentStatus.REFUSED)
        return ConsentStep(ConsentState(status), withdrawing=withdrawing)
    return ConsentStep(current)


def permits(rule: ConsentRule, consent: ConsentState) -> bool:
    if rule is ConsentRule.NOT_REQUIRED:
        return True
    if consent.status is ConsentStatus.GIVEN:
        return True
    return (rule is ConsentRule.OVERRIDE_ALLOWED and consent.override is not None
            and consent.status is ConsentStatus.OVERRIDDEN_CHILD_PROTECTION)


# Decisions ------------------------------------------------------------------------------


class WithheldReason(StrEnum):
    """Why an agency (or some categories) is not asked; the reason code on REQUEST_WITHHELD."""

    NOT_AT_RAG = "NOT_AT_RAG"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"


@dataclass(frozen=True)
class Ask:
    """What the agreement allows one agency to be asked about one case."""

    agency: str
    terms: list[CategoryTerms]
    identifiers: SubjectIdentifiers
    # Categories the agreement has at this RAG that the case's consent does not unlock.
    withheld: list[str] = field(default_factory=list)

    @property
    def data_categories(self) -> list[str]:
        return [t.category for t in self.terms]

    @property
    def legal_basis(self) -> str:
        return combined_legal_basis(self.terms)

    @property
    def purpose(self) -> str:
        return "; ".join(dict.fromkeys(t.purpose for t in self.terms))

    @property
    def rests_on_override(self) -> bool:
        """Some category is asked only because of a recorded override."""
        return any(t.consent_rule is ConsentRule.OVERRIDE_ALLOWED for t in self.terms)


@dataclass(frozen=True)
class Withheld:
    agency: str
    reason: WithheldReason
    detail: str
    categories: list[str] = field(default_factory=list)


def combined_legal_basis(terms: list[CategoryTerms]) -> str:
    """One text for the request's legal_basis field: the bases in the order they first occur."""
    return "; ".join(dict.fromkeys(t.legal_basis for t in terms))


def minimise(subject: Subject, identifiers: list[Identifier]) -> SubjectIdentifiers:
    """Only the identifiers the agency needs to search (UK GDPR Art 5(1)(c), data minimisation)."""
    return SubjectIdentifiers.model_validate({name: getattr(subject, name) for name in identifiers})


def decide(
    agreement: SharingAgreement, agency: str, rag: Rag, consent: ConsentState | ConsentStatus,
    subject: Subject,
) -> Ask | Withheld:
    if isinstance(consent, ConsentStatus):
        consent = ConsentState(consent)
    terms = agreement.agencies[agency]
    all_terms = terms.terms(rag)
    if not all_terms:
        return Withheld(agency, WithheldReason.NOT_AT_RAG, f"not asked at {rag.value}")
    allowed = [t for t in all_terms if permits(t.consent_rule, consent)]
    withheld = [t.category for t in all_terms if t not in allowed]
    if not allowed:
        return Withheld(agency, WithheldReason.CONSENT_REQUIRED, f"consent {consent.status.value}",
                        withheld)
    return Ask(agency, allowed, minimise(subject, terms.identifiers), withheld)


def source_kinds(hub: HubConfig) -> Mapping[str, ReferrerType]:
    return {system: entry.kind for system, entry in hub.source_systems.items()}
