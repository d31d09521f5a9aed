"""Scrape a Prometheus endpoint and read values out of it, for checks and demos:

    metrics = scrape("http://127.0.0.1:9101/metrics")
    metrics.value("mash_intake_referrals_total", source="school-portal", rag="RED")
    metrics.total("mash_deadletters_total")   # summed over every label set
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mash_ops.errors import ScrapeError


@dataclass(frozen=True)
class Scrape:
    samples: tuple[Sample, ...]

    def find(self, name: str, **labels: str) -> list[Sample]:
        """Samples with this exact sample name (counters: use the _total name) whose labels
        include the given ones."""
        return [
            s for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample matching; None when there is none; an error when several match."""
        found = self.find(name, **labels)
        if not found:
            return None
        if len(found) > 1:
            raise ScrapeError(f"{len(found)} samples of {name} match {labels}; narrow the labels")
        return found[0].value

    def total(self, name: str, **labels: str) -> float:
        """Sum over every matching sample (0 when none)."""
        return sum(s.value for s in self.find(name, **labels))

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def parse(text: str) -> Scrape:
    try:
        return Scrape(tuple(
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ))
    except ValueError as exc:
        raise ScrapeError(f"not Prometheus text format: {exc}") from None


def scrape(url: str, timeout_s: float = 5.0) -> Scrape:
    """Fetch and parse one endpoint, e.g. http://127.0.0.1:9108/metrics."""
    try:
        response = httpx.get(url, timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ScrapeError(f"cannot scrape {url}: {type(exc).__name__}: {exc}") from None
    return parse(response.text)
