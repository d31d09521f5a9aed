"""Rectification on a real run: the pipeline, the audit store and `mash-erasure rectify` on
the real broker.

A case's child has their names and date of birth corrected. Afterwards the old names are in
the latest value of no topic, internal changelogs (the services' state) included; the
corrected details are in the case's latest assembled version; every service recorded the
correction and the audit store's chains verify; and the case has moved in intake's linking
state: a later referral with the corrected details links to it, one with the old details
does not.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from confluent_kafka import Producer

from mash_common.access import Kind
from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    Referral,
    Subject,
    TriagedReferral,
    utcnow,
)
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_hub.services.intake.linking import normalise_name
from mash_ops.reading import read_topics
from tests.integration.evidence import test_evidence_real_run as real_run
from tests.integration.evidence.test_evidence_real_run import (
    Run,
    _latest_values,
    _triaged_by_case,
    _wait,
)

pytestmark = pytest.mark.integration
run = real_run.run  # the same fixture: a run of the whole pipeline, for this module


def _markers(s: Subject) -> list[bytes]:
    """The child's names as they appear in any record or state (Avro, JSON, linking key)."""
    given, family = s.given_name.encode(), s.family_name.encode()
    return [
        normalise_name(s.given_name, s.family_name).encode(),
        given + bytes([len(family) * 2]) + family,  # Subject: required strings
        given + bytes([2, len(family) * 2]) + family,  # SubjectIdentifiers: optional ones
        json.dumps({"given_name": s.given_name, "family_name": s.family_name},
                   separators=(",", ":"), ensure_ascii=False).encode()[1:-1],
    ]


def _where(values: dict[tuple[str, bytes], bytes], subject: Subject) -> list[str]:
    markers = _markers(subject)
    return sorted({topic for (topic, _), v in values.items() if any(m in v for m in markers)})


def _latest_assembled(run: Run, case_id: str) -> AssembledCase | None:
    serde = AvroSerde()
    latest = None
    for record in read_topics(run.hub.admin, [run.hub.admin.topics.assembled]):
        if record.key == case_id.encode():
            latest = None if record.value is None else serde.decode(record.value, AssembledCase)
    return latest


def _triaged(run: Run, referral_id: str) -> TriagedReferral | None:
    serde = AvroSerde()
    for record in read_topics(run.hub.admin, list(run.hub.admin.topics.triaged_lanes)):
        if record.value is None:
            continue
        try:
            t = serde.decode(record.value, TriagedReferral)
        except SerdeError:
            continue
        if t.referral.referral_id == referral_id:
            return t
    return None


def _send(run: Run, referral: Referral) -> TriagedReferral:
    settings = run.hub.source(referral.source_system)
    producer = Producer(settings.producer_config())
    producer.produce(run.hub.admin.topics.referrals(referral.source_system),
                     key=referral.referral_id.encode(), value=AvroSerde().encode(referral))
    assert producer.flush(30) == 0
    found: list[TriagedReferral] = []

    def triaged() -> list[str]:
        t = _triaged(run, referral.referral_id)
        if t is not None:
            found.append(t)
            return []
        return [f"{referral.referral_id} not triaged yet"]

    assert _wait(triaged, timeout_s=60, pause_s=1.0) == []
    return found[0]


def test_rectification_corrects_the_case_everywhere_and_moves_its_link(run: Run) -> None:
    by_case = _triaged_by_case(run)

    def identity(r: Referral) -> str:
        return normalise_name(r.subject.given_name, r.subject.family_name)
    counts: dict[str, int] = {}
    for referrals in by_case.values():
        for name in {identity(r) for r in referrals}:
            counts[name] = counts.get(name, 0) + 1
    # A case of one referral whose child is in no other case, already assembled.
    case_id = next(c for c, rs in sorted(by_case.items())
                   if len(rs) == 1 and counts[identity(rs[0])] == 1
                   and _latest_assembled(run, c) is not None)
    original = by_case[case_id][0]
    old = original.subject
    assert old.date_of_birth is not None
    before = _latest_assembled(run, case_id)
    assert before is not None
    assert _where(_latest_values(run), old), "the old names must be seen first, or this proves nothing"
    new_dob = old.date_of_birth - timedelta(days=400)
    new = old.model_copy(update={"given_name": "Rectifieda", "family_name": "Correctedson",
                                 "date_of_birth": new_dob})

    result = run.tool(
        "mash_ops.erasure", "rectify", "--case", case_id, "--operator", "ig-lead",
        "--reason", "test: rectification request RR-1", "--set", "subject.given_name=Rectifieda",
        "--set", "subject.family_name=Correctedson",
        "--set", f"subject.date_of_birth={new_dob.isoformat()}",
        extra_env={"MASH_KAFKA_CLIENT_CONFIG": str(run.hub.client_config(Kind.OPS, "erasure")),
                   "MASH_KAFKA_TOPIC_PREFIX": run.hub.admin.topic_prefix})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"case {case_id}" in result.stdout
    assert "subject.date_of_birth, subject.family_name, subject.given_name" in result.stdout
    assert old.given_name not in result.stdout and "Rectifieda" not in result.stdout
    print("\n" + result.stdout)

    def corrected() -> list[str]:
        problems = [f"old names in {t}" for t in _where(_latest_values(run), old)]
        latest = _latest_assembled(run, case_id)
        if latest is None or latest.version <= before.version or latest.subject != new:
            problems.append("the latest assembled case is not the corrected next version")
        return problems

    assert _wait(corrected, timeout_s=90, pause_s=2.0) == []
    assert _where(_latest_values(run), new), "the corrected names are held"

    store = run.store()

    def recorded() -> list[str]:
        actors = {r.event.actor for r in store.rows(case_id)
                  if r.event.action is AuditAction.CASE_RECTIFIED}
        return sorted({"ops/ig-lead", "mash-hub/intake", "mash-hub/enrichment"} - actors)

    assert _wait(recorded, timeout_s=60) == []
    for row in store.rows(case_id):  # the audit names the fields, never a value
        if row.event.action is AuditAction.CASE_RECTIFIED:
            body = row.event.model_dump_json()
            assert "Rectifieda" not in body and old.given_name not in body
    assert all(r.ok for r in store.verify_all())

    # Linking: the case is under its corrected details, and no longer under the old ones.
    now = utcnow()
    later = original.model_copy(update={"referral_id": f"{original.referral_id}-later",
                                        "received_at": now, "subject": new})
    linked = _send(run, later)
    assert linked.case_id == case_id and linked.linked_case is not None
    stale = original.model_copy(update={"referral_id": f"{original.referral_id}-stale",
                                        "received_at": now, "subject": old})
    assert _send(run, stale).case_id != case_id
