"""Simulated agencies: adapters over synthetic knowledge, with configurable misbehaviour.

A profile sets each agency's latency (a distribution), error rate (ERROR answers), silence
rate (no answer at all, to exercise the hub's deadlines and chases), decline rate and the
categories it always declines. Every choice is drawn from a generator seeded with the seed,
the agency, the request_id and the chase number, so a run can be replayed exactly and a
chase gets a fresh draw (a silent agency may answer when chased).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from mash_common.contracts import InformationRequest
from mash_common.settings import KafkaSettings
from mash_sdk.answer import Answer
from mash_sdk.errors import DropRequest, SdkError
from mash_sdk.metrics import AdapterMetrics
from mash_sdk.runtime import Adapter
from mash_sdk.settings import AdapterSettings
from mash_sdk.simulated.population import AgencyKnowledge

logger = logging.getLogger(__name__)

SIX_AGENCIES = ("police", "health", "education", "social-care", "probation", "housing")


class SimulatedFailure(SdkError):
    """A simulated agency system failure; the SDK turns it into an ERROR answer."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Latency(_Model):
    """fixed: always `seconds`; uniform: between min_s and max_s; lognormal: median_s with
    spread sigma, capped at max_s (agency systems have a long tail)."""

    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    seconds: float = Field(default=0.0, ge=0)
    min_s: float = Field(default=0.0, ge=0)
    max_s: float = Field(default=5.0, ge=0)
    median_s: float = Field(default=0.5, gt=0)
    sigma: float = Field(default=0.6, ge=0)

    def draw(self, rng: random.Random) -> float:
        if self.distribution == "fixed":
            return self.seconds
        if self.distribution == "uniform":
            return rng.uniform(self.min_s, self.max_s)
        return min(self.max_s, rng.lognormvariate(0.0, self.sigma) * self.median_s)


class Behaviour(_Model):
    latency: Latency = Field(default_factory=Latency)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    silence_rate: float = Field(default=0.0, ge=0, le=1)
    decline_rate: float = Field(default=0.0, ge=0, le=1)
    coverage: float | None = Field(default=None, ge=0, le=1,
                                   description="share of the population known; None = default")


class Profile(_Model):
    default: Behaviour = Field(default_factory=Behaviour)
    agencies: dict[str, Behaviour] = Field(default_factory=dict)
    declined_categories: dict[str, str] = Field(
        default_factory=lambda: {"kit.decline": "category not shared under this agreement"})

    def behaviour(self, agency: str) -> Behaviour:
        return self.agencies.get(agency, self.default)


PROFILES: dict[str, Profile] = {
    # Tests and the contract kit: immediate, always answers.
    "instant": Profile(),
    # The demo: answers in about a second, with the odd failure, silence and refusal.
    "realistic": Profile(default=Behaviour(
        latency=Latency(distribution="lognormal", median_s=0.8, sigma=0.7, max_s=6.0),
        error_rate=0.02, silence_rate=0.02, decline_rate=0.03)),
    # Deadline and chase testing: slow, unreliable agencies.
    "unreliable": Profile(default=Behaviour(
        latency=Latency(distribution="uniform", min_s=0.5, max_s=4.0),
        error_rate=0.1, silence_rate=0.15, decline_rate=0.1)),
}


class SimulatedAgency:
    """The handler of one simulated agency."""

    def __init__(self, agency: str, profile: Profile, seed: int = 1, population_size: int = 500,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.agency = agency
        self.profile = profile
        self.behaviour = profile.behaviour(agency)
        self.seed = seed
        self.knowledge = AgencyKnowledge(agency, seed, population_size, self.behaviour.coverage)
        self._sleep = sleep

    def __call__(self, request: InformationRequest) -> Answer:
        b = self.behaviour
        rng = random.Random(f"{self.seed}:{self.agency}:{request.request_id}:{request.chase_number}")
        # Draw every choice in a fixed order, so one rate does not shift the others' draws.
        latency, silent, failing, declining = (b.latency.draw(rng), rng.random() < b.silence_rate,
                                               rng.random() < b.error_rate,
                                               rng.random() < b.decline_rate)
        # Silence belongs to the request, not to one delivery of it: an agency that does not
        # answer a request ignores its chases too, so deadlines and PARTIAL cases happen.
        silent = random.Random(f"{self.seed}:{self.agency}:{request.request_id}:silence"
                               ).random() < b.silence_rate
        if latency:
            self._sleep(latency)
        if silent:
            raise DropRequest("simulated silence")
        if failing:
            raise SimulatedFailure("simulated agency system failure")
        declined = [c for c in request.data_categories if c in self.profile.declined_categories]
        if declined and len(declined) == len(request.data_categories):
            return Answer.declined("; ".join(self.profile.declined_categories[c] for c in declined))
        if declining:
            return Answer.declined("simulated: information withheld pending a manager's review")
        person = self.knowledge.find(request.subject)
        if person is None:
            return Answer.not_known()
        records = [r for c in request.data_categories if c not in declined
                   for r in self.knowledge.records(person, c)]
        return Answer.from_records(records)


class SimulatedAgencies:
    """Several simulated agencies in one process, one adapter thread each."""

    def __init__(self, adapters: list[Adapter]) -> None:
        self.adapters = adapters
        self._threads: list[threading.Thread] = []

    def start(self) -> SimulatedAgencies:
        self._threads = [a.start_in_thread() for a in self.adapters]
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        return all(a.ready.wait(max(0.0, deadline - time.monotonic())) for a in self.adapters)

    def stop(self, timeout_s: float = 60.0) -> None:
        for a in self.adapters:
            a.stop()
        for t in self._threads:
            t.join(timeout_s)

    def __enter__(self) -> SimulatedAgencies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_agencies(
    kafka: KafkaSettings | Mapping[str, KafkaSettings],
    agencies: Iterable[str] = SIX_AGENCIES,
    profile: Profile | str = "realistic",
    *,
    seed: int = 1,
    population_size: int = 500,
    registry: CollectorRegistry | None = None,
    responder_names: dict[str, str] | None = None,
    **adapter_overrides: Any,
) -> SimulatedAgencies:
    """Adapters for the given agencies, not started. One metrics registry for them all."""
    chosen = PROFILES[profile] if isinstance(profile, str) else profile
    metrics = AdapterMetrics(registry or CollectorRegistry())
    adapters = []
    for agency in agencies:
        # Each agency connects as its own principal when given one settings per agency.
        own = kafka if isinstance(kafka, KafkaSettings) else kafka[agency]
        settings = AdapterSettings(
            agency=agency, kafka=own,
            responder_name=(responder_names or {}).get(agency, f"Simulated {agency}"),
            responder_role="Simulated agency (synthetic data)",
            **adapter_overrides,
        )
        handler = SimulatedAgency(agency, chosen, seed, population_size)
        adapters.append(Adapter(settings, handler, metrics=metrics))
    return SimulatedAgencies(adapters)


def run_agencies(
    kafka: KafkaSettings | Mapping[str, KafkaSettings],
    agencies: Iterable[str] = SIX_AGENCIES,
    profile: Profile | str = "realistic",
    **kwargs: object,
) -> SimulatedAgencies:
    """Start simulated agencies in this process and return at once; call .stop() to end."""
    return build_agencies(kafka, agencies, profile, **kwargs).start()  # type: ignore[arg-type]
