"""The handler every reference adapter shares: decline what is configured, look up the rest."""

from __future__ import annotations

from typing import Protocol

from mash_common.contracts import AgencyRecord, InformationRequest, SubjectIdentifiers
from mash_sdk.answer import Answer
from mash_sdk.reference.config import ReferenceConfig


class Backend(Protocol):
    """Looks one data category up for one subject in the agency's system.

    Returns [] when the subject is not known or the category is not served; raises
    TransientError when the system is briefly unavailable.
    """

    def lookup(self, category: str, subject: SubjectIdentifiers) -> list[AgencyRecord]: ...

    def close(self) -> None: ...


class ReferenceHandler:
    """Declined categories get a DECLINED answer with the configured reason; the others are
    looked up: any records mean FOUND, none NOT_KNOWN. Mixed requests answer the categories
    that may be shared and name the declined ones in the reason."""

    def __init__(self, config: ReferenceConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend

    def __call__(self, request: InformationRequest) -> Answer:
        declined = [c for c in request.data_categories if c in self.config.declined_categories]
        asked = [c for c in request.data_categories if c not in self.config.declined_categories]
        reason = "; ".join(f"{c}: {self.config.declined_categories[c]}" for c in declined) or None
        if declined and not asked:
            return Answer.declined(reason or "declined")
        records: list[AgencyRecord] = []
        for category in asked:
            records.extend(self.backend.lookup(category, request.subject))
        return Answer.from_records(records, f"declined {reason}" if reason else None)

    def withdraw(self, request: InformationRequest) -> None:
        """The hub withdrew the request: a reference adapter holds nothing for it, so there
        is nothing to undo; an agency's own handler stops any work it has queued."""

    def close(self) -> None:
        self.backend.close()


def identifier_values(subject: SubjectIdentifiers) -> dict[str, object]:
    """The subject's identifiers by name (None where the hub did not send one)."""
    return dict(subject.model_dump())
