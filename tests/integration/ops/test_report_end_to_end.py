"""The monitoring report from a real pipeline run on the secured broker, read as ops.reader.

Referrals go through intake, enrichment and routing as worker processes; simulated agencies
answer (probation never does, so its cases go PARTIAL at their deadline); the simulated hub
decides. The report's figures must equal what was sent and what the topics hold, read
independently with the administrator's consumer.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from mash_common.access import Kind
from mash_common.contracts import AssembledCase, Completeness, Rag, TriagedReferral
from mash_common.serde import AvroSerde
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.observer import Observer
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.synthetic import referral_stream
from mash_ops.reading import read_topics
from mash_ops.report.__main__ import main as report_main
from mash_ops.report.document import validate
from mash_ops.report.events import Events, KafkaEventSource
from mash_ops.report.figures import ReportOptions, compute
from mash_ops.report.tables import ALL
from mash_sdk.simulated.agency import Behaviour, Profile, run_agencies

pytestmark = pytest.mark.integration

PROFILE = Profile(agencies={"probation": Behaviour(silence_rate=1.0)})


def test_report_of_a_real_run_equals_what_the_topics_hold(
    secured_hub: SecuredHub, tmp_path: Path
) -> None:
    kafka = secured_hub.admin
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=6, due_amber_s=8, due_green_s=10, metrics_ports={}))
    items = list(referral_stream(20, seed=5, reject_share=0.1, run_tag="rep"))
    expected = {i.referral.referral_id: i.expect_rejected for i in items if i.referral}
    agencies = hub = observer = None
    try:
        pipeline.start(lambda _: None)
        agencies = run_agencies({a: secured_hub.agency(a) for a in sorted(secured_hub.hub.agencies)},
                                profile=PROFILE)
        hub = HubSystem(secured_hub.hub_system()).start()
        observer = Observer(secured_hub.ops_reader).start()
        serde = AvroSerde()
        producers = {s: Producer(secured_hub.source(s).producer_config())
                     for s in secured_hub.hub.source_systems}
        producers["public-portal"].produce(kafka.topics.referrals("public-portal"), key=b"junk",
                                           value=b"\x00not avro")
        for item in items:
            assert item.referral is not None
            source = item.referral.source_system
            observer.note_sent(item.referral.referral_id, source)
            producers[source].produce(kafka.topics.referrals(source),
                                      key=item.referral.referral_id.encode(),
                                      value=serde.encode(item.referral))
        assert all(p.flush(30) == 0 for p in producers.values())
        deadline = time.monotonic() + 120
        while (outstanding := observer.outstanding(expected)) and time.monotonic() < deadline:
            time.sleep(0.5)  # between looks; completion is re-checked each time
        assert outstanding == [], f"not through: {outstanding}"
    finally:
        for part in (observer, hub, agencies):
            if part is not None:
                part.stop()
        pipeline.stop()

    out = tmp_path / "report"
    today = datetime.now(UTC).date()
    code = report_main([
        "hub", "--client-config", str(secured_hub.client_config(Kind.OPS, "reader")),
        "--prefix", kafka.topic_prefix, "--from", (today - timedelta(days=1)).isoformat(),
        "--to", today.isoformat(), "--timescale", "RED=6s", "--timescale", "AMBER=8s",
        "--timescale", "GREEN=10s", "--no-working-hours", "--out", str(out),
        "--unsuppressed-json", str(tmp_path / "raw.json")])
    assert code == 0
    published = json.loads((out / "report.json").read_text())
    validate(published)
    raw = json.loads((tmp_path / "raw.json").read_text())
    validate(raw)
    assert len(list(out.glob("*.png"))) == 7 and (out / "report.html").exists()

    def table(table_id: str) -> dict[tuple[str, ...], dict[str, int]]:
        t = next(t for t in raw["tables"] if t["id"] == table_id)
        return {tuple(r["labels"][d] for d in t["dimensions"]): r["values"] for r in t["rows"]}

    # What the topics hold, read independently as the administrator.
    triaged = [serde.decode(r.value, TriagedReferral)
               for r in read_topics(kafka, list(kafka.topics.triaged_lanes)) if r.value]
    accepted = [i.referral for i in items if i.referral and not i.expect_rejected]
    by_source = Counter(r.source_system for r in accepted)
    systems = table("referrals_by_source_system")
    for source, n in by_source.items():
        assert systems[(source,)]["referrals"] == n
    assert systems[(ALL,)]["referrals"] == len(accepted) == len(triaged)
    mix = table("rag_mix")
    for rag, n in Counter(t.rag.value for t in triaged).items():
        assert mix[(rag,)]["referrals"] == n
    assembled = [serde.decode(r.value, AssembledCase)
                 for r in read_topics(kafka, [kafka.topics.assembled]) if r.value]
    first = {}
    for a in sorted(assembled, key=lambda a: a.version, reverse=True):
        first[a.case_id] = a
    partial = sum(1 for a in first.values() if a.completeness is Completeness.PARTIAL)
    assert partial >= 1  # probation never answers
    assert table("partial_cases")[(ALL,)]["partial"] == partial
    assert table("partial_cases")[(ALL,)]["assembled"] == len(first)
    # Every case was assembled and decided, and every referrer told.
    timing = table("timeliness")
    assert timing[("assembled", ALL)]["cases"] == len({t.case_id for t in triaged})
    assert timing[("decided", ALL)]["overdue_not_reached"] == 0
    told = table("told")[("referrer", ALL)]
    assert told["told"] == told["due_to_be_told"] == len(
        {(t.case_id, t.referral.source_system) for t in triaged})
    # Probation was asked and never answered.
    probation = table("agency_contribution")[("probation", ALL)]
    assert probation["asked"] == probation["no_response"] + probation["pending"] > 0
    assert table("deadletters")[("BAD_MARKER", ALL)]["dead_letters"] == 1
    # The published form carries no durations, and the same totals.
    assert "durations_s" not in json.dumps(published)

    # A month on, the week-long topics (triaged referrals, requests, responses) have
    # expired: rebuilt from the compacted cases and the audit trail, the figures are the same.
    events = KafkaEventSource(secured_hub.ops_reader).load()
    options = ReportOptions(
        hub_name="t", start=datetime.now(UTC) - timedelta(days=1),
        end=datetime.now(UTC) + timedelta(days=1), as_of=datetime.now(UTC),
        timescales={Rag.RED: timedelta(seconds=6), Rag.AMBER: timedelta(seconds=8),
                    Rag.GREEN: timedelta(seconds=10)},
        agencies=tuple(sorted(secured_hub.hub.agencies)),
        source_systems=tuple(sorted(secured_hub.hub.source_systems)))
    whole = {t.id: t for t in compute(events, options)}
    expired = Events(assembled=events.assembled, decisions=events.decisions,
                     outcomes=events.outcomes, deadletters=events.deadletters,
                     audit=events.audit)
    rebuilt = {t.id: t for t in compute(expired, options)}
    for table_id in ("referrals_by_source_system", "rag_mix", "agency_contribution",
                     "timeliness", "partial_cases", "told", "consent"):
        assert [(r.labels, r.counts) for r in rebuilt[table_id].rows] == [
            (r.labels, r.counts) for r in whole[table_id].rows], table_id
