"""Loads the Avro contracts from schemas/avro/ once and indexes them by name and fingerprint.

schemas/avro/<Name>.avsc is the current version of each named type; schemas/avro/history/
keeps every earlier published version, so a reader can still decode what an older writer
sent. A file may refer by name to a type another file defines. Each version is resolved
into a standalone schema as the Avro specification and its Java reference implementation
see it: walking the schema depth-first in field order, each named type is defined in full
at its first use and referred to by name after that. The Parsing Canonical Form and its
CRC-64-AVRO fingerprint are computed from that standalone schema, so they equal Java's
SchemaNormalization.parsingFingerprint64.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro.schema import SchemaParseException, UnknownType, fingerprint, parse_schema

from mash_common.errors import SchemaError

NAMESPACE = "mash"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
# A history file may list the fingerprints mash-hub wrote that version under before it
# computed them as the specification does (issue #14); readers accept those too.
LEGACY_FINGERPRINTS = "mash.legacy_fingerprints"


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed version of a named Avro type."""

    name: str  # short record name, e.g. "Referral"
    parsed: dict[str, Any]  # standalone and parsed, ready for fastavro readers and writers
    standalone: dict[str, Any]  # the JSON schema with every named type defined at first use
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO of the canonical form
    source: str  # file the version was loaded from, for error messages
    current: bool
    legacy_fingerprints: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class _Definition:
    node: dict[str, Any]
    namespace: str  # the namespace its short name resolves in
    source: str


def default_schema_dir() -> Path:
    """schemas/avro in a source checkout, else the copy packaged inside mash_common."""
    repo_dir = Path(__file__).resolve().parent.parent / "schemas" / "avro"
    if repo_dir.is_dir():
        return repo_dir
    return Path(str(resources.files("mash_common") / "_schemas"))


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(loaded, dict) or loaded.get("type") not in NAMED_KINDS:
        raise SchemaError(f"{path.name}: top level must be a named type")
    return loaded


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name else f"{namespace}.{name}" if namespace else name


def _own_namespace(node: dict[str, Any], enclosing: str) -> tuple[str, str]:
    """(full name, namespace its nested short names resolve in) of a named type."""
    full = _full_name(node["name"], node.get("namespace", enclosing))
    return full, full.rpartition(".")[0]


def _definitions(node: Any, namespace: str, source: str, into: dict[str, _Definition]) -> None:
    """Every named type a schema defines inline (not those it only refers to), by full name."""
    if isinstance(node, list):
        for item in node:
            _definitions(item, namespace, source, into)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in NAMED_KINDS and "name" in node:
        full, inner = _own_namespace(node, namespace)
        earlier = into.get(full)
        if earlier is not None and earlier.node is not node:
            raise SchemaError(f"{full} is defined in both {earlier.source} and {source}")
        into[full] = _Definition(node, namespace, source)
        for field in node.get("fields", []):
            _definitions(field.get("type"), inner, source, into)
    elif kind in ("array", "map"):
        _definitions(node.get("items", node.get("values")), namespace, source, into)
    elif isinstance(kind, (dict, list)):
        _definitions(kind, namespace, source, into)


def standalone(
    node: Any, namespace: str, known: dict[str, _Definition], defined: set[str]
) -> Any:
    """node with each named type defined in full at its first use, by full name afterwards.

    known holds the definitions a reference may resolve to (this file's and other files');
    defined collects the full names already written, in the order the walk met them.
    """
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        full = _full_name(node, namespace)
        if full in defined:
            return full
        target = known.get(full)
        if target is None:
            raise SchemaError(f"unknown type {full}")
        return standalone(target.node, target.namespace, known, defined)
    if isinstance(node, list):
        return [standalone(branch, namespace, known, defined) for branch in node]
    if not isinstance(node, dict):
        raise SchemaError(f"not a schema: {type(node).__name__}")
    kind = node.get("type")
    if kind in NAMED_KINDS:
        full, inner = _own_namespace(node, namespace)
        if full in defined:
            return full
        defined.add(full)
        out = {k: v for k, v in node.items() if k not in ("name", "namespace", "fields")}
        out["name"] = full
        if "fields" in node:
            out["fields"] = [
                {**field, "type": standalone(field["type"], inner, known, defined)}
                for field in node["fields"]
            ]
        return out
    if kind == "array":
        return {**node, "items": standalone(node["items"], namespace, known, defined)}
    if kind == "map":
        return {**node, "values": standalone(node["values"], namespace, known, defined)}
    if isinstance(kind, str) and kind in PRIMITIVES:
        return node
    # {"type": "mash.Rag"} or {"type": {...}}: the type named or given inside.
    return standalone(kind, namespace, known, defined)


