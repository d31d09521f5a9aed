"""The case store: one compressed copy per case, and a deadline index instead of a scan."""

from __future__ import annotations

from datetime import timedelta

from mash_common.contracts import Rag
from mash_hub.services.enrichment.logic import GatherState, Phase, Triaged, apply
from mash_hub.services.enrichment.store import CaseStore, decode_state, encode_state
from tests.unit.enrichment.helpers import RULES, T0, triaged

KEEP = timedelta(days=35)


def new_store() -> tuple[CaseStore, dict[bytes, bytes], list[tuple[int, bytes, bytes | None]]]:
    data: dict[bytes, bytes] = {}
    writes: list[tuple[int, bytes, bytes | None]] = []

    def write(partition: int, key: bytes, value: bytes | None) -> None:
        writes.append((partition, key, value))
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value

    return CaseStore(data, write, RULES.chase_points, KEEP), data, writes


def case(case_id: str, rag: Rag, partition: int = 0) -> GatherState:
    outcome = apply(None, Triaged(triaged(case_id=case_id, referral_id=f"R-{case_id}", rag=rag),
                                  partition=partition), T0, RULES)
    assert outcome.state is not None
    return outcome.state


def test_one_compressed_copy_that_reads_back_the_same() -> None:
    store, data, writes = new_store()
    state = case("C1", Rag.AMBER, partition=4)
    store.put(state)
    assert [(p, k) for p, k, _ in writes] == [(4, b"C1")]
    raw = data[b"C1"]
    assert len(raw) < len(state.model_dump_json()) / 2
    assert store.get("C1") == state and decode_state(encode_state(state)) == state
    # A state written before compression (plain JSON) still reads.
    data[b"C1"] = state.model_dump_json().encode()
    assert store.get("C1") == state


def test_only_due_cases_come_up_in_due_order_and_each_once() -> None:
    store, _, _ = new_store()
    red, green = case("RED", Rag.RED), case("GREEN", Rag.GREEN)
    for state in (green, red):
        store.put(state)
    first_red = red.next_wakeup(RULES.chase_points)
    first_green = green.next_wakeup(RULES.chase_points)
    assert first_red is not None and first_green is not None and first_red < first_green
    assert store.due(first_red - timedelta(seconds=1), {0}) == []  # never early
    assert store.due(first_red, {0}) == ["RED"]
    assert store.due(first_red, {0}) == []  # popped: put() indexes its next wake-up
    assert store.due(first_green + timedelta(hours=1), {0}) == ["GREEN"]


def test_a_case_on_a_partition_this_worker_does_not_own_waits_for_it() -> None:
    store, _, _ = new_store()
    state = case("C1", Rag.RED, partition=2)
    store.put(state)
    later = state.due_at + timedelta(hours=1)
    assert store.due(later, {0, 1}) == []
    assert store.due(later, {2}) == ["C1"]


def test_a_superseded_wake_up_is_skipped() -> None:
    store, _, _ = new_store()
    state = case("C1", Rag.AMBER)
    store.put(state)
    moved = state.model_copy(update={"due_at": state.due_at + timedelta(hours=10),
                                     "round_started_at": state.round_started_at + timedelta(hours=10)})
    store.put(moved)
    old_wake = state.next_wakeup(RULES.chase_points)
    assert old_wake is not None
    assert store.due(old_wake, {0}) == []


def test_assembled_cases_leave_the_deadline_index_for_the_forget_index() -> None:
    store, _, _ = new_store()
    state = case("C1", Rag.GREEN)
    assembled = state.model_copy(update={"phase": Phase.ASSEMBLED})
    store.put(assembled)
    assert store.due(state.due_at + timedelta(days=1), {0}) == []
    assert store.forgettable(state.due_at + KEEP - timedelta(seconds=1), {0}) == []
    assert store.forgettable(state.due_at + KEEP, {0}) == ["C1"]
    store.delete(assembled)
    assert store.get("C1") is None and len(store) == 0


def test_reindex_after_recovery_finds_what_faust_restored() -> None:
    store, data, _ = new_store()
    state = case("C1", Rag.RED, partition=1)
    data[b"C1"] = encode_state(state)  # as faust's changelog recovery writes it
    assert store.due(state.due_at, {1}) == []  # not indexed yet
    assert store.reindex() == 1
    assert store.due(state.due_at, {1}) == ["C1"]


def test_open_cases_by_rag_and_overdue() -> None:
    store, _, _ = new_store()
    for i, rag in enumerate([Rag.RED, Rag.RED, Rag.GREEN]):
        store.put(case(f"C{i}", rag))
    store.put(case("C9", Rag.AMBER).model_copy(update={"phase": Phase.ASSEMBLED}))
    seen = store.open_cases(T0 + timedelta(hours=5), [0])
    assert seen.by_rag == {Rag.RED: 2, Rag.GREEN: 1}
    assert seen.overdue == 2 and seen.next_due_s[Rag.RED] < 0 < seen.next_due_s[Rag.GREEN]
