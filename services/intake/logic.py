"""Intake's pure decisions: admit (validate, dedupe by referral_id) and triage (link, rate).

No Kafka, no faust, no clock: the agents pass in the state they hold and the time, and send
what these functions return.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from mash_common.codes import factor_codes
from mash_common.contracts import (
    CaseLink,
    NotificationKind,
    OutcomeNotification,
    Rag,
    Referral,
    TriagedReferral,
)
from mash_common.ids import stable_id
from mash_common.recipients import KindRule, Shareable
from mash_hub.services.intake.linking import Block, Match, OpenCase, find_open_case, identity_of
from mash_hub.services.intake.policy import ThresholdPolicy, due_at, highest, rate
from mash_hub.services.intake.validation import Problem, Rules, validate


def content_hash(referral: Referral, key: bytes | None = None) -> str:
    """A digest of everything the referral says, and its message key; field order is the
    model's, so the digest is stable across encodings of the same content."""
    digest = hashlib.sha256(key or b"")
    digest.update(b"\x1f")
    digest.update(referral.model_dump_json().encode())
    return digest.hexdigest()


# Crockford's base32: no I, L, O or U, so a reference read aloud or retyped survives.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_ID_BITS = 100  # docs/contract.md "Case ids" shows why this is enough


def case_reference(first_referral_id: str) -> str:
    """Deterministic, human-friendly case id: MASH- and four groups of five base32 digits,
    100 bits of SHA-256 over the first referral's id. A collision (two first referrals, one
    id) is refused by enrichment (CASE_ID_COLLISION), never merged."""
    digest = hashlib.sha256(b"mash-case\x1f" + first_referral_id.encode("utf-8")).digest()
    number = int.from_bytes(digest, "big") >> (256 - CASE_ID_BITS)
    digits = "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(CASE_ID_BITS // 5)))
    return "MASH-" + "-".join(digits[i:i + 5] for i in range(0, len(digits), 5))


def notification_id(referral_id: str, recipient: str, kind: NotificationKind, version: int) -> str:
    return stable_id("notification", referral_id, recipient, kind.value, version)


# Admission (keyed by referral_id) -------------------------------------------------------


class AdmissionStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class SeenReferral(BaseModel):
    """What intake remembers per referral_id. Internal state (a table value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    content_hash: str
    status: AdmissionStatus
    rejections: int = 0


class Verdict(StrEnum):
    FORWARD = "FORWARD"  # new and valid, or a redelivery of an accepted one: triage decides
    DUPLICATE = "DUPLICATE"  # the same content as a rejected referral: nothing new to say
    REJECT = "REJECT"  # fails validation
    CONFLICT = "CONFLICT"  # an accepted referral_id arrived again with different content


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    remember: SeenReferral | None  # the new state for this referral_id, None to leave it
    problems: list[Problem] = field(default_factory=list)
    rejection_number: int = 0  # 1 for the first REJECTED outcome of this referral_id, ...

    @property
    def reason_code(self) -> str:
        return "CONFLICT" if self.verdict is Verdict.CONFLICT else "VALIDATION"


CONFLICT_PROBLEM = Problem(
    "CONFLICT",
    "this referral_id was already received with different content; send new information as a "
    "new referral with its own referral_id",
)


def admit(referral: Referral, key: bytes | None, seen: SeenReferral | None, rules: Rules,
          now: datetime) -> Admission:
    # The key is part of the digest so that a resend correcting only the key is a correction.
    digest = content_hash(referral, key)
    if seen is not None and seen.content_hash == digest:
        if seen.status is AdmissionStatus.ACCEPTED:
            # Forward again: triage dedupes by referral_id, and this covers the case where the
            # state was saved but the forward was lost in a crash.
            return Admission(Verdict.FORWARD, None)
        # Rejected before. The hub's rules may have changed since (an operator fixes the
        # roster and replays the dead letter), so check again: still failing means a
        # redelivery with nothing new to say; passing now means it goes forward.
        if validate(referral, key, rules, now):
            return Admission(Verdict.DUPLICATE, None)
        return Admission(Verdict.FORWARD, SeenReferral(
            content_hash=digest, status=AdmissionStatus.ACCEPTED, rejections=seen.rejections))
    if seen is not None and seen.status is AdmissionStatus.ACCEPTED:
        number = seen.rejections + 1
        return Admission(Verdict.CONFLICT, seen.model_copy(update={"rejections": number}),
                         [CONFLICT_PROBLEM], number)
    # New, or a changed version of a referral we rejected (a correction): validate afresh.
    rejections = seen.rejections if seen is not None else 0
    problems = validate(referral, key, rules, now)
    if problems:
        number = rejections + 1
        return Admission(Verdict.REJECT, SeenReferral(content_hash=digest,
                         status=AdmissionStatus.REJECTED, rejections=number), problems, number)
    return Admission(Verdict.FORWARD, SeenReferral(content_hash=digest,
                     status=AdmissionStatus.ACCEPTED, rejections=rejections))


def rejected_notification(referral_id: str, recipient: str, problems: list[Problem],
                          number: int, now: datetime, rule: KindRule | None = None
                          ) -> OutcomeNotification:
    """What the sender is told; the reasons only where the recipient policy allows (they
    name fields and what is wrong, never values)."""
    rule = rule or KindRule()
    count = len(problems)
    return OutcomeNotification(
        notification_id=notification_id(referral_id, recipient, NotificationKind.REJECTED, number),
        referral_id=referral_id,
        recipient=recipient,
        kind=NotificationKind.REJECTED,
        sent_at=now,
        message=(f"Referral {referral_id} rejected: {count} problem{'s' if count != 1 else ''} to "
                 "correct before it can be accepted. Nothing from it has been shared."),
        reasons=[str(p) for p in problems] if Shareable.REASONS in rule.rejected else [],
        revision=number,
    )


# Triage (keyed by the blocking key) -----------------------------------------------------


@dataclass(frozen=True)
class Triage:
    triaged: TriagedReferral
    notification: OutcomeNotification | None  # None: the recipient policy sends no RECEIVED
    block: Block  # the block's new state, pruned of closed cases
    match: Match | None


def _when(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%H:%M} {local:%a} {local.day} {local:%b}"


def received_message(case_id: str, rag: Rag, due: datetime, linked: bool, zone: str,
                     fields: frozenset[Shareable] = frozenset(Shareable),
                     referral_id: str | None = None) -> str:
    """The acknowledgement, saying only what the recipient policy lets this recipient know.
    Whether the referral joined an open case, the case's id, and the RAG and due time it
    may have inherited all say whether the child was already known to the hub."""
    if Shareable.CASE_REFERENCE not in fields:
        ref = f" {referral_id}" if referral_id else ""
        text = (f"Referral{ref} received. Thank you: the safeguarding hub will look at it and "
                "act on it")
    elif linked and Shareable.LINKED_CASE in fields:
        text = f"Referral received and added to open case {case_id}"
    else:
        text = f"Referral received; case {case_id}"
    if Shareable.RAG in fields:
        text += f" rated {rag.value}"
    if Shareable.DUE_AT in fields:
        text += f"; information will be gathered by {_when(due, zone)}"
    return text


def received_notification(triaged: TriagedReferral, rule: KindRule, zone: str, now: datetime
                          ) -> OutcomeNotification | None:
    """RECEIVED for the referral's source system, field by field as its kind's rule allows."""
    if not rule.hears_of(NotificationKind.RECEIVED):
        return None
    fields = rule.received
    referral = triaged.referral
    return OutcomeNotification(
        notification_id=notification_id(referral.referral_id, referral.source_system,
                                        NotificationKind.RECEIVED, 1),
        case_id=triaged.case_id if Shareable.CASE_REFERENCE in fields else None,
        referral_id=referral.referral_id, recipient=referral.source_system,
        kind=NotificationKind.RECEIVED, sent_at=now,
        message=received_message(triaged.case_id, triaged.rag, triaged.due_at,
                                 triaged.linked_case is not None, zone, fields,
                                 referral.referral_id),
        rag=triaged.rag if Shareable.RAG in fields else None,
        due_at=triaged.due_at if Shareable.DUE_AT in fields else None,
    )


def triage(referral: Referral, block: Block, policy: ThresholdPolicy, *, window: timedelta,
           now: datetime, rule: KindRule | None = None) -> Triage:
    """Link to the child's open case or open a new one, rate it, and say when it is due."""
    match = find_open_case(block, referral.subject, now, window)
    rating = rate(policy, referral, already_open=match is not None, now=now)
    nhs, name_key, dob, postcode = identity_of(referral.subject)
    if match is None:
        case_id = case_reference(referral.referral_id)
        opened_at = now
        rag = rating.rag
        due = due_at(policy, rag, now)
        link = None
        referral_ids = [referral.referral_id]
    else:
        previous = match.case
        case_id, opened_at = previous.case_id, previous.opened_at
        rag = highest([previous.rag, rating.rag])
        # Raised: the new timescale from now, if sooner. Otherwise the case keeps its due
        # time: a new referral never buys the hub more time.
        due = min(previous.due_at, due_at(policy, rag, now)) if rag.rank < previous.rag.rank \
            else previous.due_at
        link = CaseLink(case_id=case_id, match=match.match, reason=match.reason,
                        previous_rag=previous.rag, opened_by=previous.referral_ids[0])
        referral_ids = [*previous.referral_ids, referral.referral_id]
        # Keep what the case knew, and learn identifiers the earlier referrals lacked.
        nhs = previous.nhs_number or nhs
        postcode = previous.postcode_key or postcode
        dob = previous.date_of_birth or dob
    case = OpenCase(case_id=case_id, opened_at=opened_at, due_at=due, rag=rag, nhs_number=nhs,
                    name_key=name_key if match is None else match.case.name_key,
                    date_of_birth=dob, postcode_key=postcode, referral_ids=referral_ids)
    triaged = TriagedReferral(
        case_id=case_id, referral=referral, rag=rag, opened_at=opened_at, due_at=due,
        triaged_at=now, fired_rules=rating.fired, linked_case=link,
        policy_version=policy.version, cin_factor_codes=factor_codes(referral.concerns),
    )
    # Without a rule (tests of triage alone) the least: that the referral was received.
    notification = received_notification(triaged, rule or KindRule(), policy.display_timezone, now)
    return Triage(triaged, notification, block.prune(now, window).upsert(case), match)


# Red first ------------------------------------------------------------------------------


def lane_of(referral: Referral, policy: ThresholdPolicy, now: datetime) -> Rag:
    """The lane a referral takes to triage: RED if its own content rates it Red. Whether
    the child's case is open is not known before triage; it can only raise the rating, so
    a referral rated Red here is Red after triage too."""
    return Rag.RED if rate(policy, referral, already_open=False, now=now).rag is Rag.RED else Rag.GREEN
