"""Rectification's pure parts: the corrections an operator may give, and what enrichment's
gather state does with a corrected referral. No broker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from mash_common.contracts import AuditAction, InformationRequest, Subject, SubjectIdentifiers
from mash_common.rectification import (
    RectificationError,
    changed_fields,
    corrected,
    corrected_identifiers,
    parse_corrections,
)
from mash_hub.services.enrichment.logic import (
    Audit,
    Ignored,
    PublishCase,
    RequestKind,
    Responded,
    SendRequest,
    Triaged,
    rectify,
)
from tests.unit.enrichment.helpers import T0, Driver, response, triaged

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(("items", "expected"), [
    (["subject.given_name=Amara"], {"given_name": "Amara"}),
    (["subject.date_of_birth=2015-03-04"], {"date_of_birth": date(2015, 3, 4)}),
    (["subject.nhs_number=943 476 5919"], {"nhs_number": "9434765919"}),
    (["subject.postcode="], {"postcode": None}),  # an optional detail cleared
    (["subject.family_name= Okafor-Reid ", "subject.sex=F"],
     {"family_name": "Okafor-Reid", "sex": "F"}),
])
def test_corrections_are_parsed(items: list[str], expected: dict[str, object]) -> None:
    assert parse_corrections(items, TODAY) == expected


@pytest.mark.parametrize(("items", "names"), [
    ([], "nothing to correct"),
    (["given_name=Amara"], "subject.FIELD=VALUE"),
    (["subject.given_name"], "subject.FIELD=VALUE"),
    (["subject.narrative=secret text"], "subject.narrative is not a field"),
    (["subject.given_name=A", "subject.given_name=B"], "given twice"),
    (["subject.given_name="], "cannot be empty"),
    (["subject.date_of_birth=04/03/2015"], "YYYY-MM-DD"),
    (["subject.date_of_birth=2026-12-03"], "future"),
    (["subject.nhs_number=12345"], "10 digits"),
    (["subject.sex=X"], "F, M or U"),
    (["subject.given_name=" + "x" * 201], "refuses the value of subject.given_name"),
    (["subject.family_name=Ev\u202eil"], "refuses the value of subject.family_name"),
])
def test_bad_corrections_are_refused_naming_the_field_never_the_value(
        items: list[str], names: str) -> None:
    with pytest.raises(RectificationError) as caught:
        parse_corrections(items, TODAY)
    message = str(caught.value)
    assert names in message
    for item in items:
        value = item.partition("=")[2]
        if len(value) > 3:
            assert value not in message


def test_identifiers_take_only_what_they_carried() -> None:
    ids = SubjectIdentifiers(given_name="Old", date_of_birth=date(2014, 1, 1))
    fixed = corrected_identifiers(ids, {"given_name": "New", "nhs_number": "9434765919"})
    assert fixed == SubjectIdentifiers(given_name="New", date_of_birth=date(2014, 1, 1))


def test_changed_fields() -> None:
    before = Subject(given_name="A", family_name="B", date_of_birth=date(2014, 1, 1))
    after = corrected(before, {"given_name": "C", "date_of_birth": date(2014, 1, 1)})
    assert changed_fields(before, after) == ["given_name"]


def _assembled_case() -> Driver:
    driver = Driver()
    driver.at(T0, Triaged(triaged(), 0))
    for request in list(driver.requests()):
        driver.at(T0 + timedelta(minutes=5), _answered(request))
    assert driver.state is not None and driver.cases(), "the case must be assembled first"
    return driver


def _answered(request: InformationRequest) -> Responded:
    return Responded(response(request), sender=request.agency)


def test_a_rectified_referral_corrects_state_requests_and_the_assembled_case() -> None:
    driver = _assembled_case()
    state = driver.state
    assert state is not None
    old = state.referrals[0]
    new_subject = corrected(old.subject, {"given_name": "Corrected", "date_of_birth": date(2013, 5, 6)})
    outcome = rectify(state, old.model_copy(update={"subject": new_subject}), T0 + timedelta(hours=1))
    assert outcome.state is not None
    assert outcome.state.referrals[0].subject == new_subject
    assert state.referrals[0].subject == old.subject  # the stored state is not changed in place
    audits = [e for e in outcome.effects if isinstance(e, Audit)]
    assert audits[0].action is AuditAction.CASE_RECTIFIED
    assert "given_name" in (audits[0].detail or "") and "Corrected" not in (audits[0].detail or "")
    resent = [e for e in outcome.effects if isinstance(e, SendRequest)]
    assert resent and all(e.kind is RequestKind.RECTIFIED for e in resent)
    for e in resent:
        assert e.request.subject.given_name in (None, "Corrected")
        assert e.request.subject.date_of_birth in (None, date(2013, 5, 6))
    published = [e for e in outcome.effects if isinstance(e, PublishCase)]
    assert len(published) == 1 and published[0].amended
    assert published[0].case.version == state.version + 1
    assert published[0].case.subject.given_name == "Corrected"


def test_a_rectification_of_nothing_or_of_another_case_is_ignored() -> None:
    driver = _assembled_case()
    state = driver.state
    assert state is not None
    same = rectify(state, state.referrals[0], T0)
    assert same.effects == [Ignored("RECTIFY_NOTHING_CHANGED")]
    other = triaged(referral_id="REF-9").referral
    assert rectify(state, other, T0).effects == [Ignored("RECTIFY_UNKNOWN_REFERRAL")]


def test_the_command_refuses_a_bad_correction_before_connecting() -> None:
    # As a process: the command configures logging, which a test must not do to pytest's.
    result = subprocess.run(
        [sys.executable, "-m", "mash_ops.erasure", "rectify", "--case", "C1", "--operator",
         "ig-lead", "--reason", "RR-1", "--set", "subject.given_name=Amara",
         "--set", "subject.nhs_number=12345x"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("MASH_")})
    assert result.returncode == 1 and "subject.nhs_number must be 10 digits" in result.stderr
    assert "12345x" not in result.stderr + result.stdout and "Amara" not in result.stderr


def test_a_case_past_its_triaged_records_is_rebuilt_from_its_assembled_version() -> None:
    from mash_ops.erasure import triaged_from_assembled
    driver = _assembled_case()
    case = driver.cases()[-1].case
    now = T0 + timedelta(days=10)
    rebuilt = triaged_from_assembled(case, now)
    assert [t.referral for t in rebuilt] == case.referrals
    assert all(t.case_id == case.case_id and t.rag is case.rag and t.triaged_at == now
               for t in rebuilt)
    # Enrichment takes the rebuilt record as it takes one from the lane.
    assert driver.state is not None
    fixed = rebuilt[0].referral.model_copy(update={"subject": corrected(
        rebuilt[0].referral.subject, {"family_name": "Corrected"})})
    assert any(isinstance(e, PublishCase) for e in rectify(driver.state, fixed, now).effects)
