"""Deterministic identifiers: the same inputs always give the same id.

Redelivered input must produce records with the ids it produced the first time, so that
consumers can deduplicate; random ids would defeat that.
"""

from __future__ import annotations

import uuid

# A fixed namespace for mash-hub's name-based UUIDs (RFC 9562 version 5).
MASH_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


def stable_id(*parts: object) -> str:
    """A UUIDv5 over the parts, joined unambiguously."""
    text = "\x1f".join(str(p) for p in parts)
    return str(uuid.uuid5(MASH_NAMESPACE, text))
