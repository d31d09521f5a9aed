"""DfE Children in Need (CIN) census code sets, and how our Concern enum maps onto them.

Local authority systems file the CIN census every year; carrying its codes beside our own
enums lets hub systems fill their statutory return without re-keying.

Sources, checked November 2026:
- Source of referral: the DfE "Children in need census: guide for local authorities" code
  list for the referral source item (guides 2021-22 to 2025-26 carry the same 22 codes),
  cross-checked against the Standard Safeguarding Dataset's contact-source mapping
  (data-to-insight/ssd-data-model, which maps every form value to 1A..10: 1A family member,
  1B friend/neighbour, 1C self, 1D other, 2A schools, 2B education services, 3A GP, 3B
  health visitor, 3D other primary health, 3E A&E, 3F other health, 4 housing, 5A-5C LA
  services, 6 police, 7 other legal agency, 8 other, 9 anonymous). 3C (school nurse), 5D
  (early help) and 10 (unknown) are from the DfE guide and do not appear in that mapping.
- Primary need N0-N9: the DfE guide's category of need list; the Devon County Council FOI
  answer on CIN cohorts (devon.gov.uk) confirms the N0 to N9 range.
- Factors identified at assessment: the DfE guide's list. 16A neglect, 17A emotional
  abuse, 18A physical abuse and 19A sexual abuse were confirmed against the Devon FOI answer
  above. The others were taken from the DfE guide's list as we know it and could NOT be
  verified against a second public source here: check them against the current year's guide
  before a statutory return relies on them (UNVERIFIED_FACTOR_CODES names them). Private
  fostering codes (8x) are left out for the same reason; newer splits of 18/19 (adult on child,
  child on child) are not carried.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from mash_common.contracts import Concern

SOURCE_OF_REFERRAL: Final = MappingProxyType({
    "1A": "Individual: family member, relative or carer",
    "1B": "Individual: acquaintance (including neighbours and child minders)",
    "1C": "Individual: self",
    "1D": "Individual: other",
    "2A": "Schools",
    "2B": "Education services",
    "3A": "Health services: GP",
    "3B": "Health services: health visitor",
    "3C": "Health services: school nurse",
    "3D": "Health services: other primary health services",
    "3E": "Health services: A&E (emergency department)",
    "3F": "Health services: other (for example hospice)",
    "4": "Housing (local authority or housing association)",
    "5A": "LA services: social care (for example adult social care)",
    "5B": "LA services: other internal department",
    "5C": "LA services: external (for example another authority's children's social care)",
    "5D": "Early help",
    "6": "Police",
    "7": "Other legal agency (including courts, probation, immigration, CAFCASS, prison)",
    "8": "Other",
    "9": "Anonymous",
    "10": "Unknown",
})

PRIMARY_NEED: Final = MappingProxyType({
    "N0": "Not stated",
    "N1": "Abuse or neglect",
    "N2": "Child's disability or illness",
    "N3": "Parental disability or illness",
    "N4": "Family in acute stress",
    "N5": "Family dysfunction",
    "N6": "Socially unacceptable behaviour",
    "N7": "Low income",
    "N8": "Absent parenting",
    "N9": "Cases other than children in need",
})

FACTORS_AT_ASSESSMENT: Final = MappingProxyType({
    "1A": "Alcohol misuse: concerns about the child",
    "1B": "Alcohol misuse: concerns about the parent or carer",
    "1C": "Alcohol misuse: concerns about another person in the household",
    "2A": "Drug misuse: concerns about the child",
    "2B": "Drug misuse: concerns about the parent or carer",
    "2C": "Drug misuse: concerns about another person in the household",
    "3A": "Domestic abuse: concerns about the child",
    "3B": "Domestic abuse: concerns about the parent or carer",
    "3C": "Domestic abuse: concerns about another person in the household",
    "4A": "Mental health: concerns about the child",
    "4B": "Mental health: concerns about the parent or carer",
    "4C": "Mental health: concerns about another person in the household",
    "5A": "Learning disability: concerns about the child",
    "5B": "Learning disability: concerns about the parent or carer",
    "5C": "Learning disability: concerns about another person in the household",
    "6A": "Physical disability or illness: concerns about the child",
    "6B": "Physical disability or illness: concerns about the parent or carer",
    "6C": "Physical disability or illness: concerns about another person in the household",
    "7A": "Young carer",
    "9A": "Unaccompanied asylum-seeking child",
    "10A": "Going or being missing",
    "11A": "Child sexual exploitation",
    "12A": "Trafficking",
    "13A": "Gangs",
    "14A": "Socially unacceptable behaviour",
    "15A": "Self-harm",
    "16A": "Abuse or neglect: neglect",
    "17A": "Abuse or neglect: emotional abuse",
    "18A": "Abuse or neglect: physical abuse",
    "19A": "Abuse or neglect: sexual abuse",
    "20": "Other",
    "21": "No factors identified",
    "22A": "Female genital mutilation",
    "23A": "Abuse linked to faith or belief",
    "24A": "Child criminal exploitation",
})

VERIFIED_FACTOR_CODES: Final = frozenset({"16A", "17A", "18A", "19A"})
UNVERIFIED_FACTOR_CODES: Final = frozenset(FACTORS_AT_ASSESSMENT) - VERIFIED_FACTOR_CODES

# Our concern -> the factor a referral about that concern most often becomes. An assessment
# decides the real factors; these are the referrer's concern in census words, a starting point.
CONCERN_FACTORS: Final = MappingProxyType({
    Concern.PHYSICAL_ABUSE: ("18A",),
    Concern.SEXUAL_ABUSE: ("19A",),
    Concern.EMOTIONAL_ABUSE: ("17A",),
    Concern.NEGLECT: ("16A",),
    # Most MASH domestic abuse referrals are police notifications of abuse between adults in
    # the child's household: the parent or carer is the subject, hence 3B rather than 3A.
    Concern.DOMESTIC_ABUSE: ("3B",),
    Concern.SEXUAL_EXPLOITATION: ("11A",),
    Concern.CRIMINAL_EXPLOITATION: ("24A",),
    Concern.MISSING: ("10A",),
    Concern.SELF_HARM: ("15A",),
    Concern.MENTAL_HEALTH: ("4A",),
    # A referral about substance misuse is almost always about drugs or alcohol or both; the
    # census splits them, so both child codes are carried.
    Concern.SUBSTANCE_MISUSE: ("1A", "2A"),
    Concern.FGM: ("22A",),
    # The census has no radicalisation or online harm factor: they are returned as Other.
    Concern.RADICALISATION: ("20",),
    Concern.ONLINE_HARM: ("20",),
    Concern.OTHER: ("20",),
})


def factor_codes(concerns: list[Concern]) -> list[str]:
    """The census factor codes for a referral's concerns, deduplicated, in concern order."""
    codes: list[str] = []
    for concern in concerns:
        for code in CONCERN_FACTORS[concern]:
            if code not in codes:
                codes.append(code)
    return codes


def is_source_of_referral(code: str) -> bool:
    return code in SOURCE_OF_REFERRAL
