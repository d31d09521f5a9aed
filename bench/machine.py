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


def describe(kafka_broker: str) -> dict[str, Any]:
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
            "kafka_broker": kafka_broker,
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
