"""Per-sender inbound topics: the topic names its owner, and no id can collide with another."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mash_common.hubconfig import HubConfig
from mash_common.topics import TopicNames

NAMES = TopicNames("hub1.")


@pytest.mark.parametrize(("topic", "source", "agency"), [
    ("hub1.mash.referrals.police-niche", "police-niche", None),
    ("hub1.mash.referrals.triaged", None, None),  # intake's output, nobody's inbound topic
    ("hub1.mash.responses.health", None, "health"),
    ("hub1.mash.responses.", None, None),
    ("hub2.mash.responses.health", None, None),  # another hub's prefix
    ("hub1.mash.decisions", None, None),
])
def test_the_topic_names_its_owner(topic: str, source: str | None, agency: str | None) -> None:
    assert NAMES.referral_sender(topic) == source
    assert NAMES.response_sender(topic) == agency


def test_round_trip_for_every_sender() -> None:
    assert NAMES.referral_sender(NAMES.referrals("public-portal")) == "public-portal"
    assert NAMES.response_sender(NAMES.responses("social-care")) == "social-care"


@pytest.mark.parametrize("group", ["source_systems", "agencies"])
def test_no_sender_may_be_called_triaged(group: str) -> None:
    entry = {"name": "x"}
    roster = {"hub_name": "h", "agencies": {"police": entry}, "source_systems": {"school": entry}}
    roster[group] = {"triaged": entry}
    with pytest.raises(ValidationError, match="reserved"):
        HubConfig.model_validate(roster)
