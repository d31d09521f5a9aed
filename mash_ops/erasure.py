"""Erasure of a case's personal data, and retention, by an authorised operator: one command.

    mash-erasure erase --case CASE_ID --operator NAME --reason TEXT
    mash-erasure retention --older-than-days N --operator NAME
    mash-erasure rectify --case CASE_ID --operator NAME --reason TEXT \
        --set subject.FIELD=VALUE [--set ...]

Runs as the ops.erasure principal (reads the triaged referrals, writes tombstones and the
audit event) and, on the audit store, as its erasure role (may redact, never delete). What
it does, in order, and prints:
1. records the erasure on mash.audit (CASE_ERASED, or RETENTION_PURGED), MACed, first;
2. writes a tombstone under the case id on every topic keyed by case id (triaged referrals,
   requests, responses, assembled cases, decisions, outcomes, audit), under each referral
   id on its source's referral topic and the outcome topics, and one on each of intake's
   two link topics (the Red lane's and the rest's) under the child's blocking key naming
   the case: the latest value of every one of
   those keys is then empty, and compaction removes the rest of the compacted topics;
3. each service, reading its tombstone, removes the case from its state and audits that
   (intake: admission and linking state; enrichment: gather state; routing: case state and
   held decisions; adapters forget cached answers);
4. redacts the case's events in the audit store (personal fields blanked, content hashes
   kept, a RECORD_REDACTED event per event), so the chain still verifies and shows it.
Rectification corrects the subject's details instead, in the same places (it finds the
case's referrals on the triaged lanes, or once those have expired in the case's latest
assembled version): the audit event
(CASE_RECTIFIED, naming the fields, never a value) first; then the corrected referral on
its source's topic and its triaged lane (enrichment corrects its state and requests and
publishes the case's next version), and on intake's link topic a tombstone under each old
blocking key and the corrected referral under the new one (the case moves there); last,
the audit store's events that held an old value are redacted.
When erasure applies at all to safeguarding records, and when it must not, and when to
rectify instead: docs/evidence.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from mash_common.access import intake_link_topics
from mash_common.audittrail import AuditKeys
from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.contracts import (
    AssembledCase,
    AuditAction,
    AuditEvent,
    Rag,
    TriagedReferral,
    utcnow,
)
from mash_common.errors import ConfigError, MashError, SerdeError
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.ids import stable_id
from mash_common.logs import configure_logging
from mash_common.rectification import (
    RECTIFY_CASE_HEADER,
    RECTIFY_HEADER,
    LinkedCase,
    changed_fields,
    corrected,
    parse_corrections,
)
from mash_common.retention import load_retention
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.services.intake.app import ERASE_HEADER
from mash_hub.services.intake.linking import block_key
from mash_ops.auditdb import AuditStore, open_engine
from mash_ops.errors import BrokerUnavailableError
from mash_ops.reading import read_topics

logger = logging.getLogger(__name__)

PURPOSE = "erasure"  # the throwaway readers' group: under ops.erasure's own prefix


@dataclass
class ErasureReport:
    case_id: str
    referral_ids: list[str] = field(default_factory=list)
    tombstones: dict[str, int] = field(default_factory=dict)
    redacted_events: int = 0
    audit_event_id: str = ""

    def lines(self) -> list[str]:
        out = [f"case {self.case_id}: recorded as audit event {self.audit_event_id}",
               f"  referrals: {', '.join(self.referral_ids) or 'none found'}",
               f"  tombstones written: {sum(self.tombstones.values())} on "
               f"{len(self.tombstones)} topics"]
        out += [f"    {topic}: {count}" for topic, count in sorted(self.tombstones.items())]
        out.append(f"  audit store: {self.redacted_events} events redacted (chain kept, "
                   "each redaction recorded)")
        out.append("  services remove the case from their state as they read the tombstones")
        return out


def triaged_from_assembled(case: AssembledCase, now: datetime) -> list[TriagedReferral]:
    """A case's referrals as its triaged lane carries them, rebuilt from its latest
    assembled version: for a case whose triaged records have expired (7 days) but whose
    state the services still hold. Enrichment and the board take only the referral, the
    case and its rating from them."""
    return [TriagedReferral(case_id=case.case_id, referral=r, rag=case.rag,
                            opened_at=case.opened_at, due_at=case.due_at, triaged_at=now,
                            fired_rules=case.fired_rules, cin_factor_codes=case.cin_factor_codes)
            for r in case.referrals]


@dataclass
class RectificationReport:
    case_id: str
    fields: list[str]
    referral_ids: list[str] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    redacted_events: int = 0
    audit_event_id: str = ""

    def lines(self) -> list[str]:
        out = [f"case {self.case_id}: rectification recorded as audit event "
               f"{self.audit_event_id}",
               f"  fields corrected: {', '.join('subject.' + f for f in self.fields)}",
               f"  referrals: {', '.join(self.referral_ids)}",
               f"  records written: {sum(self.records.values())} on {len(self.records)} topics"]
        out += [f"    {topic}: {count}" for topic, count in sorted(self.records.items())]
        out.append(f"  audit store: {self.redacted_events} events holding an old value "
                   "redacted (chain kept, each redaction recorded)")
        out.append("  services correct their state as they read the records: intake (linking "
                   "state, moved to the corrected key), enrichment (gather state, requests "
                   "re-sent, the case's next version published), routing and the board (from "
                   "that version)")
        return out


class Eraser:
    def __init__(self, kafka: KafkaSettings, hub: HubConfig, store: AuditStore | None,
                 keys: AuditKeys) -> None:
        self.kafka = kafka
        self.hub = hub
        self.store = store
        self.keys = keys
        self.serde = AvroSerde()
        self.names = kafka.topics

    def _triaged(self, case_ids: set[str]) -> dict[str, list[TriagedReferral]]:
        found: dict[str, list[TriagedReferral]] = {c: [] for c in case_ids}
        for record in read_topics(self.kafka, list(self.names.triaged_lanes), purpose=PURPOSE):
            if record.key is None or record.value is None:
                continue
            case_id = record.key.decode("utf-8", errors="replace")
            if case_id not in found:
                continue
            try:
                found[case_id].append(self.serde.decode(record.value, TriagedReferral))
            except SerdeError:
                logger.warning("%s[%d]@%d: not a TriagedReferral; skipped", record.topic,
                               record.partition, record.offset)
        return found

    def _latest_assembled(self, case_id: str) -> AssembledCase | None:
        latest: bytes | None = None
        for record in read_topics(self.kafka, [self.names.assembled], purpose=PURPOSE):
            if record.key == case_id.encode():
                latest = record.value
        return None if latest is None else self.serde.decode(latest, AssembledCase)

    def _case_topics(self) -> list[str]:
        agencies = sorted(self.hub.agencies)
        hub_systems = sorted(self.hub.hub_systems)
        return [*self.names.triaged_lanes,
                *[self.names.requests(a, rag) for a in agencies for rag in Rag],
                *[self.names.responses(a) for a in agencies],
                self.names.assembled, self.names.decisions,
                # A manager's rating changes (their rationale) and the refusals told back.
                *[self.names.ratings(h) for h in hub_systems],
                *[self.names.outcomes(r) for r in self.hub.outcome_recipients],
                *[self.names.outcomes(h) for h in hub_systems],
                self.names.audit]

    def erase(self, case_ids: Iterable[str], *, operator: str, reason: str,
              retention: bool = False) -> list[ErasureReport]:
        wanted = sorted(set(case_ids))
        if not operator or not reason:
            raise MashError("an erasure needs --operator and --reason: it is audited")
        triaged = self._triaged(set(wanted))
        producer = Producer(self.kafka.producer_config())
        reports = []
        action = AuditAction.RETENTION_PURGED if retention else AuditAction.CASE_ERASED
        try:
            for case_id in wanted:
                report = ErasureReport(case_id)
                referrals = [t.referral for t in triaged[case_id]]
                report.referral_ids = sorted({r.referral_id for r in referrals})
                event = self.keys.sign(AuditEvent(
                    event_id=stable_id("audit", "erasure", action.value, case_id, reason),
                    at=utcnow(), actor=f"ops/{operator}", action=action, case_id=case_id,
                    detail=f"{'retention' if retention else 'erasure'}: personal data of the "
                           f"case removed from topics, service state and the audit store "
                           f"({len(report.referral_ids)} referrals); reason: {reason}"))
                report.audit_event_id = event.event_id
                # The record first: no erasure without its audit event acknowledged.
                producer.produce(self.names.audit, key=case_id.encode(),
                                 value=self.serde.encode(event))
                self._flush(producer)

                tombs: list[tuple[str, str, list[tuple[str, bytes]] | None]] = [
                    (topic, case_id, None) for topic in self._case_topics()]
                for referral in referrals:
                    tombs.append((self.names.referrals(referral.source_system),
                                  referral.referral_id, None))
                    tombs += [(self.names.outcomes(recipient), referral.referral_id, None)
                              for recipient in self.hub.outcome_recipients]
                # Both lanes' link topics (a Red referral went through the Red one).
                tombs += [(link, block, [(ERASE_HEADER, case_id.encode())])
                          for link in intake_link_topics(self.kafka.topic_prefix)
                          for block in sorted({block_key(r.subject, r.referral_id)
                                               for r in referrals})]
                for topic, key, headers in tombs:
                    producer.produce(topic, key=key.encode(), value=None, headers=headers)
                    report.tombstones[topic] = report.tombstones.get(topic, 0) + 1
                self._flush(producer)
                if self.store is not None:
                    report.redacted_events = len(self.store.redact_case(
                        case_id, operator=operator,
                        reason=f"{'retention' if retention else 'erasure'}: {reason}"))
                reports.append(report)
        finally:
            producer.flush(30)
        return reports

    def rectify(self, case_id: str, *, operator: str, reason: str,
                corrections: dict[str, object]) -> RectificationReport:
        """Correct the subject's details of one case everywhere (see the module docstring)."""
        if not operator or not reason:
            raise MashError("a rectification needs --operator and --reason: it is audited")
        found: dict[str, TriagedReferral] = {}
        for triaged in self._triaged({case_id})[case_id]:
            found[triaged.referral.referral_id] = triaged  # the latest of each referral
        if not found:
            case = self._latest_assembled(case_id)
            for triaged in triaged_from_assembled(case, utcnow()) if case is not None else []:
                found[triaged.referral.referral_id] = triaged
        if not found:
            raise MashError(f"case {case_id}: no triaged referral or assembled case found; "
                            "nothing to rectify")
        fixed = {rid: t.model_copy(update={"referral": t.referral.model_copy(
                     update={"subject": corrected(t.referral.subject, corrections)})})
                 for rid, t in found.items()}
        fields = sorted({f for rid, t in found.items()
                         for f in changed_fields(t.referral.subject, fixed[rid].referral.subject)})
        if not fields:
            raise MashError(f"case {case_id}: the corrections change nothing")
        report = RectificationReport(case_id, fields, sorted(found))
        at = utcnow()
        event = self.keys.sign(AuditEvent(
            event_id=stable_id("audit", "rectification", case_id, at.isoformat()),
            at=at, actor=f"ops/{operator}", action=AuditAction.CASE_RECTIFIED, case_id=case_id,
            detail=f"rectification: subject.{', subject.'.join(fields)} corrected in topics, "
                   f"service state and the audit store ({len(found)} referrals); "
                   f"reason: {reason}"))
        report.audit_event_id = event.event_id
        producer = Producer(self.kafka.producer_config())
        mark = [(RECTIFY_HEADER, case_id.encode())]
        try:
            # The record first: no correction without its audit event acknowledged.
            producer.produce(self.names.audit, key=case_id.encode(),
                             value=self.serde.encode(event))
            self._flush(producer)
            records: list[tuple[str, str, bytes | None, list[tuple[str, bytes]]]] = []
            ordered = sorted(fixed.values(), key=lambda t: t.triaged_at)
            for t in ordered:
                # Supersedes the original on its source's topic (the latest value of the key).
                records.append((self.names.referrals(t.referral.source_system),
                                t.referral.referral_id, self.serde.encode(t.referral), mark))
                records.append((self.names.triaged_for(t.rag), case_id, self.serde.encode(t),
                                mark))
            red_link, link = intake_link_topics(self.kafka.topic_prefix)
            for block in sorted({block_key(t.referral.subject, t.referral.referral_id)
                                 for t in found.values()}):
                # The state change travels on one topic, in order with the re-linking below;
                # the Red lane's topic gets a bare tombstone (no erase header: intake changes
                # nothing for it), so compaction drops the old details there too.
                records.append((link, block, None, [(ERASE_HEADER, case_id.encode()), *mark]))
                records.append((red_link, block, None, list(mark)))
            latest = ordered[-1]
            linked = LinkedCase(case_id=case_id, opened_at=latest.opened_at,
                                due_at=latest.due_at, rag=latest.rag,
                                referral_ids=[t.referral.referral_id for t in ordered])
            new_blocks: dict[str, TriagedReferral] = {}
            for t in ordered:
                new_blocks[block_key(t.referral.subject, t.referral.referral_id)] = t
            for block, t in sorted(new_blocks.items()):
                records.append((link, block, self.serde.encode(t.referral),
                                [*mark, (RECTIFY_CASE_HEADER, linked.model_dump_json().encode())]))
            for topic, key, value, headers in records:
                producer.produce(topic, key=key.encode(), value=value, headers=headers)
                report.records[topic] = report.records.get(topic, 0) + 1
            self._flush(producer)
        finally:
            producer.flush(30)
        if self.store is not None:
            old = {str(getattr(t.referral.subject, f)) for t in found.values() for f in fields
                   if getattr(t.referral.subject, f) is not None}
            report.redacted_events = len(self.store.redact_values(
                case_id, sorted(v for v in old if len(v) >= 3), operator=operator,
                reason=f"rectification: {reason}"))
        return report

    @staticmethod
    def _flush(producer: Producer) -> None:
        if producer.flush(30) != 0:
            raise BrokerUnavailableError("the broker did not acknowledge every record in 30s")

    def expired_cases(self, older_than: timedelta) -> list[str]:
        """Cases whose last recorded act is older than the retention period."""
        if self.store is None:
            raise ConfigError("retention needs the audit store (--database)")
        cutoff = utcnow() - older_than
        expired = []
        for chain in self.store.chains():
            if chain.startswith("nocase/"):
                continue
            rows = self.store.rows(chain)
            last = max((r.event.at for r in rows if not r.redacted), default=None)
            acted = [r for r in rows if not r.redacted
                     and r.event.action in (AuditAction.CASE_ERASED, AuditAction.RETENTION_PURGED)
                     and r.event.actor.startswith("ops/")]
            if last is not None and last <= cutoff and not acted:
                expired.append(chain)
        return expired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-erasure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    erase = sub.add_parser("erase", help="erase one or more cases' personal data everywhere")
    erase.add_argument("--case", action="append", required=True)
    erase.add_argument("--reason", required=True,
                       help="why (the request or the decision it rests on); audited")
    retention = sub.add_parser("retention", help="purge every case past its retention period")
    retention.add_argument("--older-than-days", type=float, default=None,
                           help="the retention period (default: case_data_days of "
                                "config/retention.yaml)")
    retention.add_argument("--policy", type=Path, default=None,
                           help="the retention policy (default config/retention.yaml)")
    rectify = sub.add_parser("rectify", help="correct one case's subject details everywhere")
    rectify.add_argument("--case", required=True)
    rectify.add_argument("--reason", required=True,
                         help="why (the request or the evidence it rests on); audited")
    rectify.add_argument("--set", dest="corrections", action="append", default=[],
                         metavar="subject.FIELD=VALUE",
                         help="a corrected detail; an empty VALUE clears an optional one")
    for p in (erase, retention, rectify):
        add_kafka_options(p)
        p.add_argument("--operator", required=True, help="who acts; audited in their name")
        p.add_argument("--database", default=None,
                       help="the audit store, as its erasure role (default "
                            "$MASH_ERASURE_DATABASE_URL)")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    try:
        # Corrections are checked before anything is read or connected to.
        corrections = (parse_corrections(args.corrections, utcnow().date())
                       if args.command == "rectify" else {})
        keys = AuditKeys.from_env()
        if keys is None:
            raise ConfigError("no audit keys: set MASH_AUDIT_KEYS_FILE (or MASH_AUDIT_KEYS)")
        url = args.database or os.environ.get("MASH_ERASURE_DATABASE_URL")
        store = AuditStore(open_engine(url), keys) if url else None
        eraser = Eraser(kafka_from_args(args), load_hub_config(), store, keys)
        if args.command == "rectify":
            fixed = eraser.rectify(args.case, operator=args.operator, reason=args.reason,
                                   corrections=corrections)
            print("\n".join(fixed.lines()))
            if store is None:
                print("audit store not given (--database): its events were NOT redacted")
            return 0
        if args.command == "erase":
            reports = eraser.erase(args.case, operator=args.operator, reason=args.reason)
        else:
            days = args.older_than_days
            if days is None:
                days = load_retention(args.policy).case_data_days
            cases = eraser.expired_cases(timedelta(days=days))
            print(f"{len(cases)} case(s) past {days:g} days")
            reports = eraser.erase(cases, operator=args.operator, retention=True,
                                   reason=f"retention period of {days:g} days over")
        for report in reports:
            print("\n".join(report.lines()))
        if store is None:
            print("audit store not given (--database): its events were NOT redacted")
    except (MashError, KafkaException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
