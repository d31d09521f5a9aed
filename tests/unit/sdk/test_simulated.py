"""Simulated agencies: deterministic from the seed, synthetic only, rates as configured."""

from __future__ import annotations

from collections import Counter

import pytest

from mash_common.contracts import ResponseStatus
from mash_sdk.errors import DropRequest
from mash_sdk.simulated import Behaviour, Latency, Profile, SimulatedAgency, population
from mash_sdk.simulated.agency import SimulatedFailure
from mash_sdk.testing import is_valid_nhs_number, make_request


def test_population_is_deterministic_and_synthetic() -> None:
    a, b = population(7, 300), population(7, 300)
    assert a == b and a != population(8, 300)
    assert all(p.nhs_number.startswith("999") and is_valid_nhs_number(p.nhs_number) for p in a)
    assert all(p.postcode.startswith("ZZ99") for p in a)
    assert len({p.nhs_number for p in a}) == 300


def test_known_subject_found_unknown_not_known() -> None:
    agency = SimulatedAgency("health", Profile(), seed=3)
    person = agency.knowledge.known[0]
    found = agency(make_request("health", subject=person.identifiers(),
                                data_categories=["health_history"]))
    assert found.status is ResponseStatus.FOUND
    assert found == agency(make_request("health", subject=person.identifiers(),
                                        data_categories=["health_history"]))
    outsider = next(p for p in population(3) if agency.knowledge.find(p.identifiers()) is None)
    assert agency(make_request("health", subject=outsider.identifiers())).status \
        is ResponseStatus.NOT_KNOWN
    assert agency(make_request("health", data_categories=["kit.decline"])).status \
        is ResponseStatus.DECLINED


def test_rates_and_latency() -> None:
    slept: list[float] = []
    profile = Profile(default=Behaviour(latency=Latency(distribution="uniform", min_s=1, max_s=2),
                                        error_rate=0.2, silence_rate=0.2, decline_rate=0.2))
    agency = SimulatedAgency("police", profile, seed=1, sleep=slept.append)
    outcomes: Counter[str] = Counter()
    for i in range(1000):
        try:
            outcomes[agency(make_request("police", request_id=f"r{i}")).status.value] += 1
        except DropRequest:
            outcomes["silent"] += 1
        except SimulatedFailure:
            outcomes["error"] += 1
    assert all(1 <= s <= 2 for s in slept) and len(slept) == 1000
    assert 150 < outcomes["silent"] < 250
    assert 110 < outcomes["error"] < 210  # 0.8 * 0.2 of those not silent
    assert outcomes["DECLINED"] > 80


@pytest.mark.parametrize("chase", [0, 1])
def test_same_request_same_choice(chase: int) -> None:
    profile = Profile(default=Behaviour(silence_rate=0.5))
    agency = SimulatedAgency("police", profile, seed=1)
    results: list[object] = []
    for _ in range(2):
        try:
            results.append(agency(make_request("police", request_id="fixed",
                                               chase_number=chase)).status)
        except DropRequest:
            results.append(None)
    assert results[0] == results[1]
