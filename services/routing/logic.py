"""Who is told what, and in which words: pure functions over contract models.

No Kafka, no faust, no clock: the caller passes `now` and the per-case state, and gets back
the new state and the notifications to send. Wording is plain English that a teacher or a
member of the public understands, and never says what another agency holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from mash_common.contracts import (
    AssembledCase,
    Decision,
    DecisionOutcome,
    NotificationKind,
    OutcomeNotification,
    Rag,
    ReferrerType,
    ResponseStatus,
    UtcDatetime,
)
from mash_common.hubconfig import HubConfig
from mash_common.ids import stable_id
from mash_hub.services.routing.policy import RecipientPolicy, Role, Shareable

# Roster ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    """The hub's recipients (config/hub.yaml): their kind, display name and owning agency."""

    kinds: dict[str, ReferrerType]
    names: dict[str, str]
    owner_agency: dict[str, str]  # source system -> the agency it belongs to

    @classmethod
    def from_hub(cls, hub: HubConfig) -> Roster:
        kinds = {a: e.kind for a, e in hub.agencies.items()}
        names = {a: e.name for a, e in hub.agencies.items()}
        owner: dict[str, str] = {}
        for s, e in hub.source_systems.items():
            kinds[s] = e.kind
            names[s] = e.name
            if e.agency:
                owner[s] = e.agency
        return cls(kinds, names, owner)

    def knows(self, recipient: str) -> bool:
        return recipient in self.kinds

    def name_of(self, recipient: str) -> str:
        return self.names.get(recipient, recipient)


# Per-case state -------------------------------------------------------------------------


class ReferralRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    referral_id: str
    source_system: str
    received_at: UtcDatetime


