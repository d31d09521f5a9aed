"""Starts the whole pipeline on one machine: the secured broker, a hub's topics and
principals, the three services as worker processes, each connecting as its own principal.
Used by the main job, the benchmarks and the end-to-end tests.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from mash_common.access import Kind
from mash_common.audittrail import new_key_file, new_signing_key
from mash_common.settings import KafkaSettings
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.processes import FAUST_READY, ROOT, ServiceProcess

AUDITSTORE_READY = "auditstore ready"  # mash_hub.services.auditstore.app.READY (no import of services)

logger = logging.getLogger(__name__)

SERVICES = ("intake", "enrichment", "routing")
METRICS_PORTS = {"intake": 9101, "enrichment": 9102, "routing": 9103, "auditstore": 9104}


def _local_kafka() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_kafka", ROOT / "deploy" / "local_kafka.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("deploy/local_kafka.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answers(admin: KafkaSettings) -> bool:
    try:
        AdminClient(admin.confluent_config()).list_topics(timeout=5)
    except KafkaException:
        return False
    return True


@dataclass
class Broker:
    """The cluster the pipeline uses, and its administrator's settings (for provisioning).

    MASH_KAFKA_CLIENT_CONFIG naming an administrator's client config selects another
    cluster; otherwise the local secured broker, started if it is not running.
    """

    admin: KafkaSettings
    started_here: bool

    @property
    def bootstrap(self) -> str:
        return self.admin.bootstrap_servers

    @classmethod
    def ensure(cls, say: Callable[[str], None]) -> Broker:
        external = os.environ.get("MASH_KAFKA_CLIENT_CONFIG")
        if external:
            admin = KafkaSettings(client_config=Path(external))
            if not _answers(admin):
                raise RuntimeError(f"the cluster of {external} does not answer")
            say(f"Using the Kafka cluster of {external} as {admin.principal}")
            return cls(admin, started_here=False)
        local_kafka = _local_kafka()
        started_here = not local_kafka.is_running()
        if started_here:
            local_kafka.start(progress=say)
        else:
            say(f"Kafka already running on {local_kafka.status().bootstrap}")
        admin = KafkaSettings(client_config=local_kafka.admin_client_config())
        return cls(admin, started_here=started_here)

    def stop(self, say: Callable[[str], None]) -> None:
        if self.started_here:
            say("Stopping the Kafka broker this run started")
            _local_kafka().stop()


@dataclass(frozen=True)
class PipelineOptions:
    """What the run configures in each service (through its environment)."""

    run_dir: Path
    due_red_s: float = 20.0
    due_amber_s: float = 30.0
    due_green_s: float = 40.0
    sweep_interval_s: float = 0.25
    metrics_ports: dict[str, int] = field(default_factory=lambda: dict(METRICS_PORTS))
    log_level: str = "info"
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # The audit store (services/auditstore) beside the three services, into this database
    # (a SQLAlchemy URL); None runs without it.
    audit_store_url: str | None = None

    @property
    def audit_keys_file(self) -> Path:
        """The run's own audit key (made at start): every service MACs its events with it."""
        return self.run_dir / "audit-keys.json"

    @property
    def bundle_public_key(self) -> Path:
        """The public half of the run's bundle signing key: verifies bundles without secrets."""
        return self.run_dir / "bundles.pub.json"

    def env(self, service: str, hub: SecuredHub) -> dict[str, str]:
        upper = service.upper()
        port = str(self.metrics_ports.get(service, 0))  # 0: no /metrics endpoint
        env = {
            **hub.env(Kind.SERVICE, service),
            "MASH_AUDIT_KEYS_FILE": str(self.audit_keys_file),
            f"MASH_{upper}_METRICS_PORT": port,
            f"MASH_{upper}_DATADIR": str(self.run_dir / service / "data"),
        }
        if service == "intake":
            env.update({
                "MASH_INTAKE_DUE_RED_S": str(self.due_red_s),
                "MASH_INTAKE_DUE_AMBER_S": str(self.due_amber_s),
                "MASH_INTAKE_DUE_GREEN_S": str(self.due_green_s),
                "MASH_INTAKE_USE_WORKING_HOURS": "false",
            })
        if service == "auditstore":
            env["MASH_AUDITSTORE_DATABASE_URL"] = self.audit_store_url or ""
        if service == "enrichment":
            env["MASH_ENRICHMENT_SWEEP_INTERVAL_S"] = str(self.sweep_interval_s)
            # A case re-rated in flight gets the same timescales intake gives (#19).
            env["MASH_ENRICHMENT_DUE_RED_S"] = str(self.due_red_s)
            env["MASH_ENRICHMENT_DUE_AMBER_S"] = str(self.due_amber_s)
            env["MASH_ENRICHMENT_DUE_GREEN_S"] = str(self.due_green_s)
            # Deadlines run in elapsed seconds here, so chases must too.
            env["MASH_ENRICHMENT_USE_WORKING_HOURS"] = "false"
        env.update(self.extra_env.get(service, {}))
        return env


class Pipeline:
    """intake, enrichment and routing as real worker processes on one provisioned hub."""

    def __init__(self, hub: SecuredHub, options: PipelineOptions) -> None:
        self.hub = hub
        self.options = options
        self.workers: dict[str, ServiceProcess] = {}

    def start(self, say: Callable[[str], None], timeout_s: float = 120.0) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.options.audit_keys_file.exists():
            new_key_file(self.options.audit_keys_file, "run-1")
            new_signing_key(self.options.audit_keys_file, "run-1-bundles",
                            self.options.bundle_public_key)
        if self.options.audit_store_url is not None:
            store = ServiceProcess("auditstore", ["-m", "mash_hub.services.auditstore"],
                                   self.options.env("auditstore", self.hub), self.options.run_dir)
            self.workers["auditstore"] = store.start()
            store.wait_for_log(AUDITSTORE_READY, timeout_s=timeout_s)
            say(f"  {'auditstore':<11} ready  (log: {store.log_path})")
        for service in SERVICES:
            worker = ServiceProcess(
                service,
                ["-m", f"mash_hub.services.{service}", "worker", "-l", self.options.log_level],
                self.options.env(service, self.hub),
                self.options.run_dir,
            )
            self.workers[service] = worker.start()
        for service, worker in self.workers.items():
            if service == "auditstore":
                continue
            worker.wait_for_log(FAUST_READY, timeout_s=timeout_s)
            say(f"  {service:<11} ready  (log: {worker.log_path})")

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
