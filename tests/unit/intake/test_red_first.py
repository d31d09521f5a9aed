"""Red first in intake (#19): the lane a referral takes to triage, and what a linked one names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mash_common.contracts import Concern, Indicator, LinkMatch, Rag
from mash_hub.services.intake.linking import Block
from mash_hub.services.intake.logic import lane_of, triage
from mash_hub.services.intake.policy import load_policy
from tests.support.factories import referral
from tests.unit.intake.support import NOW

POLICY = load_policy(Path(__file__).resolve().parents[3] / "config" / "threshold-policy.yaml")

R, G = Rag.RED, Rag.GREEN


@pytest.mark.parametrize(("indicators", "concerns", "lane"), [
    ([Indicator.IMMEDIATE_DANGER], [Concern.NEGLECT], R),
    ([], [Concern.FGM], R),
    ([Indicator.REPEAT_INCIDENT], [Concern.NEGLECT], G),  # Green by its content
    ([], [Concern.SEXUAL_EXPLOITATION], G),  # Amber takes the ordinary lane
])
def test_the_lane_is_red_when_the_referrals_own_content_rates_it_red(
        indicators: list[Indicator], concerns: list[Concern], lane: Rag) -> None:
    assert lane_of(referral(indicators=indicators, concerns=concerns), POLICY, NOW) is lane


def test_a_linked_referral_names_the_referral_that_opened_its_case() -> None:
    first = triage(referral("REF-1"), Block(), POLICY, window=POLICY.timescales.GREEN, now=NOW)
    second = triage(referral("REF-2", indicators=[Indicator.IMMEDIATE_DANGER]), first.block,
                    POLICY, window=POLICY.timescales.GREEN, now=NOW)
    link = second.triaged.linked_case
    assert link is not None and link.match is LinkMatch.NHS_NUMBER
    assert link.opened_by == "REF-1" and second.triaged.rag is Rag.RED
    assert first.triaged.referral.subject.date_of_birth == date(2016, 4, 1)
