"""The access model expressed as Strimzi KafkaUser resources, grant for grant."""

from __future__ import annotations

import re

from mash_common.access import Op, Pattern, Resource, access_model
from mash_common.access.strimzi import kafka_users
from mash_common.hubconfig import load_hub_config
from mash_common.topics import TopicNames

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def test_every_principal_is_a_scram_kafka_user_with_exactly_its_grants() -> None:
    principals = access_model(TopicNames(""), load_hub_config())
    users = kafka_users(principals, cluster="mash", namespace="mash-hub")
    assert len(users) == len(principals)
    back = {"topic": Resource.TOPIC, "group": Resource.GROUP,
            "transactionalId": Resource.TRANSACTIONAL_ID}
    ops = {"Read": Op.READ, "Write": Op.WRITE, "Create": Op.CREATE, "Describe": Op.DESCRIBE,
           "DescribeConfigs": Op.DESCRIBE_CONFIGS}
    for principal, user in zip(principals, users, strict=True):
        assert user["apiVersion"] == "kafka.strimzi.io/v1beta2" and user["kind"] == "KafkaUser"
        assert user["metadata"]["name"] == principal.user
        assert DNS_SUBDOMAIN.match(principal.user) and len(principal.user) <= 253
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "mash"
        spec = user["spec"]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        assert spec["authorization"]["type"] == "simple"
        expressed = {
            (back[rule["resource"]["type"]], Pattern(rule["resource"]["patternType"]),
             rule["resource"]["name"], ops[op])
            for rule in spec["authorization"]["acls"] for op in rule["operations"]
        }
        assert expressed == {(g.resource, g.pattern, g.name, g.op) for g in principal.grants}
