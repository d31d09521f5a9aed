"""Helpers for agencies testing their adapters: build requests the way the hub does.

Synthetic subjects only; never put a real person into a test.
"""

from __future__ import annotations

from datetime import date, timedelta

from mash_common.contracts import InformationRequest, Rag, SubjectIdentifiers, utcnow
from mash_common.ids import stable_id

DEFAULT_RESPOND_IN = {Rag.RED: timedelta(hours=4), Rag.AMBER: timedelta(hours=24),
                      Rag.GREEN: timedelta(hours=72)}


def nhs_check_digit(first_nine: str) -> int | None:
    """The NHS number modulus-11 check digit, or None when no valid number has this stem."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(number: str) -> bool:
    if len(number) != 10 or not number.isdigit():
        return False
    return nhs_check_digit(number[:9]) == int(number[9])


def synthetic_nhs_number(serial: int) -> str:
    """A valid NHS number in the 999 range reserved for testing, from a serial number.

    Stems whose check digit would be 10 have no valid number; the next serial is used.
    """
    n = serial
    while True:
        stem = f"999{n % 1_000_000:06d}"
        check = nhs_check_digit(stem)
        if check is not None:
            return f"{stem}{check}"
        n += 1


def make_request(
    agency: str,
    rag: Rag = Rag.GREEN,
    *,
    subject: SubjectIdentifiers | None = None,
    data_categories: list[str] | None = None,
    request_id: str | None = None,
    case_id: str | None = None,
    respond_in: timedelta | None = None,
    is_chase: bool = False,
    chase_number: int = 0,
) -> InformationRequest:
    now = utcnow()
    case = case_id or stable_id("test-case", now.isoformat(), agency)
    return InformationRequest(
        request_id=request_id or stable_id("request", case, agency),
        case_id=case,
        agency=agency,
        rag=rag,
        requested_at=now,
        respond_by=now + (respond_in or DEFAULT_RESPOND_IN[rag]),
        subject=subject or SubjectIdentifiers(
            given_name="Testy", family_name="Unknown", date_of_birth=date(2015, 1, 1),
            nhs_number=synthetic_nhs_number(1),
        ),
        data_categories=data_categories or ["general"],
        legal_basis="Children Act 1989 s47",
        purpose="MASH information gathering (test)",
        is_chase=is_chase,
        chase_number=chase_number,
    )
