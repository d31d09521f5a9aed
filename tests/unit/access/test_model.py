"""The access model, checked as the broker would apply it: least privilege for every party."""

from __future__ import annotations

import pytest

from mash_common.access import Kind, Op, Principal, Resource, access_model, by_party, explain
from mash_common.contracts import Rag
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.topics import TopicNames, topic_specs

NAMES = TopicNames("hub1.")


@pytest.fixture(scope="module")
def hub() -> HubConfig:
    return load_hub_config()


@pytest.fixture(scope="module")
def model(hub: HubConfig) -> list[Principal]:
    return access_model(NAMES, hub, test_tools=True)


def every_topic(hub: HubConfig) -> list[str]:
    return [s.name for s in topic_specs(NAMES, sorted(hub.agencies), hub.outcome_recipients,
                                        sorted(hub.source_systems), sorted(hub.hub_systems))]


def readable(p: Principal, hub: HubConfig) -> set[str]:
    return {t for t in every_topic(hub) if p.may(Op.READ, Resource.TOPIC, t)}


def writable(p: Principal, hub: HubConfig) -> set[str]:
    return {t for t in every_topic(hub) if p.may(Op.WRITE, Resource.TOPIC, t)}


def test_one_principal_per_party_under_the_hubs_prefix(model: list[Principal], hub: HubConfig) -> None:
    users = [p.user for p in model]
    assert len(users) == len(set(users))
    assert all(u.startswith("hub1.") for u in users)
    expected = (4 + len(hub.agencies) + len(hub.source_systems) + len(hub.hub_systems)
                + 1 + 3 + 1)  # services and the audit store, parties, the board, ops reader,
    # replay and erasure, the kit
    assert len(model) == expected


def test_an_agency_reads_only_its_own_requests_and_outcomes_and_writes_only_its_responses(
        model: list[Principal], hub: HubConfig) -> None:
    for agency in hub.agencies:
        p = by_party(model, Kind.AGENCY, agency)
        assert readable(p, hub) == {*(NAMES.requests(agency, r) for r in Rag), NAMES.outcomes(agency)}
        assert writable(p, hub) == {NAMES.responses(agency), NAMES.deadletter}


def test_a_source_system_writes_only_its_referrals_and_reads_only_its_outcomes(
        model: list[Principal], hub: HubConfig) -> None:
    for source in hub.source_systems:
        p = by_party(model, Kind.SOURCE, source)
        assert readable(p, hub) == {NAMES.outcomes(source)}
        assert writable(p, hub) == {NAMES.referrals(source)}


def test_a_hub_system_reads_assembled_cases_and_writes_decisions(model: list[Principal], hub: HubConfig) -> None:
    p = by_party(model, Kind.HUB, "case-management")
    # Its own outcomes: a refused rating change is told there (#19).
    assert readable(p, hub) == {NAMES.assembled, NAMES.outcomes("case-management")}
    assert writable(p, hub) == {NAMES.decisions, NAMES.ratings("case-management"), NAMES.deadletter}


@pytest.mark.parametrize(("service", "reads", "writes"), [
    ("intake", {"referrals.*"}, {"referrals.triaged", "referrals.triaged.red", "outcomes.<sources>",
                                 "deadletter", "audit"}),
    ("enrichment", {"referrals.triaged", "referrals.triaged.red", "responses.*", "ratings.*"},
     {"requests.*", "cases.assembled", "outcomes.<hub systems>", "deadletter", "audit"}),
    ("routing", {"cases.assembled", "decisions"}, {"outcomes.*", "deadletter", "audit"}),
])
def test_each_service_gets_exactly_what_it_consumes_and_produces(
        model: list[Principal], hub: HubConfig, service: str, reads: set[str], writes: set[str]) -> None:
    def expand(patterns: set[str]) -> set[str]:
        out: set[str] = set()
        for pattern in patterns:
            if pattern == "referrals.*":
                out |= {NAMES.referrals(s) for s in hub.source_systems}
            elif pattern == "responses.*":
                out |= {NAMES.responses(a) for a in hub.agencies}
            elif pattern == "requests.*":
                out |= {NAMES.requests(a, r) for a in hub.agencies for r in Rag}
            elif pattern == "outcomes.*":
                out |= {NAMES.outcomes(r) for r in hub.outcome_recipients}
            elif pattern == "outcomes.<sources>":
                out |= {NAMES.outcomes(s) for s in hub.source_systems}
            elif pattern == "ratings.*":
                out |= {NAMES.ratings(h) for h in hub.hub_systems}
            elif pattern == "outcomes.<hub systems>":
                out |= {NAMES.outcomes(h) for h in hub.hub_systems}
            else:
                out.add(f"hub1.mash.{pattern}")
        return out

    p = by_party(model, Kind.SERVICE, service)
    assert readable(p, hub) == expand(reads)
    assert writable(p, hub) == expand(writes)
    # Its own internal topics and group, and nobody else's.
    assert p.may(Op.CREATE, Resource.TOPIC, f"hub1.mash-{service}-gather-changelog")
    other = next(s for s in ("intake", "enrichment", "routing") if s != service)
    assert not p.may(Op.READ, Resource.TOPIC, f"hub1.mash-{other}-x-changelog")
    assert p.may(Op.READ, Resource.GROUP, f"hub1.mash-{service}")
    assert not p.may(Op.READ, Resource.GROUP, f"hub1.mash-{other}")


