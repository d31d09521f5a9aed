"""deploy/k8s: the committed manifests are what config/ renders, and they are valid.

The core resources (Namespace, Deployment, PodDisruptionBudget, NetworkPolicy) are checked
offline against the Kubernetes OpenAPI schemas that kubernetes-validate ships, strictly (an
unknown field fails). The Strimzi resources are checked by Strimzi's own model
(tests/integration/java/test_strimzi_manifests.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mash_common.access import access_model
from mash_common.access.strimzi import API_VERSION as STRIMZI_API
from mash_common.deploy import k8s
from mash_common.hubconfig import load_hub_config
from mash_common.topics import TopicNames, topic_specs

ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = ROOT / "deploy" / "k8s"
KUBERNETES = "1.33.0"  # the oldest release still supported upstream when this was written


def _docs() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S_DIR.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def _of(kind: str) -> list[dict[str, Any]]:
    return [d for d in _docs() if d["kind"] == kind]


def test_the_committed_manifests_are_what_config_renders() -> None:
    rendered = k8s.render(k8s.load_k8s_config(), load_hub_config())
    assert k8s.drift(rendered, K8S_DIR) == [], (
        "regenerate: mash-k8s --write deploy/k8s")


def test_check_fails_on_an_edited_a_missing_or_a_stray_file(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert k8s.main(["--write", str(tmp_path)]) == 0
    assert k8s.main(["--check", str(tmp_path)]) == 0
    topics = tmp_path / "20-topics.yaml"
    topics.write_text(topics.read_text().replace("replicas: 3", "replicas: 1", 1))
    assert k8s.main(["--check", str(tmp_path)]) == 1
    assert "20-topics.yaml: differs" in capsys.readouterr().err
    assert k8s.main(["--write", str(tmp_path)]) == 0
    (tmp_path / "40-routing.yaml").unlink()
    (tmp_path / "99-extra.yaml").write_text("{}\n")
    assert k8s.main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "40-routing.yaml: missing" in err and "99-extra.yaml: not rendered" in err


@pytest.mark.parametrize("doc", [d for d in _docs() if d["apiVersion"] != STRIMZI_API],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_core_resources_are_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_schema_check_rejects_an_unknown_field() -> None:
    deployment = _of("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_every_topic_of_the_design_is_replicated_three_times_two_in_sync() -> None:
    hub = load_hub_config()
    planned = {s.name: s for s in topic_specs(TopicNames(""), sorted(hub.agencies),
                                              hub.outcome_recipients, sorted(hub.source_systems))}
    topics = {t["spec"]["topicName"]: t["spec"] for t in _of("KafkaTopic")}
    assert set(topics) == set(planned)
    for name, spec in topics.items():
        assert spec["partitions"] == planned[name].partitions
        assert spec["replicas"] == 3
        assert spec["config"] == {**planned[name].config, "min.insync.replicas": "2"}


def test_the_cluster_is_kraft_three_brokers_tls_scram_and_acls_only() -> None:
    (kafka,) = _of("Kafka")
    (pool,) = _of("KafkaNodePool")
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["allow.everyone.if.no.acl.found"] is False
    assert config["auto.create.topics.enable"] is False
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)


def test_one_kafka_user_per_principal_with_the_access_models_acls() -> None:
    users = {u["metadata"]["name"]: u for u in _of("KafkaUser")}
    principals = access_model(TopicNames(""), load_hub_config())
    assert set(users) == {p.user for p in principals}
    for user in users.values():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["acls"], user["metadata"]["name"]


def test_each_component_runs_as_its_principal_with_probes_limits_and_a_budget() -> None:
    config = k8s.load_k8s_config()
    deployments = {d["metadata"]["name"]: d for d in _of("Deployment")}
    budgets = {b["metadata"]["name"]: b for b in _of("PodDisruptionBudget")}
    policies = {p["metadata"]["name"]: p for p in _of("NetworkPolicy")}
    users = {u["metadata"]["name"] for u in _of("KafkaUser")}
    expected = set(config.components) - {n.split(" ")[0] for n in
                                         k8s.missing_principals(config, load_hub_config())}
    assert set(deployments) == expected
    assert {"intake", "enrichment", "routing", "lag-exporter"} <= expected
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        user = env["MASH_KAFKA_SASL_USERNAME"]["value"]
        assert user in users
        # The password by reference to the Secret Strimzi's User Operator makes, never a value.
        assert env["MASH_KAFKA_SASL_PASSWORD"] == {
            "name": "MASH_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": user, "key": "password"}}}
        assert env["MASH_KAFKA_PROFILE"]["value"] == "production"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        ca = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert ca[0]["secret"]["secretName"] == "mash-cluster-ca-cert"
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]
        assert policies[name]["spec"]["podSelector"] == deployment["spec"]["selector"]
        assert pod_labels_match(policies["mash-default-deny"], deployment)
    assert set(policies) == set(deployments) | {"mash-default-deny"}
    assert policies["mash-default-deny"]["spec"]["policyTypes"] == ["Ingress", "Egress"]


def pod_labels_match(policy: dict[str, Any], deployment: dict[str, Any]) -> bool:
    """Whether the policy's podSelector (matchExpressions Exists only) selects the pods."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]
    assert set(selector) == {"matchExpressions"}
    return all(e["operator"] == "Exists" and e["key"] in labels for e in selector["matchExpressions"])


