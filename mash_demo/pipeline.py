"""Starts the whole pipeline on one machine: broker, topics, the three services as worker
processes. Used by the main job, the benchmarks and the end-to-end tests.
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

from mash_common.hubconfig import load_hub_config
from mash_common.provision import ProvisionReport, provision
from mash_common.settings import KafkaSettings
from mash_demo.processes import FAUST_READY, ROOT, ServiceProcess

logger = logging.getLogger(__name__)

SERVICES = ("intake", "enrichment", "routing")
METRICS_PORTS = {"intake": 9101, "enrichment": 9102, "routing": 9103}


def _local_kafka() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_kafka", ROOT / "deploy" / "local_kafka.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("deploy/local_kafka.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answers(bootstrap: str) -> bool:
    try:
        probe = {"bootstrap.servers": bootstrap, "logger": logging.getLogger("librdkafka")}
        AdminClient(probe).list_topics(timeout=3)
    except KafkaException:
        return False
    return True


@dataclass
class Broker:
    """The broker the pipeline uses: KAFKA_BOOTSTRAP_SERVERS if set, else the local one."""

    bootstrap: str
    started_here: bool

    @classmethod
    def ensure(cls, say: Callable[[str], None]) -> Broker:
        local_kafka = _local_kafka()
        if local_kafka.is_running():
            status = local_kafka.status()
            say(f"Kafka already running on {status.bootstrap}")
            return cls(status.bootstrap, started_here=False)
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if external and _answers(external):
            say(f"Using the Kafka broker at {external}")
            return cls(external, started_here=False)
        bootstrap = local_kafka.start(progress=say)
        return cls(bootstrap, started_here=True)

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

    def env(self, service: str, kafka: KafkaSettings) -> dict[str, str]:
        upper = service.upper()
        port = str(self.metrics_ports.get(service, 0))  # 0: no /metrics endpoint
        env = {
            "MASH_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "MASH_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
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
        if service == "enrichment":
            env["MASH_ENRICHMENT_SWEEP_INTERVAL_S"] = str(self.sweep_interval_s)
        env.update(self.extra_env.get(service, {}))
        return env


class Pipeline:
    """intake, enrichment and routing as real worker processes on one prefix of topics."""

    def __init__(self, kafka: KafkaSettings, options: PipelineOptions) -> None:
        self.kafka = kafka
        self.options = options
        self.workers: dict[str, ServiceProcess] = {}

    def provision(self) -> ProvisionReport:
        return provision(self.kafka, load_hub_config())

    def start(self, say: Callable[[str], None], timeout_s: float = 120.0) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            worker = ServiceProcess(
                service,
                ["-m", f"services.{service}", "worker", "-l", self.options.log_level],
                self.options.env(service, self.kafka),
                self.options.run_dir,
            )
            self.workers[service] = worker.start()
        for service, worker in self.workers.items():
            worker.wait_for_log(FAUST_READY, timeout_s=timeout_s)
            say(f"  {service:<11} ready  (log: {worker.log_path})")

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