def canonical_form(schema: Any) -> str:
    """Parsing Canonical Form (Avro specification) of a standalone schema.

    Primitives become bare names; named types keep only name (full), type and fields,
    symbols or size; arrays and maps only items or values; fields only name and type;
    attributes in that order; no whitespace. A named type already written is its name.
    """
    return _canonical(schema, set())


def _canonical(node: Any, written: set[str]) -> str:
    if isinstance(node, str):
        if node in PRIMITIVES:
            return json.dumps(node)
        if node not in written:
            raise SchemaError(f"{node} is used before it is defined")
        return json.dumps(node)
    if isinstance(node, list):
        return "[" + ",".join(_canonical(branch, written) for branch in node) + "]"
    kind = node["type"]
    if kind in NAMED_KINDS:
        full = node["name"]
        if full in written:
            return json.dumps(full)
        written.add(full)
        avro_kind = "record" if kind == "error" else kind
        parts = [f'"name":{json.dumps(full)}', f'"type":"{avro_kind}"']
        if "fields" in node:
            fields = ",".join(
                f'{{"name":{json.dumps(f["name"])},"type":{_canonical(f["type"], written)}}}'
                for f in node["fields"]
            )
            parts.append(f'"fields":[{fields}]')
        if kind == "enum":
            parts.append('"symbols":' + json.dumps(node["symbols"], separators=(",", ":")))
        if kind == "fixed":
            parts.append(f'"size":{int(node["size"])}')
        return "{" + ",".join(parts) + "}"
    if kind == "array":
        return '{"type":"array","items":' + _canonical(node["items"], written) + "}"
    if kind == "map":
        return '{"type":"map","values":' + _canonical(node["values"], written) + "}"
    return _canonical(kind, written)


def crc64_fingerprint(canonical: str) -> bytes:
    """CRC-64-AVRO of a canonical form, as the 8 little-endian bytes of the header."""
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def _version(
    path: Path, raw: dict[str, Any], known: dict[str, _Definition], current: bool
) -> SchemaVersion:
    if not current:
        # An old version redefines its own types: those win over today's for this file.
        own: dict[str, _Definition] = {}
        _definitions(raw, NAMESPACE, path.name, own)
        known = {**known, **own}
    resolved = standalone(raw, NAMESPACE, known, set())
    canonical = canonical_form(resolved)
    try:
        parsed = parse_schema(resolved, {})
    except (UnknownType, SchemaParseException) as exc:
        raise SchemaError(f"{path.name}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SchemaError(f"{path.name}: top level must be a named type")
    legacy = raw.get(LEGACY_FINGERPRINTS, [])
    if current and legacy:
        raise SchemaError(f"{path.name}: {LEGACY_FINGERPRINTS} belongs in history/ only")
    return SchemaVersion(
        name=raw["name"].rpartition(".")[2],
        parsed=parsed,
        standalone=resolved,
        canonical_form=canonical,
        fingerprint=crc64_fingerprint(canonical),
        source=str(path),
        current=current,
        legacy_fingerprints=tuple(bytes.fromhex(fp) for fp in legacy),
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
        current_raw = {path: _load_json(path) for path in current_files}
        known: dict[str, _Definition] = {}
        for path, raw in current_raw.items():
            _definitions(raw, NAMESPACE, path.name, known)
        self._current: dict[str, SchemaVersion] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for path, raw in current_raw.items():
            self._add(_version(path, raw, known, current=True))
        # A history file's own types win over today's; what it only refers to resolves to
        # the current definition, so an old Referral does not replace the current one.
        for path in sorted((directory / "history").glob("*.avsc")):
            try:
                self._add(_version(path, _load_json(path), known, current=False))
            except SchemaError as exc:
                raise SchemaError(f"history/{exc}") from exc

    def _add(self, version: SchemaVersion) -> None:
        for fp in (version.fingerprint, *version.legacy_fingerprints):
            clash = self._by_fingerprint.get(fp)
            if clash is not None and clash.name != version.name:
                raise SchemaError(f"fingerprint clash between {clash.source} and {version.source}")
            self._by_fingerprint.setdefault(fp, version)
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
        unique = {id(v): v for v in self._by_fingerprint.values() if v.name == name}
        return list(unique.values())


@cache
def default_store() -> SchemaStore:
    """The store for the schemas shipped with the code; loaded once per process."""
    return SchemaStore()