def test_the_brokers_are_not_under_the_hubs_default_deny() -> None:
    # Strimzi copies the Kafka resource's labels onto the broker pods.
    (kafka,) = _of("Kafka")
    (pool,) = _of("KafkaNodePool")
    fake = {"spec": {"template": {"metadata": {"labels": {
        **kafka["metadata"]["labels"], **pool["metadata"]["labels"]}}}}}
    (deny,) = [p for p in _of("NetworkPolicy") if p["metadata"]["name"] == "mash-default-deny"]
    assert not pod_labels_match(deny, fake)


def test_no_manifest_holds_a_secret_value() -> None:
    text = "\n".join(p.read_text() for p in K8S_DIR.glob("*.yaml"))
    assert "kind: Secret\n" not in text
    for line in text.splitlines():
        assert not line.strip().startswith(("password:", "sasl.jaas.config:")), line


def test_the_audit_store_is_rendered_once_the_access_model_has_its_principal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Its principal arrives with the audit store's service (issue #13's branch); until then
    # the component is listed in config/k8s.yaml and left out. Given the principal, it renders
    # with its database secret by reference and its database port, and validates.
    from mash_common.access import Grant, Kind, Op, Pattern, Principal, Resource

    hub = load_hub_config()
    store = Principal("service.auditstore", Kind.SERVICE, "auditstore", "keeps mash.audit",
                      "mash-auditstore", (Grant(Resource.TOPIC, Pattern.LITERAL, "mash.audit", Op.READ),))
    real = k8s.access_model
    monkeypatch.setattr(k8s, "access_model",
                        lambda names, hub_config: [*real(names, hub_config), store])
    config = k8s.load_k8s_config()
    assert k8s.missing_principals(config, hub) == []
    rendered = k8s.render(config, hub)
    docs = [d for d in yaml.safe_load_all(rendered["40-auditstore.yaml"]) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    (container,) = docs[0]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "mash_hub.services.auditstore"]
    assert container["envFrom"] == [{"secretRef": {"name": "mash-auditstore"}}]
    policies = {p["metadata"]["name"]: p for p in yaml.safe_load_all(rendered["50-network-policies.yaml"]) if p}
    assert {"protocol": "TCP", "port": 5432} in policies["auditstore"]["spec"]["egress"][-1]["ports"]
    assert "service.auditstore" in rendered["30-users.yaml"]
