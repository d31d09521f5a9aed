"""Each service creates its internal topics before its worker joins the group.

Left to faust on a busy broker, the group could be assigned before they were listed, and
faust's assignor skipped them: intake's link topic then went unconsumed for minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from prometheus_client import CollectorRegistry

from mash_common.settings import KafkaSettings
from mash_common.streams import ensure_internal_topics, internal_topics
from mash_hub.services.intake.app import create_app
from mash_hub.services.intake.settings import IntakeSettings

pytestmark = pytest.mark.integration


def test_intake_internal_topics_exist_before_the_worker_starts(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    app = create_app(IntakeSettings(kafka=kafka_settings, datadir=tmp_path), CollectorRegistry())
    wanted = internal_topics(app)
    prefix = kafka_settings.topic_prefix
    assert f"{prefix}mash-intake-link" in wanted
    assert f"{prefix}mash-intake-referrals-seen-changelog" in wanted

    created = ensure_internal_topics(app, kafka_settings)
    assert sorted(created) == sorted(wanted)
    admin = AdminClient(kafka_settings.confluent_config())
    listed = admin.list_topics(timeout=10).topics
    for name, (partitions, _) in wanted.items():
        assert len(listed[name].partitions) == partitions == 6
    changelog = ConfigResource("topic", f"{prefix}mash-intake-cases-changelog")
    config = admin.describe_configs([changelog])[changelog].result(10)
    assert config["cleanup.policy"].value == "compact"
    assert ensure_internal_topics(app, kafka_settings) == []  # idempotent
