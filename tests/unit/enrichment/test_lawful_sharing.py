"""Lawful sharing in the gather state machine: terms per category, excess records, consent
overrides and withdrawal, case-id collisions, chases in working hours."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mash_common.contracts import (
    AgencyRecord,
    AuditAction,
    Completeness,
    ConsentRule,
    ConsentStatus,
    InformationResponse,
    Rag,
    ResponseStatus,
)
from mash_common.workinghours import WorkingHours
from mash_hub.services.enrichment.logic import (
    Audit,
    Effect,
    ExcessDisclosure,
    Ignored,
    PublishCase,
    Reject,
    RequestKind,
    Responded,
    SendRequest,
    Tick,
    Triaged,
)
from tests.unit.enrichment.helpers import RULES, T0, Driver, response, triaged


def audits(effects: list[Effect], action: AuditAction) -> list[Audit]:
    return [e for e in effects if isinstance(e, Audit) and e.action is action]


def answered(resp: InformationResponse) -> Responded:
    return Responded(resp, resp.agency)


def with_records(resp: InformationResponse, *categories: str) -> InformationResponse:
    records = [AgencyRecord(category=c, summary=f"CANARY-{i}", reference=f"ref-{i}")
               for i, c in enumerate(categories)]
    return resp.model_copy(update={"records": records, "status": ResponseStatus.FOUND})


# Requests carry their terms ---------------------------------------------------------------


def test_requests_carry_terms_per_category_and_the_audit_records_consent() -> None:
    d = Driver()
    effects = d.at(T0, Triaged(triaged(rag=Rag.RED, consent=ConsentStatus.NOT_SOUGHT), partition=0))
    police = d.request_for("police")
    assert [t.category for t in police.category_terms] == police.data_categories
    assert all(t.consent_rule is ConsentRule.NOT_REQUIRED for t in police.category_terms)
    assert police.consent_status == "NOT_SOUGHT" and police.consent_override is None
    [sent] = [a for a in audits(effects, AuditAction.REQUEST_SENT) if a.agency == "police"]
    assert sent.consent_status == "NOT_SOUGHT" and sent.purpose == police.purpose
    assert sent.category_terms == police.category_terms and sent.legal_basis == police.legal_basis
    # Health needs consent or an override: withheld, with its categories named.
    [withheld] = audits(effects, AuditAction.REQUEST_WITHHELD)
    assert withheld.agency == "health" and "mental-health-services" in withheld.data_categories


def test_an_override_is_recorded_on_each_request_it_unlocks() -> None:
    d = Driver()
    effects = d.at(T0, Triaged(triaged(rag=Rag.AMBER, consent=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION),
                               partition=0))
    requests = [e.request for e in effects if isinstance(e, SendRequest)]
    assert {r.agency for r in requests} == {"police", "health", "education", "social-care",
                                            "probation", "housing"}
    for r in requests:
        assert r.consent_override is not None
        assert (r.consent_override.authorised_by, r.consent_override.source_system) == (
            "DS Example, MASH", "police-niche")
    for a in audits(effects, AuditAction.REQUEST_SENT):
        assert a.consent_override is not None and a.consent_override.reason.startswith("Telling")
        assert a.consent_status == "OVERRIDDEN_CHILD_PROTECTION"


@pytest.mark.parametrize("source", ["public-portal", "school-portal", "health-portal"])
def test_an_override_from_a_sender_the_agreement_does_not_allow_unlocks_nothing(source: str) -> None:
    d = Driver()
    effects = d.at(T0, Triaged(triaged(rag=Rag.AMBER, consent=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION,
                                       source=source), partition=0))
    [ignored] = audits(effects, AuditAction.CONSENT_OVERRIDE_IGNORED)
    assert ignored.detail is not None and ignored.detail.startswith("SENDER_NOT_ALLOWED")
    assert not [e for e in effects if isinstance(e, SendRequest)]  # AMBER: consent or override
    assert d.state is not None and d.state.consent_override is None


def test_an_override_lapses_when_a_new_round_opens() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.AMBER, consent=ConsentStatus.OVERRIDDEN_CHILD_PROTECTION),
                     partition=0))
    d.at(T0 + timedelta(hours=24), Tick())
    later = T0 + timedelta(days=3)
    effects = d.at(later, Triaged(triaged(referral_id="REF-2", rag=Rag.AMBER, at=later,
                                          consent=ConsentStatus.NOT_SOUGHT), partition=0))
    assert not [e for e in effects if isinstance(e, SendRequest)]


# Excess disclosure -------------------------------------------------------------------------


def test_records_outside_the_request_are_dropped_audited_and_counted() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    police = d.request_for("police")
    resp = with_records(response(police), police.data_categories[0], "intelligence",
                        "intelligence", "free text MARKER-XYZ")
    effects = d.at(T0 + timedelta(minutes=1), answered(resp))
    assert [e for e in effects if isinstance(e, ExcessDisclosure)] == [ExcessDisclosure("police", 3)]
    excess = audits(effects, AuditAction.EXCESS_DISCLOSURE)
    assert sorted(a.data_categories[0] for a in excess) == [
        "(a category not in the agreement)", "intelligence"]
    assert all("MARKER" not in (a.detail or "") and "CANARY" not in (a.detail or "") for a in excess)
    assert d.state is not None
    [kept] = d.state.contributions
    assert [r.category for r in kept.records] == [police.data_categories[0]]
    [disclosure] = audits(effects, AuditAction.DISCLOSURE)
    assert disclosure.data_categories == [police.data_categories[0]]
    # The redelivered answer is a duplicate: nothing is audited or counted twice.
    again = d.at(T0 + timedelta(minutes=2), answered(resp))
    assert again == [Ignored("DUPLICATE_RESPONSE")]


def test_excess_records_never_reach_the_assembled_case() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    for req in d.requests():
        d.at(T0 + timedelta(minutes=1), answered(with_records(response(req), "not-asked-for")))
    [case] = [e.case for _, e in d.log if isinstance(e, PublishCase)]
    assert case.completeness is Completeness.COMPLETE
    assert all(c.records == [] for c in case.contributions)


# Consent refused later: withdrawal --------------------------------------------------------


def test_a_later_refusal_withdraws_pending_consent_gated_requests() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.RED, consent=ConsentStatus.GIVEN), partition=0))
    d.at(T0 + timedelta(minutes=1), answered(response(d.request_for("police"))))
    effects = d.at(T0 + timedelta(minutes=5), Triaged(
        triaged(referral_id="REF-2", rag=Rag.RED, consent=ConsentStatus.REFUSED,
                at=T0 + timedelta(minutes=5)), partition=0))
    sent = [e for e in effects if isinstance(e, SendRequest)]
    # Health rested on consent at RED: withdrawn. The others are NOT_REQUIRED at RED: stand.
    assert [(s.request.agency, s.kind) for s in sent] == [("health", RequestKind.WITHDRAWN)]
    withdrawal = sent[0].request
    assert withdrawal.withdrawn and withdrawal.request_id == d.request_for("health").request_id
    [audit] = audits(effects, AuditAction.REQUEST_WITHDRAWN)
    assert audit.agency == "health" and audit.consent_status == "REFUSED"
    assert d.state is not None and "health" not in d.state.missing_agencies()
    # The answer that crosses the withdrawal is not disclosed.
    late = d.at(T0 + timedelta(minutes=6), answered(with_records(
        response(d.request_for("health")), "gp-registration")))
    assert Ignored("WITHDRAWN_REQUEST") in late
    assert audits(late, AuditAction.RESPONSE_AFTER_WITHDRAWAL)
    assert d.state is not None and all(c.agency != "health" for c in d.state.contributions)
    for agency in ("education", "social-care", "probation", "housing"):
        d.at(T0 + timedelta(minutes=7), answered(response(d.request_for(agency))))
    [case] = [e.case for _, e in d.log if isinstance(e, PublishCase)]
    assert case.completeness is Completeness.COMPLETE
    assert "health" not in {c.agency for c in case.contributions}


def test_at_amber_a_refusal_withdraws_everything_pending_and_assembles() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.AMBER, consent=ConsentStatus.GIVEN), partition=0))
    effects = d.at(T0 + timedelta(minutes=5), Triaged(
        triaged(referral_id="REF-2", rag=Rag.AMBER, consent=ConsentStatus.REFUSED,
                at=T0 + timedelta(minutes=5)), partition=0))
    # At AMBER every category needs consent or an override: everything pending is withdrawn,
    # and with nothing left to wait for the case is assembled.
    assert {s.request.agency for s in effects if isinstance(s, SendRequest)} == {
        "police", "health", "education", "social-care", "probation", "housing"}
    assert all(s.kind is RequestKind.WITHDRAWN for s in effects if isinstance(s, SendRequest))
    assert [e for e in effects if isinstance(e, PublishCase)]


# Case id collisions ------------------------------------------------------------------------


def test_a_new_case_whose_id_exists_is_refused_never_merged() -> None:
    d = Driver()
    d.at(T0, Triaged(triaged(rag=Rag.GREEN), partition=0))
    before = d.state
    effects = d.at(T0 + timedelta(minutes=1), Triaged(
        triaged(referral_id="OTHER-CHILD", rag=Rag.RED, linked_case=None), partition=0))
    assert [e.reason_code for e in effects if isinstance(e, Reject)] == ["CASE_ID_COLLISION"]
    assert audits(effects, AuditAction.CASE_ID_COLLISION)
    assert d.state == before


# Chases in working hours ------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
CALENDAR = WorkingHours(bank_holidays=[date(2026, 12, 25)])


@pytest.mark.parametrize(("rag", "opened"), [
    (Rag.AMBER, datetime(2026, 11, 6, 16, 0, tzinfo=LONDON)),  # Friday afternoon
    (Rag.GREEN, datetime(2026, 11, 6, 16, 0, tzinfo=LONDON)),
    (Rag.AMBER, datetime(2026, 11, 7, 2, 0, tzinfo=LONDON)),  # Saturday night
    (Rag.GREEN, datetime(2026, 12, 24, 15, 0, tzinfo=LONDON)),  # before Christmas
])
def test_amber_and_green_chases_fall_in_working_hours(rag: Rag, opened: datetime) -> None:
    rules = replace(RULES, calendar=CALENDAR)
    d = Driver(rules=rules)
    at = opened.astimezone(UTC)
    due = CALENDAR.add(at, timedelta(hours=24 if rag is Rag.AMBER else 72))
    tr = triaged(rag=rag, at=at).model_copy(update={"due_at": due})
    d.at(at, Triaged(tr, partition=0))
    assert d.state is not None
    times = d.state.chase_times(rules.chase_points, rules.calendar)
    assert len(times) == 2 and all(at < t < due for t in times)
    for t in times:
        local = t.astimezone(LONDON)
        assert local.weekday() < 5 and local.date() != date(2026, 12, 25)
        assert time(9) <= local.time() < time(17), local
    # Driving the sweeper every 10 minutes round the clock: chases only in working hours.
    now = at
    while now < due:
        for e in d.at(now, Tick()):
            if isinstance(e, SendRequest):
                assert CALENDAR.is_open(now), now.astimezone(LONDON)
        now += timedelta(minutes=10)


def test_red_chases_run_round_the_clock() -> None:
    rules = replace(RULES, calendar=CALENDAR)
    d = Driver(rules=rules)
    at = datetime(2026, 11, 7, 1, 0, tzinfo=LONDON).astimezone(UTC)  # Saturday, 1am
    d.at(at, Triaged(triaged(rag=Rag.RED, at=at), partition=0))
    assert d.state is not None
    assert d.state.chase_times(rules.chase_points, rules.calendar) == [
        at + timedelta(hours=2), at + timedelta(hours=3.2)]


@pytest.mark.parametrize(("start", "end", "hours"), [
    (datetime(2026, 11, 6, 16, 0), datetime(2026, 11, 9, 10, 0), 2),  # Fri 16:00 -> Mon 10:00
    (datetime(2026, 11, 7, 9, 0), datetime(2026, 11, 8, 17, 0), 0),  # a weekend
    (datetime(2026, 11, 9, 8, 0), datetime(2026, 11, 9, 18, 0), 8),
    (datetime(2026, 11, 9, 12, 0), datetime(2026, 11, 9, 11, 0), 0),
])
def test_working_time_elapsed(start: datetime, end: datetime, hours: float) -> None:
    assert CALENDAR.elapsed(start.replace(tzinfo=LONDON), end.replace(tzinfo=LONDON)) == \
        timedelta(hours=hours)


@pytest.mark.parametrize(("start", "hours", "expected"), [
    (datetime(2026, 11, 6, 16, 0), 2, datetime(2026, 11, 9, 10, 0)),
    (datetime(2026, 11, 7, 3, 0), 0.5, datetime(2026, 11, 9, 9, 30)),
    (datetime(2026, 11, 9, 16, 0), 1, datetime(2026, 11, 10, 9, 0)),  # never at 17:00 itself
])
def test_working_time_advance(start: datetime, hours: float, expected: datetime) -> None:
    assert CALENDAR.advance(start.replace(tzinfo=LONDON), timedelta(hours=hours)) == \
        expected.replace(tzinfo=LONDON).astimezone(UTC)
