"""Each source's outcomes, replayed from its own outcome topic and followed live.

Read as the source's own principal (it may read only mash.outcomes.<itself>), deduplicated
by notification id (delivery is at least once), and indexed by referral and by case: a
DECISION for a case names one referral, but every referral of that case has that outcome.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from mash_common.contracts import OutcomeNotification
from mash_hub.services.gateway.models import Outcome


class OutcomeBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # None where an erased outcome was: sequence numbers are the stream's ids and stay.
        self._stream: dict[str, list[Outcome | None]] = defaultdict(list)
        self._seen: dict[str, set[str]] = defaultdict(set)
        self._case_of: dict[tuple[str, str], str] = {}
        self._by_case: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
        self._by_referral: dict[tuple[str, str], list[Outcome]] = defaultdict(list)

    def add(self, source: str, notification: OutcomeNotification) -> Outcome | None:
        """Record one notification; None if it was a redelivery."""
        with self._lock:
            if notification.notification_id in self._seen[source]:
                return None
            self._seen[source].add(notification.notification_id)
            outcome = Outcome.of(len(self._stream[source]) + 1, notification)
            self._stream[source].append(outcome)
            if notification.referral_id:
                self._by_referral[(source, notification.referral_id)].append(outcome)
                if notification.case_id:
                    self._case_of[(source, notification.referral_id)] = notification.case_id
            if notification.case_id:
                self._by_case[(source, notification.case_id)].append(outcome)
            return outcome

    def after(self, source: str, sequence: int, limit: int = 500) -> list[Outcome]:
        with self._lock:
            window = self._stream[source][max(sequence, 0):max(sequence, 0) + limit]
            return [o for o in window if o is not None]

    def last(self, source: str) -> int:
        with self._lock:
            return len(self._stream[source])

    def forget(self, source: str, key: str) -> int:
        """A tombstone under a case or referral id (mash_ops.erasure): every outcome of it,
        and of the case's referrals, leaves the book. Returns how many went."""
        with self._lock:
            keys = {key} | {r for (s, r), c in self._case_of.items() if s == source and c == key}
            gone: set[str] = set()
            for k in keys:
                gone |= {o.notification_id for o in self._by_case.pop((source, k), [])}
                gone |= {o.notification_id for o in self._by_referral.pop((source, k), [])}
                self._case_of.pop((source, k), None)
            if gone:
                self._stream[source] = [None if o is not None and o.notification_id in gone
                                        else o for o in self._stream[source]]
            return len(gone)

    def for_referral(self, source: str, referral_id: str) -> tuple[str | None, list[Outcome]]:
        """The referral's case (once intake has told it) and every outcome that concerns it."""
        with self._lock:
            case_id = self._case_of.get((source, referral_id))
            found = {o.notification_id: o for o in self._by_referral[(source, referral_id)]}
            if case_id:
                found.update({o.notification_id: o for o in self._by_case[(source, case_id)]})
            return case_id, sorted(found.values(), key=lambda o: o.sequence)
