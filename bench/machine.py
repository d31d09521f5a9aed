"""What the report says about the machine, the versions and the load while it ran."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from mash_demo.pipeline import _local_kafka
from mash_demo.processes import ROOT


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def broker_version() -> str:
    """The Kafka version of the local broker, from the kafka-server jar it runs."""
    jars = sorted((ROOT / "var" / "kafka" / "jars").glob("kafka-server-[0-9]*.jar"))
    return jars[0].stem.removeprefix("kafka-server-") if jars else "unknown"


def broker_pid() -> int | None:
    status = _local_kafka().status()
    return status.pid if status.running else None


def describe() -> dict[str, Any]:
    mem = psutil.virtual_memory()
    return {
        "host": socket.gethostname(),
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(mem.total / 2**30, 1),
        "cpu_model": cpu_model(),
        "os": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            "python": sys.version.split()[0],
            "faust-streaming": _version("faust-streaming"),
            "aiokafka": _version("aiokafka"),
            "confluent-kafka": _version("confluent-kafka"),
            "librdkafka": __import__("confluent_kafka").libversion()[0],
            "fastavro": _version("fastavro"),
            "pydantic": _version("pydantic"),
            "kafka_broker": broker_version(),
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