class CaseState(BaseModel):
    """What routing remembers of a case: who is involved and what each has been told."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    version: int
    rag: Rag
    opened_at: UtcDatetime
    due_at: UtcDatetime
    referrals: tuple[ReferralRef, ...]
    # agency -> every answer status it gave (an amendment can add a late answer)
    answers: dict[str, tuple[ResponseStatus, ...]]
    gathered_sent: tuple[str, ...] = ()  # recipients told INFORMATION_GATHERED
    decision: Decision | None = None  # the latest decision, as notified
    decision_sent: tuple[str, ...] = ()  # recipients told of a decision

    @property
    def first_received_at(self) -> datetime:
        """When the earliest referral reached the hub: where decision latency starts."""
        return min((r.received_at for r in self.referrals), default=self.opened_at)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> CaseState:
        return cls.model_validate_json(data)


# Recipients -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    id: str
    kind: ReferrerType
    roles: frozenset[Role]
    referral_ids: tuple[str, ...] = ()  # its referrals in the case, earliest first


@dataclass(frozen=True)
class Recipients:
    known: tuple[Recipient, ...]
    unknown: tuple[str, ...]  # ids the roster does not have: no topic to send to


def contributors(state: CaseState, policy: RecipientPolicy) -> list[str]:
    """Agencies that answered in a way the policy counts as contributing."""
    return sorted(
        agency
        for agency, statuses in state.answers.items()
        if any(s in policy.contributor_statuses for s in statuses)
    )


def recipients(state: CaseState, roster: Roster, policy: RecipientPolicy) -> Recipients:
    """Every referrer's source system and every contributing agency, one entry each.

    Each system hears on its own topic with its own view: a source system as the referrer,
    an agency's adapter as the contributor, even when one organisation runs both (its
    referring system reads mash.outcomes.<source>, its adapter mash.outcomes.<agency>, and
    the two views differ: docs/governance.md).
    """
    roles: dict[str, set[Role]] = {}
    refs: dict[str, list[str]] = {}
    unknown: list[str] = []
    for ref in sorted(state.referrals, key=lambda r: (r.received_at, r.referral_id)):
        if not roster.knows(ref.source_system):
            unknown.append(ref.source_system)
            continue
        roles.setdefault(ref.source_system, set()).add(Role.REFERRER)
        refs.setdefault(ref.source_system, []).append(ref.referral_id)
    for agency in contributors(state, policy):
        if not roster.knows(agency):
            unknown.append(agency)
            continue
        roles.setdefault(agency, set()).add(Role.CONTRIBUTOR)
    known = tuple(
        Recipient(rid, roster.kinds[rid], frozenset(r), tuple(refs.get(rid, ())))
        for rid, r in sorted(roles.items())
    )
    return Recipients(known, tuple(sorted(set(unknown))))


def notification_id(case_id: str, recipient: str, kind: NotificationKind, version: int) -> str:
    """Stable, so a recipient can deduplicate: a redelivery reproduces the same id."""
    return stable_id("notification", case_id, recipient, kind.value, version)


# Wording --------------------------------------------------------------------------------

OUTCOME_WORDS: dict[DecisionOutcome, str] = {
    DecisionOutcome.NO_FURTHER_ACTION:
        "no further action is needed from the safeguarding hub at this time",
    DecisionOutcome.ADVICE_AND_UNIVERSAL_SERVICES:
        "the family will be given advice and pointed to services open to everyone, "
        "such as their school, GP or health visitor",
    DecisionOutcome.EARLY_HELP:
        "the family will be offered early help: a local support worker will work with "
        "them before problems get worse",
    DecisionOutcome.CHILD_IN_NEED_ASSESSMENT:
        "children's social care will assess what help the child and family need",
    DecisionOutcome.STRATEGY_DISCUSSION:
        "the police, children's social care and other agencies will meet urgently to "
        "decide how to keep the child safe",
    DecisionOutcome.POLICE_ACTION: "the police are taking action",
    DecisionOutcome.REFERRED_TO_ANOTHER_AUTHORITY:
        "the case has been passed to the council for the area where the child lives",
    DecisionOutcome.OTHER: "the agencies involved will agree together what happens next",
}

RAG_WORDS: dict[Rag, str] = {
    Rag.RED: "as needing action within hours (red)",
    Rag.AMBER: "as urgent (amber)",
    Rag.GREEN: "as needing action within a few days (green)",
}

PRIVACY = (
    "To protect the privacy of the child and family we cannot tell you what was decided. "
    "If you are worried about a child again, please tell us again. "
    "If a child is in immediate danger, call 999."
)


def _references(ids: Iterable[str]) -> str:
    refs = list(ids)
    if not refs:
        return ""
    label = "reference" if len(refs) == 1 else "references"
    return f" ({label} {', '.join(refs)})"


def _when(at: datetime) -> str:
    return at.strftime("%d %B %Y at %H:%M UTC").lstrip("0")


def gathered_message(recipient: Recipient, state: CaseState, fields: frozenset[Shareable]) -> str:
    parts = [
        f"Thank you for your referral{_references(recipient.referral_ids)}. "
        "The safeguarding hub has gathered what partner agencies know and the case is now "
        "with the decision makers. We will tell you what they decide."
    ]
    if Shareable.RAG in fields:
        parts.append(f"The hub rated the referral {RAG_WORDS[state.rag]}.")
    if Shareable.DUE_AT in fields:
        parts.append(f"Information gathering was due to finish by {_when(state.due_at)}.")
    return " ".join(parts)


def decision_message(
    recipient: Recipient,
    case_id: str,
    decision: Decision,
    fields: frozenset[Shareable],
    roster: Roster,
) -> str:
    referrer = Role.REFERRER in recipient.roles
    contributor = Role.CONTRIBUTOR in recipient.roles
    refs = _references(recipient.referral_ids)
    revised = decision.revision > 1
    # The case id only where the policy allows it: it says whether the child was known.
    case = (f"case {case_id}" if Shareable.CASE_REFERENCE in fields
            else "the case you told us about" if referrer else "the child we asked you about")
    parts: list[str] = []
    if Shareable.DECISION_OUTCOME not in fields:
        if referrer:
            opening = (
                f"The safeguarding team has looked again at the concern you told us about{refs} "
                "and acted on it."
                if revised
                else f"Thank you for telling us about your concern{refs}. The safeguarding "
                "team has looked at it carefully and acted on it."
            )
            parts += [opening, PRIVACY]
        else:
            parts.append(
                f"Thank you for the information your agency gave about {case}. "
                + ("The safeguarding hub has reviewed its decision."
                   if revised else "The safeguarding hub has made its decision.")
            )
    else:
        if revised:
            parts.append(
                f"The safeguarding hub has reviewed its decision on {case}. "
                "This replaces what we told you before."
            )
        if referrer and contributor:
            parts.append(
                f"Thank you for your referral{refs} and for the information your agency gave."
            )
        elif referrer:
            parts.append(f"Thank you for your referral{refs}.")
        else:
            parts.append(
                f"Thank you for the information your agency gave about {case}; "
                "it informed this decision."
            )
        parts.append(f"The safeguarding hub has decided that {OUTCOME_WORDS[decision.outcome]}.")
    if Shareable.LEAD_AGENCY in fields and decision.lead_agency:
        parts.append(f"{roster.name_of(decision.lead_agency)} is leading the work.")
    if Shareable.LEAD_CONTACT in fields and decision.lead_contact:
        parts.append(f"To contact the lead practitioner: {decision.lead_contact}.")
    if Shareable.RATIONALE in fields and decision.rationale:
        parts.append(f"The reason recorded: {decision.rationale}")
    return " ".join(parts)


# Building notifications -----------------------------------------------------------------


def gathered_notification(
    recipient: Recipient, state: CaseState, policy: RecipientPolicy, now: datetime
) -> OutcomeNotification:
    fields = policy.rule_for(recipient.kind).information_gathered
    kind = NotificationKind.INFORMATION_GATHERED
    return OutcomeNotification(
        notification_id=notification_id(state.case_id, recipient.id, kind, state.version),
        case_id=state.case_id if Shareable.CASE_REFERENCE in fields else None,
        referral_id=recipient.referral_ids[0] if recipient.referral_ids else None,
        recipient=recipient.id,
        kind=kind,
        sent_at=now,
        message=gathered_message(recipient, state, fields),
        rag=state.rag if Shareable.RAG in fields else None,
        due_at=state.due_at if Shareable.DUE_AT in fields else None,
    )


def decision_notification(
    recipient: Recipient,
    state: CaseState,
    decision: Decision,
    policy: RecipientPolicy,
    roster: Roster,
    now: datetime,
) -> OutcomeNotification:
    fields = policy.decision_fields(recipient.kind, recipient.roles)
    kind = NotificationKind.DECISION
    return OutcomeNotification(
        notification_id=notification_id(state.case_id, recipient.id, kind, decision.revision),
        case_id=state.case_id if Shareable.CASE_REFERENCE in fields else None,
        referral_id=recipient.referral_ids[0] if recipient.referral_ids else None,
        recipient=recipient.id,
        kind=kind,
        sent_at=now,
        message=decision_message(recipient, state.case_id, decision, fields, roster),
        decision_outcome=decision.outcome if Shareable.DECISION_OUTCOME in fields else None,
        rag=state.rag if Shareable.RAG in fields else None,
        due_at=state.due_at if Shareable.DUE_AT in fields else None,
        lead_agency=decision.lead_agency if Shareable.LEAD_AGENCY in fields else None,
        lead_contact=decision.lead_contact if Shareable.LEAD_CONTACT in fields else None,
        revision=decision.revision,
    )


# Transitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRouted:
    """The result of an assembled case: new state (None if stale) and what to send."""

    state: CaseState | None
    notifications: tuple[OutcomeNotification, ...] = ()
    unknown_recipients: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return self.state is None


def _merge_case(state: CaseState | None, case: AssembledCase) -> CaseState:
    referrals = {r.referral_id: r for r in (state.referrals if state else ())}
    for r in case.referrals:
        referrals.setdefault(
            r.referral_id, ReferralRef(
                referral_id=r.referral_id, source_system=r.source_system,
                received_at=r.received_at,
            )
        )
    answers: dict[str, tuple[ResponseStatus, ...]] = dict(state.answers if state else {})
    for c in case.contributions:
        seen = answers.get(c.agency, ())
        if c.status not in seen:
            answers[c.agency] = (*seen, c.status)
    return CaseState(
        case_id=case.case_id,
        version=case.version,
        rag=case.rag,
        opened_at=case.opened_at,
        due_at=case.due_at,
        referrals=tuple(sorted(referrals.values(), key=lambda r: (r.received_at, r.referral_id))),
        answers=answers,
        gathered_sent=state.gathered_sent if state else (),
        decision=state.decision if state else None,
        decision_sent=state.decision_sent if state else (),
    )


def on_assembled(
    state: CaseState | None,
    case: AssembledCase,
    roster: Roster,
    policy: RecipientPolicy,
    now: datetime,
) -> CaseRouted:
    """Fold a case version into the state and say who must be told.

    A version at or below the one already seen is a redelivery or out of date: nothing.
    Referrers hear INFORMATION_GATHERED once per case, so an amendment re-notifies no one
    who has been told. A referrer new to the case (its referral opened a new round) hears
    INFORMATION_GATHERED, even after a decision: that decision did not consider its
    concern, and the hub system publishes a revision once it has. A contributor whose
    answer arrives after a decision hears the current decision.
    """
    if state is not None and case.version <= state.version:
        return CaseRouted(None)
    merged = _merge_case(state, case)
    who = recipients(merged, roster, policy)
    gathered: list[OutcomeNotification] = []
    decided: list[OutcomeNotification] = []
    told_gathered, told_decision = set(merged.gathered_sent), set(merged.decision_sent)
    for r in who.known:
        if Role.REFERRER in r.roles:
            hears = policy.rule_for(r.kind).hears_of(NotificationKind.INFORMATION_GATHERED)
            if hears and r.id not in told_gathered and r.id not in told_decision:
                gathered.append(gathered_notification(r, merged, policy, now))
        elif merged.decision is not None and r.id not in told_decision:
            decided.append(
                decision_notification(r, merged, merged.decision, policy, roster, now)
            )
    merged = merged.model_copy(update={
        "gathered_sent": tuple(sorted(told_gathered | {n.recipient for n in gathered})),
        "decision_sent": tuple(sorted(told_decision | {n.recipient for n in decided})),
    })
    return CaseRouted(merged, (*gathered, *decided), who.unknown)


class DecisionStatus(StrEnum):
    NOTIFY = "NOTIFY"  # a new decision or a new revision: tell everyone involved
    UNKNOWN_CASE = "UNKNOWN_CASE"  # no assembled case seen: dead-letter
    DUPLICATE = "DUPLICATE"  # this revision was already notified: nothing to do
    STALE = "STALE"  # an older revision than one already notified: nothing to do
    REVISION_CONFLICT = "REVISION_CONFLICT"  # same revision, different content: dead-letter


@dataclass(frozen=True)
class DecisionRouted:
    status: DecisionStatus
    state: CaseState | None = None
    notifications: tuple[OutcomeNotification, ...] = ()
    unknown_recipients: tuple[str, ...] = ()
    # Set on the first decision of a case only, so a revision is not counted twice.
    latency: timedelta | None = None


def on_decision(
    state: CaseState | None,
    decision: Decision,
    roster: Roster,
    policy: RecipientPolicy,
    now: datetime,
) -> DecisionRouted:
    if state is None:
        return DecisionRouted(DecisionStatus.UNKNOWN_CASE)
    previous = state.decision
    if previous is not None:
        if decision.revision < previous.revision:
            return DecisionRouted(DecisionStatus.STALE)
        if decision.revision == previous.revision:
            same = decision == previous
            return DecisionRouted(
                DecisionStatus.DUPLICATE if same else DecisionStatus.REVISION_CONFLICT
            )
    who = recipients(state, roster, policy)
    current = {r.id for r in who.known}
    # A revision goes to everyone told before, even if the roster or policy has changed.
    earlier = [
        Recipient(rid, roster.kinds.get(rid, ReferrerType.OTHER), frozenset({Role.CONTRIBUTOR}))
        for rid in state.decision_sent
        if rid not in current
    ]
    sent = tuple(
        decision_notification(r, state, decision, policy, roster, now)
        for r in (*who.known, *earlier)
    )
    new_state = state.model_copy(update={
        "decision": decision,
        "decision_sent": tuple(sorted(set(state.decision_sent) | {n.recipient for n in sent})),
    })
    latency = decision.decided_at - state.first_received_at if previous is None else None
    return DecisionRouted(DecisionStatus.NOTIFY, new_state, sent, who.unknown, latency)



# Decisions that arrive before their case -----------------------------------------------


class ParkedDecision(BaseModel):
    """A decision held until its assembled case arrives, with where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value_hex: str  # the original bytes, for applying later or for the dead letter
    topic: str
    partition: int
    offset: int
    parked_at: UtcDatetime

    @property
    def value(self) -> bytes:
        return bytes.fromhex(self.value_hex)