def test_consumer_groups_are_prefixed_per_principal(model: list[Principal]) -> None:
    for p in model:
        joinable = [g for g in p.grants if g.resource is Resource.GROUP and g.op is Op.READ]
        assert joinable and all(g.name == p.group_prefix for g in joinable), p.user
    prefixes = [p.group_prefix for p in model]
    for a in prefixes:
        # No principal's groups fall inside another's (e.g. mash-adapter-police vs -police-x).
        assert [b for b in prefixes if b != a and b.startswith(a + "-")] == [] or a.endswith("-"), a


def test_operations_read_only_writes_nothing_and_replay_writes_only_inbound_topics(
        model: list[Principal], hub: HubConfig) -> None:
    reader = by_party(model, Kind.OPS, "reader")
    assert writable(reader, hub) == set()
    assert readable(reader, hub) == set(every_topic(hub))
    replay = by_party(model, Kind.OPS, "replay")
    assert NAMES.assembled in writable(replay, hub) and NAMES.outcomes("police") not in writable(replay, hub)
    assert readable(replay, hub) == {NAMES.deadletter, NAMES.replay_log}


def test_the_board_reads_what_it_shows_and_writes_nothing(model: list[Principal], hub: HubConfig) -> None:
    board = by_party(model, Kind.BOARD, "case-board")
    shown = {NAMES.triaged, NAMES.triaged_red, NAMES.assembled, NAMES.decisions,
             *[NAMES.requests(a, rag) for a in hub.agencies for rag in Rag],
             *[NAMES.responses(a) for a in hub.agencies]}
    assert readable(board, hub) == shown
    assert writable(board, hub) == set()
    assert board.group_prefix == "hub1.mash-board"
    assert board.may(Op.READ, Resource.GROUP, "hub1.mash-board-1")
    assert not board.may(Op.READ, Resource.GROUP, "hub1.mash-intake")


def test_without_test_tools_no_principal_may_write_requests_but_enrichment(hub: HubConfig) -> None:
    live = access_model(NAMES, hub)
    writers = {p.user for p in live if p.may(Op.WRITE, Resource.TOPIC, NAMES.requests("police", Rag.RED))}
    # ...and the erasure operator, whose tool writes only tombstones there (mash_ops.erasure).
    assert writers == {"hub1.service.enrichment", "hub1.ops.erasure"}


def test_the_explanation_names_every_principal_and_says_nothing_else_is_allowed(
        model: list[Principal]) -> None:
    text = explain(model, "hub1.")
    for p in model:
        assert p.user.removeprefix("hub1.") in text
    assert "Nothing else is allowed" in text


def test_the_access_table_in_docs_is_what_the_code_explains(hub: HubConfig) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "security.md").read_text()
    assert explain(access_model(TopicNames(""), hub), "") in doc


def test_the_audit_store_reads_the_audit_topic_and_nothing_else(
        model: list[Principal], hub: HubConfig) -> None:
    store = by_party(model, Kind.SERVICE, "auditstore")
    assert readable(store, hub) == {NAMES.audit}
    assert writable(store, hub) == set()
    assert not store.may(Op.CREATE, Resource.TOPIC, "hub1.mash-auditstore-x")
    assert store.may(Op.READ, Resource.GROUP, "hub1.mash-auditstore")
    assert not store.may(Op.READ, Resource.GROUP, "hub1.mash-routing")


def test_the_erasure_operator_reads_only_triaged_and_assembled_and_never_joins_a_service_group(
        model: list[Principal], hub: HubConfig) -> None:
    eraser = by_party(model, Kind.OPS, "erasure")
    # Both lanes (Red cases too), and the assembled cases (a rectification of a case whose
    # triaged referrals have expired).
    assert readable(eraser, hub) == {*NAMES.triaged_lanes, NAMES.assembled}
    assert NAMES.audit in writable(eraser, hub) and NAMES.assembled in writable(eraser, hub)
    for system in hub.hub_systems:  # a manager's rationale and the refusals told back
        assert {NAMES.ratings(system), NAMES.outcomes(system)} <= writable(eraser, hub)
    assert NAMES.deadletter not in writable(eraser, hub)
    assert not eraser.may(Op.READ, Resource.GROUP, "hub1.mash-intake")
