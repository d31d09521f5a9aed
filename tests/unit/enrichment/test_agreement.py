"""The sharing agreement: per agency, RAG and category, who is asked what, on which basis."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.contracts import (
    Consent,
    ConsentRule,
    ConsentStatus,
    Rag,
    Referral,
    ReferrerType,
    Subject,
)
from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from mash_hub.services.enrichment.agreement import (
    Ask,
    ConsentState,
    OverrideProblem,
    Withheld,
    WithheldReason,
    decide,
    load_agreement,
    next_consent,
    permits,
)
from tests.support.factories import referral
from tests.unit.enrichment.helpers import default_agreement

SUBJECT = Subject(given_name="Sam", family_name="Example", nhs_number="9434765919", postcode="EX1 1AA",
                  address="1 Example Street")
OVERRIDE = ConsentState(ConsentStatus.OVERRIDDEN_CHILD_PROTECTION, None)


def _override_state() -> ConsentState:
    step = next_consent(None, _override_referral("police-niche"), ReferrerType.POLICE, default_agreement())
    return step.state


def _override_referral(source: str, reason: str | None = "Parent is the alleged abuser",
                       by: str | None = "DS Example") -> Referral:
    return referral("REF-9", source_system=source, consent=Consent(
        status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION, override_reason=reason,
        override_authorised_by=by))


def test_default_agreement_covers_every_hub_agency() -> None:
    agreement = default_agreement()
    assert set(agreement.agencies) == set(load_hub_config().agencies)
    for terms in agreement.agencies.values():
        assert terms.purpose
        for rag in terms.at:
            assert all(t.legal_basis and t.purpose for t in terms.terms(rag))


def test_s47_is_cited_only_at_red() -> None:
    # Haringey: s.47 needs reasonable cause to suspect significant harm (RED rules only).
    agreement = default_agreement()
    for agency, terms in agreement.agencies.items():
        for rag in (Rag.AMBER, Rag.GREEN):
            for t in terms.terms(rag):
                assert "s.47" not in t.legal_basis, (agency, rag, t.category)


def test_below_red_nothing_is_asked_without_consent_or_an_override() -> None:
    agreement = default_agreement()
    for agency, terms in agreement.agencies.items():
        for rag in (Rag.AMBER, Rag.GREEN):
            for t in terms.terms(rag):
                assert t.consent_rule is not ConsentRule.NOT_REQUIRED, (agency, rag, t.category)
        # Health: confidential records, consent or a recorded override at every RAG.
    assert all(t.consent_rule is not ConsentRule.NOT_REQUIRED
               for rag in Rag for t in agreement.agencies["health"].terms(rag))


@pytest.mark.parametrize(
    ("agency", "rag", "consent", "expected"),
    [
        ("health", Rag.RED, ConsentStatus.GIVEN, "ask"),
        ("health", Rag.RED, "override", "ask"),
        ("health", Rag.GREEN, "override", WithheldReason.CONSENT_REQUIRED),
        ("health", Rag.RED, ConsentStatus.REFUSED, WithheldReason.CONSENT_REQUIRED),
        ("health", Rag.RED, ConsentStatus.NOT_SOUGHT, WithheldReason.CONSENT_REQUIRED),
        ("health", Rag.AMBER, ConsentStatus.UNKNOWN, WithheldReason.CONSENT_REQUIRED),
        # An override status without a recorded, accepted override unlocks nothing.
        ("health", Rag.RED, OVERRIDE, WithheldReason.CONSENT_REQUIRED),
        ("police", Rag.RED, ConsentStatus.REFUSED, "ask"),
        ("police", Rag.AMBER, ConsentStatus.REFUSED, WithheldReason.CONSENT_REQUIRED),
        ("police", Rag.AMBER, "override", "ask"),
        ("police", Rag.GREEN, ConsentStatus.NOT_SOUGHT, WithheldReason.CONSENT_REQUIRED),
        ("police", Rag.GREEN, ConsentStatus.GIVEN, "ask"),
        ("education", Rag.GREEN, ConsentStatus.NOT_SOUGHT, WithheldReason.CONSENT_REQUIRED),
        ("social-care", Rag.GREEN, ConsentStatus.REFUSED, WithheldReason.CONSENT_REQUIRED),
        ("probation", Rag.RED, ConsentStatus.GIVEN, "ask"),
        ("probation", Rag.GREEN, ConsentStatus.GIVEN, WithheldReason.NOT_AT_RAG),
        ("housing", Rag.GREEN, ConsentStatus.GIVEN, WithheldReason.NOT_AT_RAG),
    ],
)
def test_decide(agency: str, rag: Rag, consent: object, expected: object) -> None:
    state = _override_state() if consent == "override" else consent
    assert isinstance(state, ConsentState | ConsentStatus)
    decision = decide(default_agreement(), agency, rag, state, SUBJECT)
    if expected == "ask":
        assert isinstance(decision, Ask) and decision.data_categories
    else:
        assert isinstance(decision, Withheld) and decision.reason == expected


def test_each_category_carries_its_own_terms() -> None:
    red = decide(default_agreement(), "police", Rag.RED, ConsentStatus.NOT_SOUGHT, SUBJECT)
    assert isinstance(red, Ask)
    by_category = {t.category: t for t in red.terms}
    assert "s.35(5)" in by_category["intelligence"].legal_basis
    assert "s.35(5)" not in by_category["offending-history"].legal_basis
    assert red.legal_basis.count("Children Act 1989 s.47") == 2  # both bases, in order
    # Education at AMBER with an override: SEN records still need consent.
    amber = decide(default_agreement(), "education", Rag.AMBER, _override_state(), SUBJECT)
    assert isinstance(amber, Ask)
    assert "special-educational-needs" not in amber.data_categories
    assert amber.withheld == ["special-educational-needs"] and amber.rests_on_override


@pytest.mark.parametrize(("rule", "state", "allowed"), [
    (ConsentRule.NOT_REQUIRED, ConsentState(ConsentStatus.REFUSED), True),
    (ConsentRule.REQUIRED, ConsentState(ConsentStatus.GIVEN), True),
    (ConsentRule.REQUIRED, ConsentState(ConsentStatus.NOT_SOUGHT), False),
    (ConsentRule.REQUIRED, "override", False),
    (ConsentRule.OVERRIDE_ALLOWED, "override", True),
    (ConsentRule.OVERRIDE_ALLOWED, OVERRIDE, False),
    (ConsentRule.OVERRIDE_ALLOWED, ConsentState(ConsentStatus.REFUSED), False),
])
def test_permits(rule: ConsentRule, state: object, allowed: bool) -> None:
    consent = _override_state() if state == "override" else state
    assert isinstance(consent, ConsentState)
    assert permits(rule, consent) is allowed


@pytest.mark.parametrize(("source", "kind", "reason", "by", "problem"), [
    ("police-niche", ReferrerType.POLICE, "why", "who", None),
    ("lado-system", ReferrerType.LOCAL_AUTHORITY, "why", "who", None),
    ("public-portal", ReferrerType.MEMBER_OF_PUBLIC, "why", "who", OverrideProblem.SENDER_NOT_ALLOWED),
    ("school-portal", ReferrerType.EDUCATION, "why", "who", OverrideProblem.SENDER_NOT_ALLOWED),
    ("health-portal", ReferrerType.HEALTH, "why", "who", OverrideProblem.SENDER_NOT_ALLOWED),
    ("police-niche", ReferrerType.POLICE, "  ", "who", OverrideProblem.INCOMPLETE),
    ("police-niche", ReferrerType.POLICE, "why", None, OverrideProblem.INCOMPLETE),
])
def test_overrides_only_from_allowed_senders_with_reason_and_authoriser(
        source: str, kind: ReferrerType, reason: str, by: str | None, problem: object) -> None:
    ref = _override_referral(source, reason, by)
    step = next_consent(ConsentState(ConsentStatus.REFUSED), ref, kind,
                        default_agreement())
    assert step.ignored is problem
    if problem is None:
        assert step.state.override is not None and step.state.override.source_system == source
        assert step.state.override.reason == reason and step.state.override.authorised_by == by
    else:
        assert step.state == ConsentState(ConsentStatus.REFUSED)  # unchanged


@pytest.mark.parametrize(("before", "now", "after", "withdrawing"), [
    (None, ConsentStatus.NOT_SOUGHT, ConsentStatus.NOT_SOUGHT, False),
    (ConsentStatus.GIVEN, ConsentStatus.NOT_SOUGHT, ConsentStatus.GIVEN, False),
    (ConsentStatus.GIVEN, ConsentStatus.UNKNOWN, ConsentStatus.GIVEN, False),
    (ConsentStatus.GIVEN, ConsentStatus.REFUSED, ConsentStatus.REFUSED, True),
    (ConsentStatus.REFUSED, ConsentStatus.REFUSED, ConsentStatus.REFUSED, False),
    (ConsentStatus.REFUSED, ConsentStatus.GIVEN, ConsentStatus.GIVEN, False),
])
def test_consent_follows_the_referrals(before: ConsentStatus | None, now: ConsentStatus,
                                       after: ConsentStatus, withdrawing: bool) -> None:
    step = next_consent(ConsentState(before) if before else None,
                        referral("R", consent=Consent(status=now)), ReferrerType.EDUCATION,
                        default_agreement())
    assert (step.state.status, step.withdrawing) == (after, withdrawing)


def test_agencies_get_only_the_identifiers_they_search_with() -> None:
    police = decide(default_agreement(), "police", Rag.RED, ConsentStatus.GIVEN, SUBJECT)
    health = decide(default_agreement(), "health", Rag.RED, ConsentStatus.GIVEN, SUBJECT)
    assert isinstance(police, Ask) and isinstance(health, Ask)
    assert police.identifiers.nhs_number is None and police.identifiers.postcode == "EX1 1AA"
    assert health.identifiers.nhs_number == "9434765919" and health.identifiers.postcode is None
    green = decide(default_agreement(), "police", Rag.GREEN, ConsentStatus.GIVEN, SUBJECT)
    assert isinstance(green, Ask)
    assert set(green.data_categories) < set(police.data_categories)


AGENCY = ("    purpose: Establish what police hold\n"
          "    identifiers: [given_name]\n"
          "    at:\n"
          "      RED:\n"
          "        legal_basis: Children Act 1989 s.47\n"
          "        consent: NOT_REQUIRED\n"
          "        categories: [incidents]\n")


def test_a_mistake_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "isa.yaml"
    path.write_text("version: x\nagencies:\n  police:\n"
                    + AGENCY.replace("NOT_REQUIRED", "MAYBE"))
    with pytest.raises(ConfigError) as err:
        load_agreement(path, load_hub_config())
    assert f"{path}:9: agencies.police.at.RED.consent" in str(err.value)


def test_the_public_can_never_be_allowed_to_override(tmp_path: Path) -> None:
    path = tmp_path / "isa.yaml"
    path.write_text("version: x\nconsent_overrides: {allowed_from: [POLICE, MEMBER_OF_PUBLIC]}\n"
                    "agencies:\n  police:\n" + AGENCY)
    with pytest.raises(ConfigError, match="MEMBER_OF_PUBLIC cannot authorise"):
        load_agreement(path, load_hub_config())


def test_roster_mismatch_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "isa.yaml"
    path.write_text("version: x\nagencies:\n  police:\n" + AGENCY)
    with pytest.raises(ConfigError, match="no terms for education, health"):
        load_agreement(path, load_hub_config())
