"""A referral as a source system posts it to the gateway (synthetic, no real person)."""

from __future__ import annotations

from mash_hub.demo.web import FAMILY_NAME, GIVEN_NAME, NARRATIVE
from mash_hub.demo.web import sample_referral_body as referral_body

__all__ = ["FAMILY_NAME", "GIVEN_NAME", "NARRATIVE", "referral_body"]
