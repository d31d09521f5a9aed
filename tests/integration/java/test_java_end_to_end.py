"""The Java reference client in the real pipeline.

A referral goes in; intake, enrichment and routing run as worker processes; the Java
adapter answers police's requests (the other agencies are simulated); the Java hub system
decides; the referrer's outcome topic receives the DECISION.

Every party connects to the secured broker as its own principal: the Java processes take
the librdkafka client-config files `mash-access` wrote for the police
adapter and the case-management hub system.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mash_common.access import Kind
from mash_common.contracts import AssembledCase, Decision, NotificationKind, OutcomeNotification
from mash_common.serde import AvroSerde
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_sdk.simulated.agency import SIX_AGENCIES, run_agencies
from tests.support.factories import referral
from tests.support.java import JAVA_READY, java_client
from tests.support.kafka import TopicReader, produce_records
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

JAVA_AGENCY = "police"
HUB_ID = "case-management"


def test_java_adapter_answers_and_java_hub_decides(
    provisioned: KafkaSettings, secured_hub: SecuredHub, tmp_path: Path
) -> None:
    kafka = provisioned
    java = java_client()
    prefix = ["--prefix", kafka.topic_prefix]
    adapter = ServiceProcess(
        "java-adapter",
        java.command("adapter", "--agency", JAVA_AGENCY,
                     "--response-topic", kafka.topics.responses(JAVA_AGENCY), *prefix,
                     "--client-config", str(secured_hub.client_config(Kind.AGENCY, JAVA_AGENCY)))[1:],
        {}, tmp_path, program=java.java)
    hub = ServiceProcess(
        "java-hub",
        java.command("hub", "--hub-id", HUB_ID, *prefix,
                     "--client-config", str(secured_hub.client_config(Kind.HUB, HUB_ID)))[1:],
        {}, tmp_path, program=java.java)
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=60, due_amber_s=60, due_green_s=60,
        metrics_ports={}))
    others = [a for a in SIX_AGENCIES if a != JAVA_AGENCY]
    sent = referral(f"REF-JAVA-{uuid.uuid4().hex[:8]}")
    serde = AvroSerde()
    agencies = None
    try:
        pipeline.start(lambda _: None)
        with adapter.running(JAVA_READY, timeout_s=90), hub.running(JAVA_READY, timeout_s=90):
            agencies = run_agencies({a: secured_hub.agency(a) for a in others}, others,
                                    profile="instant")
            outcomes = kafka.topics.outcomes(sent.source_system)
            with TopicReader(kafka, [outcomes, kafka.topics.assembled,
                                     kafka.topics.decisions]) as reader:
                produce_records(secured_hub.source(sent.source_system),
                                kafka.topics.referrals(sent.source_system),
                                [(sent.referral_id, sent)])

                def told_decision(got: list) -> bool:
                    # The referrer told, and the Java hub's decision read too: the reader's
                    # three topics arrive in no particular order.
                    told = any(
                        r.topic == outcomes
                        and (n := serde.decode(r.value, OutcomeNotification)).kind
                        is NotificationKind.DECISION
                        and n.referral_id == sent.referral_id
                        for r in got
                    )
                    return told and any(r.topic == kafka.topics.decisions for r in got)

                received = reader.poll_until(told_decision, timeout_s=120)
    finally:
        if agencies is not None:
            agencies.stop()
        pipeline.stop()

    cases = [serde.decode(r.value, AssembledCase) for r in received
             if r.topic == kafka.topics.assembled and r.value is not None]
    case = next(c for c in cases if sent.referral_id in c.referral_ids)
    police = [c for c in case.contributions if c.agency == JAVA_AGENCY]
    assert police and police[0].responder.name == "Java reference adapter"
    decisions = [serde.decode(r.value, Decision) for r in received
                 if r.topic == kafka.topics.decisions and r.value is not None]
    decision = next(d for d in decisions if d.case_id == case.case_id)
    assert decision.decided_by == f"java-reference-hub {HUB_ID}"
    for process in (adapter, hub):  # personal data never reaches a log line
        assert sent.subject.nhs_number and sent.subject.nhs_number not in process.log_text()
