"""The recipient policy: which fields of each notification each kind of recipient may receive.

The hub owns config/recipient-policy.yaml and changes it without code. It is validated at
start; a mistake is reported with the file and the line. Intake (RECEIVED, REJECTED) and
routing (INFORMATION_GATHERED, DECISION) both follow it, field by field.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mash_common.configfile import load_yaml_model
from mash_common.contracts import NotificationKind, ReferrerType, ResponseStatus


class Role(StrEnum):
    """Why a recipient hears about a case."""

    REFERRER = "REFERRER"  # one of its referrals is in the case
    CONTRIBUTOR = "CONTRIBUTOR"  # it answered an information request for the case


class Shareable(StrEnum):
    """What a notification may carry beyond the fact that something happened."""

    DECISION_OUTCOME = "decision_outcome"  # the outcome, as a field and in the message
    LEAD_AGENCY = "lead_agency"  # which agency leads the work now
    LEAD_CONTACT = "lead_contact"  # how to reach the lead practitioner
    RAG = "rag"  # how urgent the hub rated the case
    DUE_AT = "due_at"  # when information gathering was due to finish
    RATIONALE = "rationale"  # why: the decision maker's own words, in the message
    # The case's id. A referral about a child who already has an open case joins that
    # case, so its id tells whoever learns it that the child is known to the hub.
    CASE_REFERENCE = "case_reference"
    LINKED_CASE = "linked_case"  # RECEIVED: that the referral joined a case already open
    REASONS = "reasons"  # REJECTED: what to correct (names fields, never values)


class KindRule(BaseModel):
    """What one kind of recipient may see, per notification and role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Which kinds of notification this kind of recipient is sent at all.
    hears: frozenset[NotificationKind] = frozenset(NotificationKind)
    received: frozenset[Shareable] = frozenset()
    rejected: frozenset[Shareable] = frozenset({Shareable.REASONS})
    information_gathered: frozenset[Shareable] = frozenset()
    decision_as_referrer: frozenset[Shareable] = frozenset()
    decision_as_contributor: frozenset[Shareable] = frozenset()

    def hears_of(self, kind: NotificationKind) -> bool:
        # A referral that cannot be accepted is always answered: the sender must correct it.
        return kind is NotificationKind.REJECTED or kind in self.hears


class RecipientPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    # Which answers make an agency a contributor that hears the decision.
    contributor_statuses: frozenset[ResponseStatus] = frozenset(
        {ResponseStatus.FOUND, ResponseStatus.NOT_KNOWN, ResponseStatus.DECLINED}
    )
    # For any kind not listed under kinds. Deliberately the least that is useful.
    default: KindRule = KindRule()
    kinds: dict[ReferrerType, KindRule] = Field(default_factory=dict)

    def rule_for(self, kind: ReferrerType) -> KindRule:
        return self.kinds.get(kind, self.default)

    def decision_fields(self, kind: ReferrerType, roles: frozenset[Role]) -> frozenset[Shareable]:
        """The union of what each role allows: one organisation, one notification."""
        rule = self.rule_for(kind)
        fields: frozenset[Shareable] = frozenset()
        if Role.REFERRER in roles:
            fields |= rule.decision_as_referrer
        if Role.CONTRIBUTOR in roles:
            fields |= rule.decision_as_contributor
        return fields


def load_recipient_policy(path: Path) -> RecipientPolicy:
    return load_yaml_model(path, RecipientPolicy)
