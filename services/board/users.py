"""Who may log in to the board, and as what. Passwords are kept as scrypt hashes only.

Roles: `staff` (hub staff: the board with names, the case view), `wall` (a wall screen: the
board without personal data), `agency` (one agency's staff: that agency's response page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per login on our machines


class Role(StrEnum):
    STAFF = "staff"
    WALL = "wall"
    AGENCY = "agency"


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    password_scrypt: str
    role: Role
    name: str  # shown as the responder on an agency's answer, and on the page
    job_role: str = "MASH staff"
    agency: str | None = None

    @model_validator(mode="after")
    def _agency_role_names_its_agency(self) -> User:
        if (self.role is Role.AGENCY) != (self.agency is not None):
            raise ValueError("an agency user names its agency, and only an agency user does")
        return self


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.urlsafe_b64decode(salt),
                             n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)
