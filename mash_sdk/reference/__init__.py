"""Reference adapters an agency configures rather than codes: HTTP/JSON, SQL, CSV drop folder.

    handler = build_handler(load_reference_config(Path("police-adapter.yaml")))
"""

from __future__ import annotations

from pathlib import Path

from mash_common.configfile import load_yaml_model
from mash_sdk.reference.config import CsvBackend, HttpBackend, ReferenceConfig, SqlBackend
from mash_sdk.reference.handler import Backend, ReferenceHandler


def load_reference_config(path: Path) -> ReferenceConfig:
    """Parse and validate; raises mash_common ConfigError naming file and line."""
    return load_yaml_model(path, ReferenceConfig)


def build_backend(config: ReferenceConfig) -> Backend:
    # Each backend's module is imported only when used: a CSV adapter needs no SQLAlchemy.
    backend = config.backend
    if isinstance(backend, HttpBackend):
        from mash_sdk.reference.http import HttpLookup

        return HttpLookup(backend)
    if isinstance(backend, SqlBackend):
        from mash_sdk.reference.sql import SqlLookup

        return SqlLookup(backend)
    if isinstance(backend, CsvBackend):
        from mash_sdk.reference.csvdrop import CsvLookup

        return CsvLookup(backend)
    raise AssertionError(f"unknown backend {type(backend).__name__}")


def build_handler(config: ReferenceConfig) -> ReferenceHandler:
    return ReferenceHandler(config, build_backend(config))


__all__ = ["ReferenceConfig", "ReferenceHandler", "build_handler", "load_reference_config"]
