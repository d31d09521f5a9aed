"""The access model as Strimzi KafkaUser resources (kafka.strimzi.io/v1beta2).

The same principals and grants `mash-access` applies through the Admin
API, for a cluster that Strimzi's User Operator manages: SCRAM-SHA-512 authentication and
`simple` authorisation, one ACL rule per resource pattern with its operations. The User
Operator creates each user's password in a Secret of the user's name.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mash_common.access import Grant, Op, Pattern, Principal, Resource

API_VERSION = "kafka.strimzi.io/v1beta2"

_RESOURCE = {Resource.TOPIC: "topic", Resource.GROUP: "group",
             Resource.TRANSACTIONAL_ID: "transactionalId"}
_OPERATION = {Op.READ: "Read", Op.WRITE: "Write", Op.CREATE: "Create",
              Op.DESCRIBE: "Describe", Op.DESCRIBE_CONFIGS: "DescribeConfigs"}


def _rules(grants: tuple[Grant, ...]) -> list[dict[str, Any]]:
    by_resource: dict[tuple[Resource, Pattern, str], list[Op]] = defaultdict(list)
    for grant in grants:
        by_resource[(grant.resource, grant.pattern, grant.name)].append(grant.op)
    rules = []
    for (resource, pattern, name), ops in sorted(by_resource.items()):
        rules.append({
            "resource": {"type": _RESOURCE[resource], "name": name, "patternType": pattern.value},
            "operations": sorted(_OPERATION[op] for op in ops),
            "host": "*",
        })
    return rules


def kafka_user(principal: Principal, cluster: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": principal.user,
        "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "mash-hub",
                   "mash-hub/kind": principal.kind.value},
        "annotations": {"mash-hub/role": principal.role},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": metadata,
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": _rules(principal.grants)},
        },
    }


def kafka_users(principals: list[Principal], cluster: str,
                namespace: str | None = None) -> list[dict[str, Any]]:
    """One KafkaUser per principal, in the model's order."""
    return [kafka_user(p, cluster, namespace) for p in principals]
