"""Loads the Avro contracts from schemas/avro/ once and indexes them by name and fingerprint.

schemas/avro/<Name>.avsc is the current version of each named type; schemas/avro/history/
keeps every earlier published version, so a reader can still decode what an older writer
sent. Files may refer to named types defined in other files; they are resolved here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    fingerprint,
    parse_schema,
    to_parsing_canonical_form,
)

from mash_common.errors import SchemaError

NAMESPACE = "mash"


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed version of a named Avro type."""

    name: str  # short record name, e.g. "Referral"
    parsed: dict[str, Any]  # fully expanded, ready for fastavro readers and writers
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO of the canonical form
    source: str  # file the version was loaded from, for error messages
    current: bool


def default_schema_dir() -> Path:
    """schemas/avro in a source checkout, else the copy packaged inside mash_common."""
    repo_dir = Path(__file__).resolve().parent.parent / "schemas" / "avro"
    if repo_dir.is_dir():
        return repo_dir
    return Path(str(resources.files("mash_common") / "_schemas"))


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return loaded


def _parse_in_dependency_order(
    files: list[Path], named: dict[str, Any]
) -> dict[Path, dict[str, Any]]:
    """Parse files so that a type is parsed after the types it refers to."""
    pending = {path: _load_json(path) for path in files}
    parsed: dict[Path, dict[str, Any]] = {}
    while pending:
        progressed = False
        for path, raw in list(pending.items()):
            trial = dict(named)
            try:
                parse_schema(raw, trial)
            except UnknownType:
                continue
            except SchemaParseException as exc:
                raise SchemaError(f"{path.name}: {exc}") from exc
            named.update(trial)
            parsed[path] = raw
            del pending[path]
            progressed = True
        if not progressed:
            names = ", ".join(sorted(p.name for p in pending))
            raise SchemaError(f"unresolvable type references in: {names}")
    return parsed


def _defined_names(node: Any, namespace: str = NAMESPACE) -> set[str]:
    """Full names of the named types a schema defines inline (not those it only refers to)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _defined_names(item, namespace)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            namespace = node.get("namespace", namespace)
            name = node["name"]
            found.add(name if "." in name else f"{namespace}.{name}")
        for value in node.values():
            if isinstance(value, (dict, list)):
                found |= _defined_names(value, namespace)
    return found


def _version(path: Path, raw: dict[str, Any], named: dict[str, Any], current: bool) -> SchemaVersion:
    if not current:
        # An old version redefines its own types: resolve only what it refers to.
        defined = _defined_names(raw)
        named = {k: v for k, v in named.items() if k not in defined}
    expanded = parse_schema(raw, dict(named), expand=True)
    canonical = to_parsing_canonical_form(expanded)
    parsed = parse_schema(raw, dict(named))
    if not isinstance(parsed, dict):
        raise SchemaError(f"{path.name}: top level must be a named type")
    return SchemaVersion(
        name=raw["name"],
        parsed=parsed,
        canonical_form=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=str(path),
        current=current,
    )


class SchemaStore:
    """Every known version of every contract, by record name and by fingerprint."""

    def __init__(self, schema_dir: Path | None = None) -> None:
        directory = schema_dir or default_schema_dir()
        if not directory.is_dir():
            raise SchemaError(f"schema directory not found: {directory}")
        current_files = sorted(directory.glob("*.avsc"))
        if not current_files:
            raise SchemaError(f"no .avsc files in {directory}")
        named: dict[str, Any] = {}
        current_raw = _parse_in_dependency_order(current_files, named)
        self._current: dict[str, SchemaVersion] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for path, raw in current_raw.items():
            self._add(_version(path, raw, named, current=True))
        # History files are parsed against the current named types they refer to, each on
        # its own, so an old Referral does not replace the current one for other records.
        for path in sorted((directory / "history").glob("*.avsc")):
            raw = _load_json(path)
            try:
                self._add(_version(path, raw, named, current=False))
            except (UnknownType, SchemaParseException) as exc:
                raise SchemaError(f"history/{path.name}: {exc}") from exc

    def _add(self, version: SchemaVersion) -> None:
        clash = self._by_fingerprint.get(version.fingerprint)
        if clash is not None and clash.name != version.name:
            raise SchemaError(f"fingerprint clash between {clash.source} and {version.source}")
        self._by_fingerprint.setdefault(version.fingerprint, version)
        if version.current:
            if version.name in self._current:
                raise SchemaError(f"{version.name} is defined twice in {version.source}")
            self._current[version.name] = version

    def current(self, name: str) -> SchemaVersion:
        try:
            return self._current[name]
        except KeyError:
            raise SchemaError(f"no schema named {name}") from None

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)

    def names(self) -> list[str]:
        return sorted(self._current)

    def versions(self, name: str) -> list[SchemaVersion]:
        return [v for v in self._by_fingerprint.values() if v.name == name]


@cache
def default_store() -> SchemaStore:
    """The store for the schemas shipped with the code; loaded once per process."""
    return SchemaStore()
