"""Every topic that holds a case's personal data has a bounded retention or is erased by
tombstones, and the hub's retention policy loads with its reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from mash_common.retention import load_retention
from mash_common.topics import TopicNames, topic_specs


def test_the_shipped_policy_loads_and_gives_reasons() -> None:
    policy = load_retention()
    assert 0 < policy.case_data_days < policy.audit_store_years * 365
    assert policy.case_data_why and policy.audit_store_why


def test_a_policy_without_reasons_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text("version: x\ncase_data_days: 10\ncase_data_why: ''\n"
                    "audit_store_years: 1\naudit_store_why: because we always did\n")
    with pytest.raises(ConfigError, match="case_data_why"):
        load_retention(path)


def test_every_topic_expires_or_is_compacted_with_a_reason() -> None:
    hub = load_hub_config()
    for spec in topic_specs(TopicNames(""), sorted(hub.agencies), hub.outcome_recipients,
                            sorted(hub.source_systems)):
        assert spec.why
        compacted = spec.config.get("cleanup.policy") == "compact"
        retention = int(spec.config.get("retention.ms", "0"))
        # The audit topic is kept until the audit store has it (and the store holds no
        # names); every other topic expires, or is compacted so tombstones erase it.
        assert compacted or retention > 0 or spec.name == "mash.audit", spec.name
