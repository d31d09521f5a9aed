"""The sharing agreement: who is asked what, and a bad file is reported by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.contracts import ConsentStatus, Rag, Subject
from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from services.enrichment.agreement import Ask, Withheld, WithheldReason, decide, load_agreement
from tests.unit.enrichment.helpers import default_agreement

SUBJECT = Subject(given_name="Sam", family_name="Example", nhs_number="9434765919", postcode="EX1 1AA",
                  address="1 Example Street")


def test_default_agreement_covers_every_hub_agency() -> None:
    agreement = default_agreement()
    assert set(agreement.agencies) == set(load_hub_config().agencies)
    for terms in agreement.agencies.values():
        assert terms.legal_basis and terms.purpose


@pytest.mark.parametrize(
    ("agency", "rag", "consent", "expected"),
    [
        ("health", Rag.RED, ConsentStatus.GIVEN, "ask"),
        ("health", Rag.GREEN, ConsentStatus.OVERRIDDEN_CHILD_PROTECTION, "ask"),
        ("health", Rag.RED, ConsentStatus.REFUSED, WithheldReason.CONSENT_REQUIRED),
        ("health", Rag.RED, ConsentStatus.NOT_SOUGHT, WithheldReason.CONSENT_REQUIRED),
        ("health", Rag.AMBER, ConsentStatus.UNKNOWN, WithheldReason.CONSENT_REQUIRED),
        ("police", Rag.GREEN, ConsentStatus.REFUSED, "ask"),
        ("probation", Rag.RED, ConsentStatus.GIVEN, "ask"),
        ("probation", Rag.GREEN, ConsentStatus.GIVEN, WithheldReason.NOT_AT_RAG),
        ("housing", Rag.GREEN, ConsentStatus.GIVEN, WithheldReason.NOT_AT_RAG),
    ],
)
def test_decide(agency: str, rag: Rag, consent: ConsentStatus, expected: object) -> None:
    decision = decide(default_agreement(), agency, rag, consent, SUBJECT)
    if expected == "ask":
        assert isinstance(decision, Ask) and decision.data_categories
    else:
        assert isinstance(decision, Withheld) and decision.reason == expected


def test_agencies_get_only_the_identifiers_they_search_with() -> None:
    police = decide(default_agreement(), "police", Rag.RED, ConsentStatus.GIVEN, SUBJECT)
    health = decide(default_agreement(), "health", Rag.RED, ConsentStatus.GIVEN, SUBJECT)
    assert isinstance(police, Ask) and isinstance(health, Ask)
    assert police.identifiers.nhs_number is None and police.identifiers.postcode == "EX1 1AA"
    assert health.identifiers.nhs_number == "9434765919" and health.identifiers.postcode is None
    red = decide(default_agreement(), "police", Rag.RED, ConsentStatus.GIVEN, SUBJECT)
    green = decide(default_agreement(), "police", Rag.GREEN, ConsentStatus.GIVEN, SUBJECT)
    assert isinstance(red, Ask) and isinstance(green, Ask)
    assert set(green.data_categories) < set(red.data_categories)


def test_a_mistake_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "isa.yaml"
    path.write_text(
        "version: x\n"
        "agencies:\n"
        "  police:\n"
        "    purpose: Establish what police hold\n"
        "    legal_basis: Children Act 1989 s.47\n"
        "    identifiers: [given_name, shoe_size]\n"
        "    categories: {RED: [incidents]}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_agreement(path, load_hub_config())
    assert f"{path}:6: agencies.police.identifiers.1" in str(err.value)


def test_roster_mismatch_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "isa.yaml"
    path.write_text(
        "version: x\n"
        "agencies:\n"
        "  police:\n"
        "    purpose: Establish what police hold\n"
        "    legal_basis: Children Act 1989 s.47\n"
        "    identifiers: [given_name]\n"
        "    categories: {RED: [incidents]}\n"
    )
    with pytest.raises(ConfigError, match="no terms for education, health"):
        load_agreement(path, load_hub_config())
