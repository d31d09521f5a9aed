"""A benchmark run's context (which broker, how big, progress display) and a session: one
pipeline, its agencies and hub system and a tracker, on a fresh hub prefix."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mash_common.settings import KafkaSettings
from mash_common.topics import TopicNames
from mash_hub.bench.broker import BenchBroker, Leg, LoopClients, create_hub
from mash_hub.bench.harness import (
    Actors,
    Prepared,
    ProcessSet,
    Run,
    SourceSystems,
    Tracker,
    prepare_referrals,
    send_burst,
    send_open_loop,
)
from mash_hub.demo.access import SecuredHub
from mash_sdk.simulated.agency import Profile


@dataclass
class Ctx:
    broker: BenchBroker
    run_dir: Path
    stamp: str
    quick: bool
    console: Console
    results: dict[str, Any] = field(default_factory=dict)
    _loops: LoopClients | None = None

    def say(self, message: str) -> None:
        self.console.print(message)

    def tag(self, name: str) -> str:
        return f"bench{self.stamp}{name}"

    @property
    def loops(self) -> LoopClients:
        """The principal of the plain client loops (baseline, probe), made when first asked."""
        if self._loops is None:
            self._loops = LoopClients(self.broker, f"{self.tag('loop')}.", self.run_dir / "clients")
        return self._loops

    def close(self) -> None:
        if self._loops is not None:
            self._loops.teardown()

    @contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; yields a function that sets how far it got."""
        progress = Progress(TextColumn(f"  {label:<34}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=self.console, transient=False)
        task = progress.add_task(label, total=total)
        with progress:
            yield lambda done: progress.update(task, completed=done)


class Session:
    """One pipeline on a fresh hub prefix with simulated agencies (in their own process), a
    hub system and a tracker, every party connecting as itself: on the secured listener as
    its own principal, on the plaintext one as User:ANONYMOUS with the same grants."""

    def __init__(self, ctx: Ctx, name: str, *, due_s: tuple[float, float, float], profile: Profile,
                 people: int, leg: Leg = Leg.SECURED, silent: dict[str, float] | None = None,
                 extra_env: dict[str, dict[str, str]] | None = None, agencies: bool = True,
                 track_triaged: bool = False, tracking: bool = True) -> None:
        self.ctx = ctx
        self.name = name
        self.leg = leg
        self.due_s = due_s
        self.profile = profile
        self.people = people
        self.silent = silent or {}
        self.extra_env = extra_env
        self.with_agencies = agencies
        self.track_triaged = track_triaged
        self.tracking = tracking
        self._hub: SecuredHub | None = None
        self._run: Run | None = None
        self._tracker: Tracker | None = None
        self.actors: Actors | None = None
        self._next_person = 0
        self._sources: dict[float, SourceSystems] = {}

    @property
    def hub(self) -> SecuredHub:
        if self._hub is None:
            raise RuntimeError("session not started")
        return self._hub

    @property
    def run(self) -> Run:
        if self._run is None:
            raise RuntimeError("session not started")
        return self._run

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            raise RuntimeError("session not started")
        return self._tracker

    @property
    def names(self) -> TopicNames:
        return self.hub.admin.topics

    @property
    def observer(self) -> KafkaSettings:
        """Read-only operations: offsets, the tracker."""
        return self.hub.ops_reader

    @property
    def admin(self) -> KafkaSettings:
        """The super user, for what no party may read (services' internal topics' records)."""
        return self.hub.admin

    def start(self) -> Session:
        t = time.monotonic()
        tag = self.ctx.tag(self.name)
        self.ctx.say(f"  provisioning prefix '{tag}.' (topics, principals) for {self.leg.value} clients")
        self._hub = create_hub(self.ctx.broker, self.leg, f"{tag}.", self.ctx.run_dir / tag / "clients")
        self._run = Run.create(self._hub, tag, self.ctx.run_dir, due_s=self.due_s, extra_env=self.extra_env)
        self._tracker = Tracker(self.observer, triaged=self.track_triaged)
        who = "each as its own principal" if self.leg is Leg.SECURED else "as User:ANONYMOUS"
        self.ctx.say(f"  starting intake, enrichment and routing, {who}")
        self._run.start(lambda m: self.ctx.say(f"  {m.strip()}"))
        if self.with_agencies:
            agencies = {a: self.hub.agency(a) for a in sorted(self.hub.hub.agencies)}
            self.ctx.say(f"  starting {len(agencies)} simulated agencies and the hub system "
                         f"(population {self.people})")
            self.actors = Actors(agencies, self.hub.hub_system(), self.profile, self.people, self.silent).start()
        if self.tracking:
            self.tracker.start()
        self.ctx.say(f"  ready in {time.monotonic() - t:.0f} s")
        return self

    def stop(self) -> None:
        for sender in self._sources.values():
            sender.flush(10)
        self._sources.clear()
        if self._tracker is not None:
            self._tracker.stop()
        if self.actors is not None:
            self.actors.stop()
        if self._run is not None:
            self._run.stop()
        if self._hub is not None:
            # Topics and principals go with the session, so each measurement starts on a
            # broker in the same state and a long-lived one does not accumulate them.
            self._hub.teardown()

    def sources(self, linger_ms: float) -> SourceSystems:
        """The load generator: one producer per source system, each as itself; made once per
        session, so no measured window pays for its TLS and SCRAM handshakes."""
        if linger_ms not in self._sources:
            self._sources[linger_ms] = SourceSystems(
                {s: self.hub.source(s) for s in sorted(self.hub.hub.source_systems)}, linger_ms)
        return self._sources[linger_ms]

    def burst(self, items: list[Prepared]) -> float:
        return send_burst(self.sources(linger_ms=5), items)

    def open_loop(self, items: list[Prepared], rate: float,
                  on_progress: Callable[[int], None] | None = None) -> dict[str, float]:
        return send_open_loop(self.sources(linger_ms=0), items, rate, on_progress)

    def referrals(self, label: str, count: int) -> list[Prepared]:
        if self._next_person + count > self.people:
            raise RuntimeError(f"population of {self.people} exhausted (asked {count} more)")
        items = prepare_referrals(f"{self.run.tag}{label}", count, self._next_person, self.people)
        self._next_person += count
        self.tracker.expect(items)
        return items

    def processes(self) -> ProcessSet:
        pids = self.run.pids()
        if self.actors is not None:
            pids["agencies+hub"] = self.actors.pid
        return ProcessSet(pids, self.ctx.broker.pid())

    def __enter__(self) -> Session:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
