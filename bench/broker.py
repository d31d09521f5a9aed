"""The cluster the benchmarks run on, and who each party is on it.

By default the benchmarks start a broker of their own (home var/bench-kafka, free ports),
secured like every other (SASL_SSL with SCRAM-SHA-512, StandardAuthorizer, nothing allowed
by default) and with a PLAINTEXT listener as well, so that B1 can measure what TLS and
SCRAM cost in the same run. On the PLAINTEXT listener every client is User:ANONYMOUS; the
bench grants it, for one run's prefix, the same ACLs that run's principals have on the
secured listener, so the authorizer does comparable work on both. `--broker dev` uses the
development broker (or the cluster of MASH_KAFKA_CLIENT_CONFIG) instead; it has no
plaintext listener, so B1's plaintext leg is skipped there.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from mash_common.access import Grant, Kind, Op, Pattern, Principal, Resource, access_model
from mash_common.access.admin import acl_binding, apply_access, client_config_path, remove_access
from mash_common.hubconfig import HubConfig, load_hub_config
from mash_common.provision import provision
from mash_common.settings import KafkaSettings, SecurityProtocol
from mash_hub.bench.machine import free_port
from mash_hub.demo.access import SecuredHub, delete_prefix
from mash_hub.demo.pipeline import Broker, _local_kafka
from mash_hub.demo.processes import ROOT

logger = logging.getLogger(__name__)

Say = Callable[[str], None]
BENCH_HOME = ROOT / "var" / "bench-kafka"
DEV_HOME = ROOT / "var" / "kafka"
ANONYMOUS = "ANONYMOUS"  # Kafka's principal for a client of a PLAINTEXT listener


class Leg(StrEnum):
    """How the clients of one measurement reach the broker."""

    SECURED = "SASL_SSL"
    PLAINTEXT = "PLAINTEXT"


@dataclass
class BenchBroker:
    admin: KafkaSettings  # the super user on the secured listener, no prefix
    home: Path | None  # the local broker's home (None: a cluster named by a client config)
    plaintext_bootstrap: str | None = None
    started_here: bool = False
    _shared: Broker | None = None

    @classmethod
    def own(cls, say: Say, home: Path = BENCH_HOME) -> BenchBroker:
        """The bench's own local broker with a PLAINTEXT listener, started if need be."""
        local_kafka = _local_kafka()
        current = local_kafka.status(home)
        if current.running and current.plaintext_port and local_kafka.is_running(home):
            say(f"Bench broker already running on {current.bootstrap} (PLAINTEXT on "
                f"{current.plaintext_port})")
            return cls(KafkaSettings(client_config=local_kafka.admin_client_config(home)), home,
                       f"127.0.0.1:{current.plaintext_port}", started_here=False)
        # Every run starts from empty storage (reset keeps the jars and the CA): runs are then
        # comparable, and nothing of an earlier run (topics, users, ACLs) is left to skew one.
        # Restarting a home a full run had used once refused the admin's SCRAM login.
        local_kafka.reset(home)
        _share_jars(home)
        port, plaintext = free_port(), free_port()
        local_kafka.start(port=port, home=home, plaintext_port=plaintext, progress=say)
        return cls(KafkaSettings(client_config=local_kafka.admin_client_config(home)), home,
                   f"127.0.0.1:{plaintext}", started_here=True)

    @classmethod
    def shared(cls, say: Say) -> BenchBroker:
        """The development broker (or MASH_KAFKA_CLIENT_CONFIG's cluster); no plaintext leg."""
        broker = Broker.ensure(say)
        home = None if os.environ.get("MASH_KAFKA_CLIENT_CONFIG") else DEV_HOME
        return cls(broker.admin, home, None, started_here=broker.started_here, _shared=broker)

    @property
    def bootstrap(self) -> str:
        return self.admin.bootstrap_servers

    def pid(self) -> int | None:
        if self.home is None:
            return None
        status = _local_kafka().status(self.home)
        return status.pid if status.running else None

    def version(self) -> str:
        """The Kafka version the local broker runs, from its kafka-server jar."""
        if self.home is None:
            return "unknown (external cluster)"
        jars = sorted((self.home / "jars").glob("kafka-server-[0-9]*.jar"))
        return jars[0].stem.removeprefix("kafka-server-") if jars else "unknown"

    def plaintext(self, prefix: str = "") -> KafkaSettings:
        """A User:ANONYMOUS client on the PLAINTEXT listener."""
        if self.plaintext_bootstrap is None:
            raise RuntimeError("this broker has no plaintext listener (use the bench's own broker)")
        return KafkaSettings(bootstrap_servers=self.plaintext_bootstrap, topic_prefix=prefix,
                             security_protocol=SecurityProtocol.PLAINTEXT)

    def stop(self, say: Say) -> None:
        if self._shared is not None:
            self._shared.stop(say)
        elif self.started_here and self.home is not None:
            say("Stopping the bench's broker")
            _local_kafka().stop(self.home)


def _share_jars(home: Path) -> None:
    """Hard-link the development broker's jars into the bench's home (same Kafka version),
    so a first bench run need not fetch them with Maven again."""
    jars, dev = home / "jars", DEV_HOME / "jars"
    if (jars / ".kafka-version").is_file() or not (dev / ".kafka-version").is_file():
        return
    home.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(jars, ignore_errors=True)
    try:
        shutil.copytree(dev, jars, copy_function=os.link)
    except OSError:
        shutil.rmtree(jars, ignore_errors=True)
        shutil.copytree(dev, jars)


# ACLs for User:ANONYMOUS --------------------------------------------------------------------


def _key(b: AclBinding) -> tuple[object, ...]:
    return (b.restype, b.name, b.resource_pattern_type, b.principal, b.operation, b.permission_type)


