"""API keys: each source system has one; only its sha256 is configured.

Keys are 256-bit random tokens (`mash-gateway new-key`), so a fast hash is
enough: there is no dictionary to guess from, and a stolen sources file yields no key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "mash_" + secrets.token_urlsafe(32)


class Authenticator:
    def __init__(self, digests: dict[str, str]) -> None:
        self._digests = dict(digests)  # source id -> sha256 hex

    def source_for(self, key: str | None) -> str | None:
        """The source system whose key this is, or None. Compares against every digest in
        constant time, so timing says nothing about which source came close."""
        if not key:
            return None
        offered = hash_key(key)
        found = None
        for source, digest in self._digests.items():
            if hmac.compare_digest(offered, digest):
                found = source
        return found
