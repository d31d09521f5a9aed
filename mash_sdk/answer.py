"""What a handler returns: a status, the records found, and a reason where one is due."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mash_common.contracts import AgencyRecord, InformationRequest, ResponseStatus


class Answer(BaseModel):
    """An agency's answer to one request, before the SDK adds ids, time and responder.

    FOUND needs at least one record; DECLINED and ERROR need a reason (it goes to the hub,
    so it must say why without naming the person: "no consent recorded", not who).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: ResponseStatus
    records: list[AgencyRecord] = Field(default_factory=list)
    reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status is ResponseStatus.FOUND and not self.records:
            raise ValueError("a FOUND answer needs at least one record")
        if self.status is not ResponseStatus.FOUND and self.records:
            raise ValueError(f"a {self.status.value} answer carries no records")
        if self.status in (ResponseStatus.DECLINED, ResponseStatus.ERROR) and not self.reason:
            raise ValueError(f"a {self.status.value} answer needs a reason")
        return self

    @classmethod
    def found(cls, records: list[AgencyRecord], reason: str | None = None) -> Answer:
        return cls(status=ResponseStatus.FOUND, records=records, reason=reason)

    @classmethod
    def not_known(cls, reason: str | None = None) -> Answer:
        return cls(status=ResponseStatus.NOT_KNOWN, reason=reason)

    @classmethod
    def declined(cls, reason: str) -> Answer:
        return cls(status=ResponseStatus.DECLINED, reason=reason)

    @classmethod
    def error(cls, reason: str) -> Answer:
        return cls(status=ResponseStatus.ERROR, reason=reason)

    @classmethod
    def from_records(cls, records: list[AgencyRecord], reason: str | None = None) -> Answer:
        """FOUND if there are records, NOT_KNOWN if there are none."""
        return cls.found(records, reason) if records else cls.not_known(reason)


Handler = Callable[[InformationRequest], Answer | Awaitable[Answer]]
"""The one function an agency writes: sync, or async (awaited on the adapter's own loop)."""

WithdrawalHandler = Callable[[InformationRequest], object]
"""Told that the hub withdrew a request (consent refused or withdrawn): stop any work on it
and keep nothing found for it. A handler object's `withdraw` method is used by default."""

SupersessionHandler = Callable[[InformationRequest], object]
"""Told that a revision of a request is superseded (the hub re-rated the case: the request
now stands at `superseded_by_rag`, or at a higher `revision`). The SDK never answers a
superseded revision; stop work queued for it. A handler object's `superseded` method is
used by default."""

SyncHandler = Callable[[InformationRequest], Answer]
AsyncHandler = Callable[[InformationRequest], Awaitable[Answer]]
