"""A stream of synthetic referrals about the simulated agencies' synthetic children.

Deterministic from a seed. The mix is chosen to exercise the pipeline: all three RAGs,
children referred twice (linked to their open case), refused consent (health is not asked),
a child-protection override, and a few referrals that must be rejected.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from mash_common.contracts import (
    Concern,
    Consent,
    ConsentStatus,
    HouseholdMember,
    Indicator,
    Referral,
    Referrer,
    ReferrerType,
    Subject,
    utcnow,
)
from mash_sdk.simulated.population import Person, population

# Source systems of config/hub.yaml, how often each refers, who refers and the CIN census
# source-of-referral code that goes with them.
SOURCES: tuple[tuple[str, float, ReferrerType, str, str, str], ...] = (
    ("police-niche", 0.35, ReferrerType.POLICE, "PC Synthetic", "Response officer", "6"),
    ("school-portal", 0.25, ReferrerType.EDUCATION, "Ms Example", "Designated safeguarding lead", "2A"),
    ("health-portal", 0.2, ReferrerType.HEALTH, "Dr Sample", "GP", "3A"),
    ("public-portal", 0.1, ReferrerType.MEMBER_OF_PUBLIC, "A Neighbour", "Member of the public", "1B"),
    ("lado-system", 0.1, ReferrerType.LOCAL_AUTHORITY, "LADO Officer", "Designated officer", "5B"),
)

# (weight, concerns, indicators): roughly a MASH's mix, about 15% Red, 35% Amber, 50% Green.
PRESENTATIONS: tuple[tuple[float, tuple[Concern, ...], tuple[Indicator, ...]], ...] = (
    (0.06, (Concern.PHYSICAL_ABUSE,), (Indicator.INJURY, Indicator.CHILD_DISCLOSURE)),
    (0.05, (Concern.DOMESTIC_ABUSE,), (Indicator.IMMEDIATE_DANGER,)),
    (0.04, (Concern.MISSING, Concern.CRIMINAL_EXPLOITATION), (Indicator.CURRENTLY_MISSING,)),
    (0.12, (Concern.DOMESTIC_ABUSE,), (Indicator.REPEAT_INCIDENT,)),
    (0.10, (Concern.EMOTIONAL_ABUSE,), ()),
    (0.08, (Concern.SEXUAL_EXPLOITATION, Concern.ONLINE_HARM), ()),
    (0.05, (Concern.SELF_HARM, Concern.MENTAL_HEALTH), ()),
    (0.25, (Concern.NEGLECT,), ()),
    (0.15, (Concern.SUBSTANCE_MISUSE,), ()),
    (0.10, (Concern.OTHER,), ()),
)

NARRATIVES = (
    "Synthetic referral text: concern reported by the referrer for demonstration only.",
    "Synthetic: the child told a member of staff about events at home.",
    "Synthetic: officers attended the address following a call from a neighbour.",
)


@dataclass(frozen=True)
class SyntheticReferral:
    """A referral to send, and what the generator intends it to exercise."""

    referral: Referral | None  # None: raw bytes that are not a referral at all
    raw: bytes | None = None
    expect_rejected: bool = False
    repeat_of_child: bool = False


def _consent(rng: random.Random) -> Consent:
    roll = rng.random()
    if roll < 0.08:
        return Consent(status=ConsentStatus.REFUSED)
    if roll < 0.12:
        return Consent(status=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                       override_reason="Seeking consent would place the child at risk",
                       override_authorised_by="MASH team manager")
    return Consent(status=ConsentStatus.GIVEN)


def _subject(person: Person) -> Subject:
    return Subject(given_name=person.given_name, family_name=person.family_name,
                   date_of_birth=person.date_of_birth, nhs_number=person.nhs_number,
                   postcode=person.postcode)


def referral_stream(
    count: int,
    *,
    seed: int = 7,
    population_seed: int = 1,
    population_size: int = 500,
    repeat_share: float = 0.12,
    reject_share: float = 0.03,
    run_tag: str = "demo",
    now: datetime | None = None,
) -> Iterator[SyntheticReferral]:
    """`count` referrals; ids are unique per run_tag."""
    rng = random.Random(f"referrals:{seed}")
    people = population(population_seed, population_size)
    referred: list[Person] = []
    sources = [s for s in SOURCES]
    source_weights = [s[1] for s in SOURCES]
    presentations = [p[1:] for p in PRESENTATIONS]
    presentation_weights = [p[0] for p in PRESENTATIONS]
    for n in range(count):
        referral_id = f"{run_tag}-{n:06d}"
        source, _, kind, name, role, cin_code = rng.choices(sources, source_weights)[0]
        repeat = bool(referred) and rng.random() < repeat_share
        person = rng.choice(referred) if repeat else rng.choice(people)
        referred.append(person)
        concerns, indicators = rng.choices(presentations, presentation_weights)[0]
        received = (now or utcnow()) - timedelta(seconds=rng.randrange(5, 120))
        referral = Referral(
            referral_id=referral_id,
            source_system=source,
            received_at=received,
            referrer=Referrer(name=name, role=role, organisation=f"Synthetic {source}",
                              agency_type=kind),
            subject=_subject(person),
            household=[HouseholdMember(given_name="Parent", family_name=person.family_name,
                                       relationship="parent")],
            concerns=list(concerns),
            indicators=list(indicators),
            narrative=rng.choice(NARRATIVES),
            consent=_consent(rng),
            cin_referral_source=cin_code,
        )
        if rng.random() < reject_share:
            # Schema-valid but against the hub's rules: no concern recorded.
            yield SyntheticReferral(referral.model_copy(update={"concerns": []}), expect_rejected=True)
        else:
            yield SyntheticReferral(referral, repeat_of_child=repeat)
