"""A hub's topics and principals on a secured cluster, for the demo, the benchmarks and tests.

One call provisions the topics of a hub prefix and its principals (SCRAM users, ACLs, one
client config each, 0600); every party then connects as itself, so the demo and the tests
run with the same least privilege as production. The administrator's settings are used
for provisioning only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from mash_common.access import Kind, Principal, access_model, by_party
from mash_common.access.admin import apply_access, client_config_path, remove_access
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.provision import ProvisionReport, provision
from mash_common.settings import KafkaSettings

logger = logging.getLogger(__name__)


@dataclass
class SecuredHub:
    """A provisioned hub prefix: topics, principals and where their client configs are."""

    admin: KafkaSettings  # the super user, with the hub's topic prefix
    hub: HubConfig
    clients_dir: Path
    principals: list[Principal]
    topics: ProvisionReport

    @classmethod
    def create(cls, admin: KafkaSettings, clients_dir: Path, hub: HubConfig | None = None,
               *, test_tools: bool = True) -> SecuredHub:
        hub = hub or load_hub_config()
        report = provision(admin, hub)
        principals = access_model(admin.topics, hub, test_tools=test_tools)
        apply_access(admin, principals, clients_dir)
        return cls(admin, hub, clients_dir, principals, report)

    def principal(self, kind: Kind, party: str) -> Principal:
        return by_party(self.principals, kind, party)

    def client_config(self, kind: Kind, party: str) -> Path:
        return client_config_path(self.clients_dir, self.principal(kind, party).user)

    def settings(self, kind: Kind, party: str) -> KafkaSettings:
        """The hub's cluster and prefix, connecting as that party."""
        return self.admin.as_principal(self.client_config(kind, party))

    def service(self, name: str) -> KafkaSettings:
        return self.settings(Kind.SERVICE, name)

    def agency(self, agency: str) -> KafkaSettings:
        return self.settings(Kind.AGENCY, agency)

    def source(self, source: str) -> KafkaSettings:
        return self.settings(Kind.SOURCE, source)

    def hub_system(self, system: str | None = None) -> KafkaSettings:
        return self.settings(Kind.HUB, system or sorted(self.hub.hub_systems)[0])

    @property
    def ops_reader(self) -> KafkaSettings:
        return self.settings(Kind.OPS, "reader")

    @property
    def ops_replay(self) -> KafkaSettings:
        return self.settings(Kind.OPS, "replay")

    @property
    def contract_kit(self) -> KafkaSettings:
        return self.settings(Kind.TOOL, "contract-kit")

    def env(self, kind: Kind, party: str) -> dict[str, str]:
        """Environment for a process that connects as that party."""
        return {
            "MASH_KAFKA_CLIENT_CONFIG": str(self.client_config(kind, party)),
            "MASH_KAFKA_TOPIC_PREFIX": self.admin.topic_prefix,
        }

    def teardown(self) -> None:
        """Delete the hub's topics (its own and its workers' internal ones) and principals,
        so a long-lived broker does not accumulate them across runs."""
        delete_prefix(self.admin)
        try:
            remove_access(self.admin, [p.user for p in self.principals])
        except Exception as exc:  # cleanup only: the run's verdict stands either way
            warnings.warn(f"could not remove the principals of {self.admin.topic_prefix}: "
                          f"{type(exc).__name__}", stacklevel=1)


def delete_prefix(admin: KafkaSettings) -> None:
    if not admin.topic_prefix:
        raise ValueError("refusing to delete every topic of a hub without a prefix")
    client = AdminClient(admin.confluent_config())
    try:
        names = [t for t in client.list_topics(timeout=10).topics if t.startswith(admin.topic_prefix)]
        if names:
            for future in client.delete_topics(names, operation_timeout=30).values():
                future.result(30)
    except KafkaException as exc:
        warnings.warn(f"could not delete topics of {admin.topic_prefix}: {exc}", stacklevel=1)
