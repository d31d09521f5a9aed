"""The information-sharing agreement: who may be asked what, on which legal basis, with which consent.

Loaded from config/sharing-agreement.yaml at start; a mistake is reported with its file and
line. The decision functions here are pure: given a case's RAG and consent, they say what an
agency may be asked, or why it may not be asked at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mash_common.configfile import load_yaml_model
from mash_common.contracts import ConsentStatus, Rag, Subject, SubjectIdentifiers
from mash_common.errors import ConfigError
from mash_common.hubconfig import HubConfig

# The identifiers an agency may be sent to search its system; names of SubjectIdentifiers.
Identifier = Literal["given_name", "family_name", "date_of_birth", "nhs_number", "postcode", "address"]


class ConsentRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    required: bool = False
    # With required: the consent statuses under which this agency may be asked. A recorded
    # child-protection override is how a hub shares without consent (Working Together 2023).
    accepted: list[ConsentStatus] = Field(
        default_factory=lambda: [ConsentStatus.GIVEN, ConsentStatus.OVERRIDDEN_CHILD_PROTECTION]
    )

    @model_validator(mode="after")
    def _accepted_not_empty(self) -> ConsentRule:
        if self.required and not self.accepted:
            raise ValueError("consent is required but no consent status is accepted")
        return self


class AgencyTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    purpose: str = Field(min_length=10)
    legal_basis: str = Field(min_length=10)
    identifiers: list[Identifier] = Field(min_length=1)
    # Data categories per RAG; a RAG that is absent or empty means "not asked at that RAG".
    categories: dict[Rag, list[str]]
    consent: ConsentRule = Field(default_factory=ConsentRule)


class SharingAgreement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    agencies: dict[str, AgencyTerms]

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


class WithheldReason(StrEnum):
    """Why an agency is not asked; the reason code on the REQUEST_WITHHELD audit event."""

    NOT_AT_RAG = "NOT_AT_RAG"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"


@dataclass(frozen=True)
class Ask:
    """What the agreement allows one agency to be asked about one case."""

    agency: str
    data_categories: list[str]
    identifiers: SubjectIdentifiers
    legal_basis: str
    purpose: str


@dataclass(frozen=True)
class Withheld:
    agency: str
    reason: WithheldReason
    detail: str


def minimise(subject: Subject, identifiers: list[Identifier]) -> SubjectIdentifiers:
    """Only the identifiers the agency needs to search (UK GDPR Art 5(1)(c), data minimisation)."""
    return SubjectIdentifiers.model_validate({name: getattr(subject, name) for name in identifiers})


def decide(
    agreement: SharingAgreement, agency: str, rag: Rag, consent: ConsentStatus, subject: Subject
) -> Ask | Withheld:
    terms = agreement.agencies[agency]
    categories = terms.categories.get(rag) or []
    if not categories:
        return Withheld(agency, WithheldReason.NOT_AT_RAG, f"not asked at {rag.value}")
    if terms.consent.required and consent not in terms.consent.accepted:
        return Withheld(agency, WithheldReason.CONSENT_REQUIRED, f"consent {consent.value}")
    return Ask(agency, list(categories), minimise(subject, terms.identifiers), terms.legal_basis,
               terms.purpose)
