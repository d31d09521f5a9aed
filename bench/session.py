"""A benchmark run's context (where, how big, progress display) and a session: one pipeline,
its agencies and hub system and a tracker, on a fresh topic prefix."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.harness import Actors, Prepared, ProcessSet, Run, Tracker, prepare_referrals
from mash_sdk.simulated.agency import Profile


@dataclass
class Ctx:
    bootstrap: str
    run_dir: Path
    stamp: str
    quick: bool
    console: Console
    results: dict[str, Any] = field(default_factory=dict)

    def say(self, message: str) -> None:
        self.console.print(message)

    def tag(self, name: str) -> str:
        return f"bench{self.stamp}{name}"

    @contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; yields a function that sets how far it got."""
        progress = Progress(TextColumn(f"  {label:<34}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=self.console, transient=False)
        task = progress.add_task(label, total=total)
        with progress:
            yield lambda done: progress.update(task, completed=done)


class Session:
    """One pipeline with simulated agencies (in their own process) and a hub system."""

    def __init__(self, ctx: Ctx, name: str, *, due_s: tuple[float, float, float], profile: Profile,
                 people: int, silent: dict[str, float] | None = None,
                 extra_env: dict[str, dict[str, str]] | None = None, agencies: bool = True,
                 track_triaged: bool = False, tracking: bool = True) -> None:
        self.ctx = ctx
        self.people = people
        self.run = Run.create(ctx.bootstrap, ctx.tag(name), ctx.run_dir, due_s=due_s, extra_env=extra_env)
        self.actors = Actors(self.run.kafka, profile, people, silent or {}) if agencies else None
        self.tracker = Tracker(self.run.kafka, triaged=track_triaged)
        self.tracking = tracking
        self._next_person = 0
        self._batches = 0

    @property
    def kafka(self) -> Any:
        return self.run.kafka

    def start(self) -> Session:
        t = time.monotonic()
        self.ctx.say(f"  starting pipeline on prefix '{self.run.kafka.topic_prefix}'")
        self.run.start(lambda m: self.ctx.say(f"  {m.strip()}"))
        if self.actors is not None:
            self.ctx.say(f"  starting 6 simulated agencies and the hub system (population {self.people})")
            self.actors.start()
        if self.tracking:
            self.tracker.start()
        self.ctx.say(f"  ready in {time.monotonic() - t:.0f} s")
        return self

    def stop(self) -> None:
        self.tracker.stop()
        if self.actors is not None:
            self.actors.stop()
        self.run.stop()

    def referrals(self, label: str, count: int) -> list[Prepared]:
        if self._next_person + count > self.people:
            raise RuntimeError(f"population of {self.people} exhausted (asked {count} more)")
        self._batches += 1
        items = prepare_referrals(f"{self.run.tag}{label}", count, self._next_person, self.people)
        self._next_person += count
        self.tracker.expect(items)
        return items

    def processes(self) -> ProcessSet:
        pids = self.run.pids()
        if self.actors is not None:
            pids["agencies+hub"] = self.actors.pid
        return ProcessSet(pids)

    def __enter__(self) -> Session:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
