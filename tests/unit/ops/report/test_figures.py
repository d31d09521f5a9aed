"""Each figure of the monitoring report equals what the events that produced it say."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from mash_common.contracts import (
    AuditAction,
    Consent,
    ConsentStatus,
    DecisionOutcome,
    Rag,
    ResponseStatus,
)
from mash_common.workinghours import WorkingHours
from mash_ops.report.figures import NOT_RECORDED, UNLISTED_ROLE, compute
from mash_ops.report.tables import ALL, Table, check_parts, derive
from tests.unit.ops.report.world import T0, H, M, World, at, options

FOUND, DECLINED, ERROR = ResponseStatus.FOUND, ResponseStatus.DECLINED, ResponseStatus.ERROR


def figures(world: World, **opts: object) -> dict[str, Table]:
    tables = compute(world.events, options(**opts))
    assert check_parts(tables) == []
    return {t.id: t for t in tables}


def counts(table: Table, **labels: str) -> dict[str, int]:
    return table.row(**labels).counts


def test_referrals_by_cin_source_and_system_count_the_period_only() -> None:
    w = World()
    for _ in range(3):
        w.case(Rag.GREEN, source="police-niche", cin_source="6")
    w.case(Rag.AMBER, source="school-portal", cin_source="2A")
    w.case(Rag.AMBER, source="school-portal", cin_source=None)
    w.case(Rag.RED, datetime(2026, 10, 31, 12, tzinfo=UTC), source="police-niche",
           cin_source="6")
    f = figures(w)
    by_code = f["referrals_by_cin_source"]
    assert counts(by_code, cin_referral_source="6")["referrals"] == 3  # October's is out
    assert counts(by_code, cin_referral_source="2A")["referrals"] == 1
    assert counts(by_code, cin_referral_source=NOT_RECORDED)["referrals"] == 1
    assert counts(by_code, cin_referral_source=ALL)["referrals"] == 5
    assert by_code.row(cin_referral_source="3A").counts["referrals"] == 0  # every code listed
    assert by_code.row(cin_referral_source="6").labels["description"] == "Police"
    by_system = f["referrals_by_source_system"]
    assert counts(by_system, source_system="police-niche")["referrals"] == 3
    assert counts(by_system, source_system="school-portal")["referrals"] == 2


def test_a_re_referral_is_the_same_child_within_twelve_months() -> None:
    w = World()
    w.case(Rag.GREEN, at(2, 10).replace(year=2025, month=12), nhs="9000000001")  # 11 months
    w.case(Rag.GREEN, at(2, 10).replace(year=2025, month=10), nhs="9000000002")  # 13 months
    w.case(Rag.GREEN, at(3, 10), nhs="9000000001", source="police-niche", cin_source="6")
    w.case(Rag.AMBER, at(4, 10), nhs="9000000002")
    w.case(Rag.AMBER, at(5, 10), nhs="9000000002")  # again, a day after the last
    f = figures(w)
    assert counts(f["referrals_by_cin_source"], cin_referral_source="6")["re_referrals"] == 1
    assert counts(f["referrals_by_cin_source"], cin_referral_source="2A")["re_referrals"] == 1
    assert counts(f["rag_mix"], rag="AMBER") == {"referrals": 2, "re_referrals": 1}
    assert counts(f["rag_mix"], rag=ALL)["re_referrals"] == 2


def test_rag_mix_and_time_to_rag() -> None:
    w = World()
    for minutes in (1, 2, 3, 4, 10):
        w.case(Rag.RED, triage_after=minutes * M)
    w.case(Rag.GREEN)
    f = figures(w)
    red = f["rag_mix"].row(rag="RED")
    assert red.counts["referrals"] == 5
    values = derive(f["rag_mix"], red)
    assert values["to_rag_p50_s"] == 180.0 and values["to_rag_p90_s"] == 600.0


def test_timeliness_against_timescales_in_elapsed_time() -> None:
    w = World()
    w.case(Rag.RED, assembled_after=3 * H, decided_after=3 * H + 30 * M)  # both on time
    w.case(Rag.RED, assembled_after=4 * H, decided_after=5 * H)  # on the line; decided late
    w.case(Rag.RED, assembled_after=None, decided_after=None)  # never: overdue by as_of
    w.case(Rag.AMBER, assembled_after=25 * H, decided_after=26 * H)  # both late
    t = figures(w)["timeliness"]
    assert counts(t, stage="assembled", rag="RED") == {
        "cases": 3, "on_time": 2, "late": 0, "overdue_not_reached": 1, "not_yet_due": 0}
    assert counts(t, stage="decided", rag="RED")["on_time"] == 1
    assert counts(t, stage="decided", rag="RED")["late"] == 1
    assert counts(t, stage="assembled", rag="AMBER")["late"] == 1
    assert counts(t, stage="assembled", rag=ALL)["cases"] == 4
    assert t.row(stage="assembled", rag="RED").durations["elapsed"] == [3 * 3600.0, 4 * 3600.0]


def test_a_case_not_yet_due_is_not_counted_late() -> None:
    w = World()
    w.case(Rag.GREEN, assembled_after=None, decided_after=None)
    t = figures(w, as_of=T0 + 10 * H)["timeliness"]
    assert counts(t, stage="assembled", rag="GREEN")["not_yet_due"] == 1
    assert counts(t, stage="assembled", rag="GREEN")["overdue_not_reached"] == 0


CALENDAR = WorkingHours(start=time(9), end=time(17), bank_holidays=[date(2026, 11, 9)])


def test_working_hours_decide_timeliness_for_amber_and_green_not_red() -> None:
    w = World()
    friday_4pm = at(6, 16)
    # Amber, 24h: due the same time the next working day, Monday 16:00.
    w.case(Rag.AMBER, friday_4pm, assembled_after=at(9, 15) - friday_4pm)  # Monday is a
    # bank holiday here, so the next working day is Tuesday: due Tuesday 16:00.
    w.case(Rag.AMBER, friday_4pm, assembled_after=at(10, 16, 30) - friday_4pm)  # 30 min late
    # Red runs round the clock: due Friday 20:00.
    w.case(Rag.RED, friday_4pm, assembled_after=5 * H)
    t = figures(w, calendar=CALENDAR)["timeliness"]
    amber = t.row(stage="assembled", rag="AMBER")
    assert amber.counts["on_time"] == 1 and amber.counts["late"] == 1
    # Working time taken: Friday 16-17 only for the first (Monday is a holiday); Friday's
    # hour and Tuesday 9:00-16:30 for the second.
    assert sorted(amber.durations["elapsed"]) == [1 * 3600.0, (1 + 7.5) * 3600.0]
    red = t.row(stage="assembled", rag="RED")
    assert red.counts["late"] == 1 and red.durations["elapsed"] == [5 * 3600.0]
    # Without the calendar both Amber cases are days late.
    plain = figures(w)["timeliness"].row(stage="assembled", rag="AMBER")
    assert plain.counts["late"] == 2


def test_each_agency_contribution_by_rag() -> None:
    w = World()
    cid = w.case(Rag.RED, answers={"police": (FOUND, 30 * M), "health": (DECLINED, 10 * M),
                                   "education": None})
    w.case(Rag.RED, answers={"police": (FOUND, 2 * H), "health": (ERROR, 10 * M)})
    w.case(Rag.GREEN, answers={"police": (FOUND, 5 * M)})
    w.audit(AuditAction.EXCESS_DISCLOSURE, cid, "police")
    t = figures(w)["agency_contribution"]
    police_red = counts(t, agency="police", rag="RED")
    assert police_red["asked"] == 2
    assert police_red["answered_on_time"] == 1 and police_red["answered_late"] == 1
    assert police_red["excess_disclosures"] == 1
    assert counts(t, agency="police", rag=ALL)["asked"] == 3
    assert counts(t, agency="health", rag="RED")["declined"] == 1
    assert counts(t, agency="health", rag="RED")["error"] == 1
    assert counts(t, agency="education", rag="RED")["no_response"] == 1
    assert counts(t, agency=ALL, rag=ALL)["asked"] == 6
    assert sorted(t.row(agency="police", rag="RED").durations["response"]) == [1800.0, 7200.0]


def test_a_chase_and_a_duplicate_answer_count_once() -> None:
    w = World()
    w.case(Rag.AMBER, answers={"police": (FOUND, 10 * M)})
    first = w.events.requests[0]
    w.events.requests.append(first.model_copy(update={"is_chase": True, "chase_number": 1,
                                                       "requested_at": first.requested_at + M}))
    w.events.responses.append(w.events.responses[0].model_copy(
        update={"responded_at": w.events.responses[0].responded_at + 5 * H}))
    row = counts(figures(w)["agency_contribution"], agency="police", rag="AMBER")
    assert row["asked"] == 1 and row["chased"] == 1 and row["answered_on_time"] == 1


def test_a_re_rated_request_counts_once_at_the_rag_and_respond_by_it_stands_at() -> None:
    w = World()
    w.case(Rag.GREEN, answers={"police": (FOUND, 3 * H)})
    first = w.events.requests[0]
    # Re-rated to Red after 10 minutes: revision 1 on Red's topic due an hour later, and a
    # notice on Green's topic. The answer after 3 hours is late against the Red revision.
    w.events.requests += [
        first.model_copy(update={"revision": 1, "rag": Rag.RED, "supersedes_rag": Rag.GREEN,
                                 "requested_at": first.requested_at + 10 * M,
                                 "respond_by": first.requested_at + 70 * M}),
        first.model_copy(update={"revision": 1, "superseded": True,
                                 "superseded_by_rag": Rag.RED,
                                 "requested_at": first.requested_at + 10 * M})]
    t = figures(w)["agency_contribution"]
    assert counts(t, agency="police", rag="RED")["asked"] == 1
    assert counts(t, agency="police", rag="RED")["answered_late"] == 1
    assert counts(t, agency="police", rag="GREEN")["asked"] == 0
    assert counts(t, agency="police", rag=ALL)["asked"] == 1


def test_partial_cases_and_who_was_missing() -> None:
    w = World()
    w.case(Rag.RED, answers={"police": (FOUND, M), "education": None})
    w.case(Rag.RED, answers={"police": None, "education": None})
    w.case(Rag.GREEN, answers={"police": (FOUND, M)})
    f = figures(w)
    assert counts(f["partial_cases"], rag="RED") == {"assembled": 2, "partial": 2}
    assert counts(f["partial_cases"], rag=ALL) == {"assembled": 3, "partial": 2}
    assert counts(f["missing_agencies"], agency="education")["cases_missing"] == 2
    assert counts(f["missing_agencies"], agency="police")["cases_missing"] == 1


def test_decisions_by_outcome_need_and_rationale() -> None:
    w = World()
    w.case(Rag.RED, outcome=DecisionOutcome.STRATEGY_DISCUSSION, need="N1")
    w.case(Rag.GREEN, outcome=DecisionOutcome.EARLY_HELP, need="N9", rationale="  ")
    w.case(Rag.GREEN, outcome=DecisionOutcome.EARLY_HELP, need=None)
    w.case(Rag.GREEN, decided_after=None)
    f = figures(w)
    assert counts(f["decisions_by_outcome"], outcome="EARLY_HELP") == {
        "cases": 2, "rationale_recorded": 1}
    assert counts(f["decisions_by_outcome"], outcome=ALL)["cases"] == 3
    need = f["decisions_by_primary_need"]
    assert counts(need, cin_primary_need="N1")["cases"] == 1
    assert counts(need, cin_primary_need=NOT_RECORDED)["cases"] == 1
    assert need.row(cin_primary_need="N9").labels["description"] == (
        "Cases other than children in need")


def test_referrers_and_contributors_told_and_how_soon() -> None:
    w = World()
    w.case(Rag.RED, answers={"police": (FOUND, M), "health": (ERROR, M)},
           told={"school-portal": 2 * M, "police": 4 * M})
    w.case(Rag.RED, answers={"police": (DECLINED, M)}, told={"school-portal": 6 * M})
    t = figures(w)["told"]
    assert counts(t, role="referrer", recipient="school-portal") == {
        "due_to_be_told": 2, "told": 2, "not_told": 0}
    # police contributed to both (a refusal is a contribution); told once. health answered
    # with an error: not a contributor, not due to be told.
    assert counts(t, role="contributor", recipient="police") == {
        "due_to_be_told": 2, "told": 1, "not_told": 1}
    with pytest.raises(KeyError):
        t.row(role="contributor", recipient="health")
    assert sorted(t.row(role="referrer", recipient="school-portal").durations["delay"]) == [
        120.0, 360.0]


def test_consent_states_and_overrides_report_roles_never_names() -> None:
    w = World()
    override = ConsentStatus.OVERRIDDEN_CHILD_PROTECTION
    w.case(Rag.AMBER, consent=Consent(status=override, override_reason="risk",
                                      override_authorised_by="mash TEAM manager"))
    w.case(Rag.AMBER, consent=Consent(status=override, override_authorised_by="Jane Smith"))
    cid = w.case(Rag.GREEN, consent=Consent(status=ConsentStatus.REFUSED))
    w.audit(AuditAction.REQUEST_WITHHELD, cid, "health",
            detail="CONSENT_REQUIRED: consent REFUSED (Sam Example)")
    w.audit(AuditAction.REQUEST_WITHHELD, cid, "housing", detail="NOT_AT_RAG: housing")
    w.audit(AuditAction.REQUEST_WITHDRAWN, cid, "police",
            detail="consent refused: request withdrawn")
    w.audit(AuditAction.REQUEST_WITHHELD, cid, "police", detail="free text about Sam")
    f = figures(w)
    assert counts(f["consent"], consent_status="OVERRIDDEN_CHILD_PROTECTION")["referrals"] == 2
    assert counts(f["consent"], consent_status="REFUSED")["referrals"] == 1
    overrides = f["consent_overrides"]
    assert counts(overrides, authorised_by_role="MASH team manager") == {
        "overrides": 1, "reason_recorded": 1}
    assert counts(overrides, authorised_by_role=UNLISTED_ROLE)["overrides"] == 1
    assert all("Jane" not in r.labels["authorised_by_role"] for r in overrides.rows)
    audit = f["consent_audit"]
    assert counts(audit, action="REQUEST_WITHHELD", reason=ALL)["events"] == 3
    assert counts(audit, action="REQUEST_WITHHELD", reason="CONSENT_REQUIRED")["events"] == 1
    assert counts(audit, action="REQUEST_WITHHELD", reason="NOT_AT_RAG")["events"] == 1
    assert counts(audit, action="REQUEST_WITHHELD", reason="OTHER")["events"] == 1
    assert counts(audit, action="REQUEST_WITHDRAWN", reason="CONSENT_REFUSED")["events"] == 1
    assert all("Sam" not in r.labels["reason"] for r in audit.rows)


def test_deadletters_by_reason_in_the_period() -> None:
    w = World()
    w.deadletter("BAD_MARKER")
    w.deadletter("BAD_MARKER", stage="enrichment")
    w.deadletter("SENDER_MISMATCH")
    w.deadletter("INVALID", at=at(30, 10).replace(month=10))
    t = figures(w)["deadletters"]
    assert counts(t, reason_code="BAD_MARKER", stage=ALL)["dead_letters"] == 2
    assert counts(t, reason_code=ALL, stage=ALL)["dead_letters"] == 3
    with pytest.raises(KeyError):
        t.row(reason_code="INVALID", stage=ALL)


def test_events_after_as_of_are_not_counted() -> None:
    w = World()
    w.case(Rag.RED, assembled_after=H, decided_after=48 * H)
    t = figures(w, as_of=T0 + 24 * H)["timeliness"]
    assert counts(t, stage="decided", rag="RED")["overdue_not_reached"] == 1
    assert counts(t, stage="assembled", rag="RED")["on_time"] == 1


def test_referrals_gone_from_the_triaged_topic_are_rebuilt_from_assembly_and_audit() -> None:
    w = World()
    w.case(Rag.RED, source="police-niche", cin_source="6", nhs="9000000001")
    w.case(Rag.AMBER, at(3, 10), nhs="9000000001", answers={"police": None})
    w.case(Rag.GREEN, at(4, 10), consent=Consent(status=ConsentStatus.REFUSED))
    w.case(Rag.GREEN, at(5, 10), assembled_after=None, decided_after=None)  # never assembled
    whole = figures(w)
    w.events.triaged = w.events.triaged[-1:]  # a week later: only the open case's is left
    rebuilt = figures(w)
    for table_id, table in whole.items():
        assert [(r.labels, r.counts, r.durations) for r in rebuilt[table_id].rows] == [
            (r.labels, r.counts, r.durations) for r in table.rows], table_id


def test_requests_and_answers_gone_from_their_topics_are_rebuilt_from_audit_and_cases() -> None:
    w = World()
    # Enrichment gives every request the case's due time as its respond_by.
    w.case(Rag.RED, respond_in=4 * H, answers={"police": (FOUND, 30 * M),
                                               "health": (DECLINED, 10 * M), "education": None})
    w.case(Rag.AMBER, respond_in=24 * H, answers={"police": (FOUND, 30 * H),
                                                  "health": (ERROR, M)})
    whole = figures(w)["agency_contribution"]
    w.events.requests, w.events.responses = [], []
    rebuilt = figures(w)["agency_contribution"]
    assert counts(rebuilt, agency="police", rag="AMBER")["answered_late"] == 1
    assert [(r.labels, r.counts, r.durations) for r in rebuilt.rows] == [
        (r.labels, r.counts, r.durations) for r in whole.rows]