class ParkedDecisions(BaseModel):
    """Every decision parked for one case_id (internal state, a table value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: int  # the case's input partition, where its changelog records go
    decisions: tuple[ParkedDecision, ...] = ()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> ParkedDecisions:
        return cls.model_validate_json(data)


def park(parked: ParkedDecisions | None, decision: ParkedDecision) -> ParkedDecisions:
    """Hold a decision for a case not seen yet. A redelivery (same offset) is held once.

    Topics are consumed side by side, so a decision can overtake the assembled case it
    follows; it is applied when the case arrives, and dead-lettered only if it never does.
    """
    if parked is None:
        return ParkedDecisions(partition=decision.partition, decisions=(decision,))
    if any(d.offset == decision.offset and d.topic == decision.topic for d in parked.decisions):
        return parked
    return parked.model_copy(update={"decisions": (*parked.decisions, decision)})


def expire(
    parked: ParkedDecisions, now: datetime, grace: timedelta
) -> tuple[tuple[ParkedDecision, ...], ParkedDecisions | None]:
    """Split into decisions parked longer than the grace (to dead-letter) and the rest."""
    expired = tuple(d for d in parked.decisions if now - d.parked_at >= grace)
    kept = tuple(d for d in parked.decisions if now - d.parked_at < grace)
    if not expired:
        return (), parked
    return expired, (parked.model_copy(update={"decisions": kept}) if kept else None)