def grant_anonymous(admin: KafkaSettings, grants: Iterable[Grant], timeout_s: float = 30.0) -> list[AclBinding]:
    """Allow User:ANONYMOUS what the grants allow; returns the bindings (to revoke later).
    Waits until the broker lists them, as apply_access does for its principals."""
    bindings = [acl_binding(ANONYMOUS, g) for g in sorted(set(grants))]
    client = AdminClient(admin.confluent_config())
    for future in client.create_acls(bindings, request_timeout=timeout_s).values():
        future.result(timeout_s)
    wanted = {_key(b) for b in bindings}
    anyone = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{ANONYMOUS}",
                              None, AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            listed = {_key(b) for b in client.describe_acls(anyone, request_timeout=timeout_s).result(timeout_s)}
        except KafkaException:
            listed = set()
        if wanted <= listed:
            return bindings
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker does not list {len(wanted - listed)} ACLs of User:ANONYMOUS")
        time.sleep(0.1)  # KRaft applies committed metadata within milliseconds


def revoke(admin: KafkaSettings, bindings: list[AclBinding], timeout_s: float = 30.0) -> None:
    if not bindings:
        return
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                b.operation, b.permission_type) for b in bindings]
    client = AdminClient(admin.confluent_config())  # held until the futures are done
    try:
        for future in client.delete_acls(filters, request_timeout=timeout_s).values():
            future.result(timeout_s)
    except KafkaException as exc:  # cleanup only: the figures stand either way
        logger.warning("could not remove User:ANONYMOUS's ACLs: %s", exc.args[0].str())


# a hub on the plaintext listener ------------------------------------------------------------


@dataclass
class PlaintextHub(SecuredHub):
    """A hub prefix whose every party connects as User:ANONYMOUS over PLAINTEXT.

    The topics are the same as a secured hub's; instead of one SCRAM user per party,
    ANONYMOUS holds the union of the grants the parties would have (no SCRAM users are
    made, so the only ACLs on the prefix are these)."""

    plain: KafkaSettings = field(kw_only=True)
    bindings: list[AclBinding] = field(kw_only=True, default_factory=list)

    @classmethod
    def create_plaintext(cls, admin: KafkaSettings, plain: KafkaSettings, clients_dir: Path,
                         hub: HubConfig | None = None) -> PlaintextHub:
        hub = hub or load_hub_config()
        report = provision(admin, hub)
        principals = access_model(admin.topics, hub, test_tools=True)  # as SecuredHub.create
        bindings = grant_anonymous(admin, [g for p in principals for g in p.grants])
        return cls(admin, hub, clients_dir, principals, report, plain=plain, bindings=bindings)

    def settings(self, kind: Kind, party: str) -> KafkaSettings:
        self.principal(kind, party)  # the party must exist, as on the secured hub
        return self.plain

    def env(self, kind: Kind, party: str) -> dict[str, str]:
        # No MASH_KAFKA_CLIENT_CONFIG: a client config, when set, wins over the environment.
        return {
            "MASH_KAFKA_SECURITY_PROTOCOL": SecurityProtocol.PLAINTEXT.value,
            "MASH_KAFKA_BOOTSTRAP_SERVERS": self.plain.bootstrap_servers,
            "MASH_KAFKA_TOPIC_PREFIX": self.admin.topic_prefix,
        }

    def teardown(self) -> None:
        delete_prefix(self.admin)
        revoke(self.admin, self.bindings)


def create_hub(broker: BenchBroker, leg: Leg, prefix: str, clients_dir: Path) -> SecuredHub:
    """A fresh hub prefix on the broker, every party connecting as itself on that leg."""
    admin = broker.admin.with_prefix(prefix)
    if leg is Leg.SECURED:
        return SecuredHub.create(admin, clients_dir)
    return PlaintextHub.create_plaintext(admin, broker.plaintext(prefix), clients_dir)


# the plain client loops ---------------------------------------------------------------------


@dataclass
class LoopClients:
    """One principal for the plain confluent-kafka loops (B1's baseline, B2's echo probe):
    read, write and join groups on topics under its own prefix, like a pipeline principal
    (not the super user, whom the authorizer waves through). On the plaintext listener
    ANONYMOUS gets the same grants."""

    broker: BenchBroker
    prefix: str
    clients_dir: Path
    _principal: Principal | None = None
    _bindings: list[AclBinding] = field(default_factory=list)

    def _grants(self) -> tuple[Grant, ...]:
        topic = [Grant(Resource.TOPIC, Pattern.PREFIXED, self.prefix, op) for op in (Op.READ, Op.WRITE)]
        group = [Grant(Resource.GROUP, Pattern.PREFIXED, self.prefix, op) for op in (Op.READ, Op.DESCRIBE)]
        return (*topic, *group)

    def settings(self, leg: Leg) -> KafkaSettings:
        if leg is Leg.PLAINTEXT:
            if not self._bindings:
                self._bindings = grant_anonymous(self.broker.admin, self._grants())
            return self.broker.plaintext()
        if self._principal is None:
            principal = Principal(f"{self.prefix}bench-loop", Kind.TOOL, "bench-loop",
                                  "benchmarks: plain client loops", self.prefix, self._grants())
            apply_access(self.broker.admin, [principal], self.clients_dir)
            self._principal = principal
        return self.broker.admin.as_principal(client_config_path(self.clients_dir, self._principal.user))

    def teardown(self) -> None:
        delete_prefix(self.broker.admin.with_prefix(self.prefix))
        revoke(self.broker.admin, self._bindings)
        if self._principal is not None:
            try:
                remove_access(self.broker.admin, [self._principal.user])
            except Exception as exc:  # cleanup only
                logger.warning("could not remove %s: %s", self._principal.user, type(exc).__name__)
