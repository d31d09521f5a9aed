"""Topic names and the partition counts and configs every topic is created with.

Every name takes an optional prefix, so tests and parallel hubs on one cluster never collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from mash_common.contracts import Rag

# Partitions of every keyed pipeline topic. Faust co-partitions tables (changelogs) with the
# topics that feed them, so the service apps use the same number. 6 lets a hub run up to six
# workers of a service; on our 2-core machines it costs little.
PIPELINE_PARTITIONS = 6
# Per-agency request topics and per-recipient outcome topics: one adapter or source system
# reads each, so 3 is plenty and keeps the topic count (agencies x 3 RAGs) cheap.
EDGE_PARTITIONS = 3

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    why: str


@dataclass(frozen=True)
class TopicNames:
    """The design's topic names, under an optional prefix."""

    prefix: str = ""

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def referrals(self, source_system: str) -> str:
        """The source system's own inbound topic: the broker's ACLs, not a field the sender
        fills in, say who wrote a record on it."""
        return self._t(f"mash.referrals.{source_system}")

    def referral_sender(self, topic: str) -> str | None:
        """The source system that owns a referral topic, or None if it is not one."""
        head = self._t("mash.referrals.")
        if not topic.startswith(head) or topic in self.triaged_lanes:
            return None
        return topic[len(head):] or None

    @property
    def triaged(self) -> str:
        """Intake to enrichment, Amber and Green referrals (and Red before #19)."""
        return self._t("mash.referrals.triaged")

    @property
    def triaged_red(self) -> str:
        """Intake to enrichment, Red referrals: their own lane, so no Green backlog is
        ahead of them (services/intake/README.md, "Red first")."""
        return self._t("mash.referrals.triaged.red")

    def triaged_for(self, rag: Rag) -> str:
        return self.triaged_red if rag is Rag.RED else self.triaged

    @property
    def triaged_lanes(self) -> tuple[str, str]:
        return (self.triaged_red, self.triaged)

    def ratings(self, hub_system: str) -> str:
        """The hub system's own topic for a manager's rating changes (only it may write it)."""
        return self._t(f"mash.ratings.{hub_system}")

    def rating_sender(self, topic: str) -> str | None:
        """The hub system that owns a ratings topic, or None if it is not one."""
        head = self._t("mash.ratings.")
        if not topic.startswith(head):
            return None
        return topic[len(head):] or None

    def responses(self, agency: str) -> str:
        """The agency's own response topic (only its adapter may write it)."""
        return self._t(f"mash.responses.{agency}")

    def response_sender(self, topic: str) -> str | None:
        """The agency that owns a response topic, or None if it is not one."""
        head = self._t("mash.responses.")
        if not topic.startswith(head):
            return None
        return topic[len(head):] or None

    @property
    def assembled(self) -> str:
        return self._t("mash.cases.assembled")

    @property
    def decisions(self) -> str:
        return self._t("mash.decisions")

    @property
    def deadletter(self) -> str:
        return self._t("mash.deadletter")

    @property
    def audit(self) -> str:
        return self._t("mash.audit")

    @property
    def replay_log(self) -> str:
        """Operations' compacted log of replayed dead letters (against double replay)."""
        return self._t("mash.deadletter.replayed")

    def requests(self, agency: str, rag: Rag) -> str:
        return self._t(f"mash.requests.{agency}.{rag.value.lower()}")

    def outcomes(self, recipient: str) -> str:
        return self._t(f"mash.outcomes.{recipient}")


def topic_specs(names: TopicNames, agencies: list[str], recipients: list[str],
                sources: list[str], hub_systems: list[str] | None = None) -> list[TopicSpec]:
    """Every topic of the design, for the configured agencies, source systems, outcome
    recipients and hub systems."""
    week = str(7 * DAY_MS)
    month = str(30 * DAY_MS)
    specs = [
        TopicSpec(names.referrals(source), PIPELINE_PARTITIONS, {"retention.ms": week},
                  f"referrals from {source} only (its ACL); a week covers an intake outage "
                  "and a replay")
        for source in sources
    ]
    specs += [
        TopicSpec(names.triaged, PIPELINE_PARTITIONS, {"retention.ms": week},
                  "intake to enrichment; enrichment keeps its own state, a week covers replay"),
        TopicSpec(names.triaged_red, PIPELINE_PARTITIONS, {"retention.ms": week},
                  "intake to enrichment, Red only: its own lane, read beside the other, so a "
                  "Red referral never waits behind queued Amber and Green ones"),
        TopicSpec(names.assembled, PIPELINE_PARTITIONS,
                  {"cleanup.policy": "compact", "min.compaction.lag.ms": str(DAY_MS)},
                  "hub systems need the latest version of each case; compaction keeps it "
                  "forever and the lag lets live consumers see every version"),
        TopicSpec(names.decisions, PIPELINE_PARTITIONS, {"retention.ms": month},
                  "hub decisions; routing keeps what it needs in state"),
        TopicSpec(names.deadletter, EDGE_PARTITIONS, {"retention.ms": month},
                  "operations need time to fix and replay a bad message"),
        TopicSpec(names.replay_log, 1, {"cleanup.policy": "compact"},
                  "which dead letters were replayed, so none is replayed twice by accident"),
        TopicSpec(names.audit, PIPELINE_PARTITIONS, {"retention.ms": "-1"},
                  "the audit trail must not expire before the audit store has taken it"),
    ]
    for agency in agencies:
        specs.append(TopicSpec(
            names.responses(agency), PIPELINE_PARTITIONS, {"retention.ms": week},
            f"answers from {agency} only (its ACL); co-partitioned with enrichment's state"))
        for rag in Rag:
            specs.append(TopicSpec(
                names.requests(agency, rag), EDGE_PARTITIONS, {"retention.ms": week},
                f"requests to {agency} at {rag.value}; one topic per RAG lets the adapter "
                "serve Red first"))
    for recipient in recipients:
        specs.append(TopicSpec(
            names.outcomes(recipient), EDGE_PARTITIONS, {"retention.ms": month},
            f"outcomes for {recipient}; a month covers a recipient system's outage"))
    for system in hub_systems or []:
        specs.append(TopicSpec(
            names.ratings(system), PIPELINE_PARTITIONS, {"retention.ms": week},
            f"a manager's rating changes from {system} only (its ACL); co-partitioned with "
            "enrichment's state"))
        specs.append(TopicSpec(
            names.outcomes(system), EDGE_PARTITIONS, {"retention.ms": month},
            f"refused rating changes, told to {system}; a month covers its outage"))
    return specs
