"""`mash-provision --explain` is a dry run: it says what a run would create, and creates
nothing; a real run then creates exactly that, and --explain says it is all present."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient

from mash_common.hubconfig import HubConfig
from mash_common.provision import main, planned_topics
from mash_common.settings import KafkaSettings

pytestmark = pytest.mark.integration


def topics_under(kafka: KafkaSettings) -> set[str]:
    names = AdminClient(kafka.confluent_config()).list_topics(timeout=10).topics
    return {n for n in names if n.startswith(kafka.topic_prefix)}


def test_explain_changes_nothing(kafka_settings: KafkaSettings, hub_config: HubConfig,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_settings.client_config is not None
    argv = ["--client-config", str(kafka_settings.client_config),
            "--prefix", kafka_settings.topic_prefix]
    planned = {s.name for s in planned_topics(kafka_settings, hub_config)}

    assert main([*argv, "--explain"]) == 0
    out = capsys.readouterr().out
    assert topics_under(kafka_settings) == set()
    assert out.count("would create ") == len(planned)
    assert f"{len(planned)} topics would be created, 0 already present" in out

    assert main(argv) == 0
    capsys.readouterr()
    assert topics_under(kafka_settings) == planned

    assert main([*argv, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "would create " not in out
    assert f"0 topics would be created, {len(planned)} already present" in out
