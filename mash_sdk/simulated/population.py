"""A synthetic population and what each simulated agency knows about it.

Deterministic from a seed: the same seed always gives the same children, the same agency
knowledge and the same records. Invented names; NHS numbers in the 999 range that is
reserved for testing (valid check digits); postcodes in the non-geographic ZZ99 area.
Never real data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from mash_common.contracts import AgencyRecord, SubjectIdentifiers
from mash_common.ids import stable_id
from mash_sdk.testing import synthetic_nhs_number

# A fixed day, so the population does not drift with the calendar.
REFERENCE_DATE = date(2026, 1, 1)

GIVEN_NAMES = (
    "Ada", "Bex", "Cal", "Dara", "Eli", "Fen", "Gus", "Hana", "Ira", "Jem", "Kit", "Lumi",
    "Mo", "Nell", "Oz", "Pip", "Quin", "Ren", "Sol", "Tam", "Uma", "Vic", "Wren", "Xan",
    "Yas", "Zed",
)
FAMILY_NAMES = (
    "Testfield", "Samplewood", "Mockridge", "Fauxley", "Dummington", "Placeholm", "Synthby",
    "Examplar", "Fictor", "Madeupson", "Notreal", "Pretendle", "Simmonsim", "Imaginary",
)

# What each simulated agency calls its data categories; any other category asked of a
# known subject gets generic records, so the hub's sharing agreement may name its own.
AGENCY_CATEGORIES: dict[str, tuple[str, ...]] = {
    "police": ("police_intelligence", "domestic_abuse_incidents", "missing_episodes"),
    "health": ("health_history", "gp_registration", "ae_attendances"),
    "education": ("attendance", "exclusions", "school_concerns"),
    "social-care": ("previous_involvement", "child_protection_plans"),
    "probation": ("offender_management", "risk_to_children"),
    "housing": ("tenancy", "homelessness", "antisocial_behaviour"),
}
# Share of the population each agency knows: most children see a GP and go to school.
COVERAGE: dict[str, float] = {
    "police": 0.35, "health": 0.95, "education": 0.9, "social-care": 0.3,
    "probation": 0.1, "housing": 0.4,
}
SUMMARIES: dict[str, tuple[str, ...]] = {
    "police": ("Attended address following a report of a disturbance",
               "Named in an intelligence log as present at an incident",
               "Reported missing, returned within 24 hours"),
    "health": ("Attended A&E with a minor injury", "Missed two immunisation appointments",
               "Registered with GP practice; no concerns recorded"),
    "education": ("Attendance below 85% this term", "Fixed-term exclusion, 2 days",
                  "Designated safeguarding lead recorded a concern"),
    "social-care": ("Previous child in need plan, closed", "Early help assessment completed"),
    "probation": ("Household member subject to licence conditions",
                  "Risk to children assessment on file"),
    "housing": ("Tenancy held by parent; rent arrears", "Temporary accommodation placement",
                "Antisocial behaviour complaint recorded"),
}


@dataclass(frozen=True)
class Person:
    person_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    nhs_number: str
    postcode: str

    def identifiers(self) -> SubjectIdentifiers:
        return SubjectIdentifiers(given_name=self.given_name, family_name=self.family_name,
                                  date_of_birth=self.date_of_birth, nhs_number=self.nhs_number,
                                  postcode=self.postcode)


@lru_cache(maxsize=8)
def population(seed: int = 1, size: int = 500) -> tuple[Person, ...]:
    """`size` synthetic children aged 0-17 on REFERENCE_DATE."""
    rng = random.Random(f"population:{seed}")
    base = (seed % 90) * 10_000
    people = []
    for i in range(size):
        people.append(Person(
            person_id=f"P{seed}-{i:05d}",
            given_name=rng.choice(GIVEN_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            date_of_birth=REFERENCE_DATE - timedelta(days=rng.randrange(1, 18 * 365)),
            # Even serials: a stem with no valid check digit moves to the odd one after it.
            nhs_number=synthetic_nhs_number(base + 2 * i),
            postcode=f"ZZ99 {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                     f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
        ))
    return tuple(people)


def _norm(value: object) -> str:
    return "".join(str(value).split()).casefold()


class AgencyKnowledge:
    """Which people one agency knows, and the records it holds on them, from the seed."""

    def __init__(self, agency: str, seed: int = 1, size: int = 500,
                 coverage: float | None = None) -> None:
        self.agency = agency
        self.seed = seed
        share = COVERAGE.get(agency, 0.5) if coverage is None else coverage
        self.known = [p for p in population(seed, size)
                      if random.Random(f"{seed}:{agency}:{p.person_id}").random() < share]
        self._by_nhs = {p.nhs_number: p for p in self.known}
        self._by_name_dob = {(_norm(p.family_name), _norm(p.given_name), p.date_of_birth): p
                             for p in self.known}

    def find(self, subject: SubjectIdentifiers) -> Person | None:
        if subject.nhs_number:
            return self._by_nhs.get(_norm(subject.nhs_number))
        if subject.family_name and subject.given_name and subject.date_of_birth:
            return self._by_name_dob.get((_norm(subject.family_name), _norm(subject.given_name),
                                          subject.date_of_birth))
        return None

    def records(self, person: Person, category: str) -> list[AgencyRecord]:
        rng = random.Random(f"{self.seed}:{self.agency}:{person.person_id}:{category}")
        summaries = SUMMARIES.get(self.agency, ("Record held",))
        out = []
        for n in range(rng.randint(1, 3)):
            out.append(AgencyRecord(
                category=category,
                summary=rng.choice(summaries),
                date=REFERENCE_DATE - timedelta(days=rng.randrange(1, 3 * 365)),
                risk_flag=rng.random() < 0.2,
                reference=f"{self.agency.upper()}-"
                          f"{stable_id(self.agency, person.person_id, category, n)[:8]}",
            ))
        return out
