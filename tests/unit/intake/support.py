"""Helpers for intake's unit tests: valid NHS numbers and a fixed 'now'."""

from __future__ import annotations

from datetime import UTC, datetime

# A Wednesday in term time, 10:00 London (GMT in November).
NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


def nhs_number(stem: int) -> str:
    """A valid NHS number from a 9-digit stem, skipping stems whose check digit would be 10."""
    while True:
        digits = f"{stem:09d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return digits + str(check)
        stem += 1
