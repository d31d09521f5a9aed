"""Builders for routing's unit tests: assembled cases and decisions from the test roster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mash_common.contracts import (
    AssembledCase,
    Completeness,
    Contribution,
    Decision,
    DecisionOutcome,
    Rag,
    Referrer,
    ReferrerType,
    Responder,
    ResponseStatus,
    Subject,
)
from mash_common.hubconfig import HubConfig
from mash_hub.services.routing.logic import Roster
from mash_hub.services.routing.policy import RecipientPolicy, load_recipient_policy
from tests.support.factories import referral

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
CASE = "CASE-1"

KIND_OF_SYSTEM = {
    "school-portal": ReferrerType.EDUCATION,
    "public-portal": ReferrerType.MEMBER_OF_PUBLIC,
    "police-niche": ReferrerType.POLICE,
    "health-portal": ReferrerType.HEALTH,
}


def ref(referral_id: str, system: str, minutes: int = 0) -> Any:
    return referral(
        referral_id,
        source_system=system,
        received_at=T0 + timedelta(minutes=minutes),
        referrer=Referrer(name="Test Referrer", role="Role", organisation="Org",
                          agency_type=KIND_OF_SYSTEM.get(system, ReferrerType.OTHER)),
    )


def contribution(agency: str, status: ResponseStatus) -> Contribution:
    return Contribution(
        agency=agency, request_id=f"REQ-{agency}", status=status,
        responded_at=T0 + timedelta(hours=1),
        responder=Responder(name="Test Responder", role="Analyst"),
    )


def case(
    referrals: list[tuple[str, str]] | list[Any],
    answers: dict[str, ResponseStatus] | None = None,
    version: int = 1,
    **overrides: Any,
) -> AssembledCase:
    refs = [r if not isinstance(r, tuple) else ref(*r) for r in referrals]
    fields: dict[str, Any] = {
        "case_id": CASE,
        "version": version,
        "referral_ids": [r.referral_id for r in refs],
        "referrals": refs,
        "subject": Subject(given_name="Sam", family_name="Example"),
        "rag": Rag.AMBER,
        "opened_at": T0,
        "due_at": T0 + timedelta(hours=24),
        "assembled_at": T0 + timedelta(hours=2),
        "completeness": Completeness.COMPLETE,
        "asked_agencies": sorted(answers or {}),
        "contributions": [contribution(a, s) for a, s in (answers or {}).items()],
    }
    fields.update(overrides)
    return AssembledCase(**fields)


def decision(revision: int = 1, **overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "case_id": CASE,
        "decided_at": T0 + timedelta(hours=5),
        "outcome": DecisionOutcome.CHILD_IN_NEED_ASSESSMENT,
        "rationale": "Confidential reasoning naming the family.",
        "decided_by": "Team manager",
        "lead_agency": "social-care",
        "lead_contact": "MASH duty desk 01234 567890",
        "revision": revision,
    }
    fields.update(overrides)
    return Decision(**fields)


@pytest.fixture(scope="session")
def roster(hub_config: HubConfig) -> Roster:
    return Roster.from_hub(hub_config)


@pytest.fixture(scope="session")
def policy() -> RecipientPolicy:
    return load_recipient_policy(ROOT / "config" / "recipient-policy.yaml")
