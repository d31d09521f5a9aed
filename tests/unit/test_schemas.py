"""Canonical forms and fingerprints as the Avro specification and Apache Avro's Java library
compute them; records written under the pre-#14 fingerprints still decode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mash_common.errors import SchemaError
from mash_common.schemas import SchemaStore, canonical_form, crc64_fingerprint, default_store
from mash_common.serde import AvroSerde

STORE = default_store()
DATA = Path(__file__).parent / "data"

# What Apache Avro 1.12's SchemaNormalization.parsingFingerprint64 gives (issue #14), as the
# little-endian header bytes. clients/java checks every record against Java itself.
JAVA_FINGERPRINTS = {
    "AssembledCase": "bc4170ae51d138b6",
    "TriagedReferral": "31aeea1dcae30f95",
}


@pytest.mark.parametrize("name", sorted(JAVA_FINGERPRINTS))
def test_fingerprints_the_java_library_computes(name: str) -> None:
    # #19 added fields to both; the #14 versions are history/<Name>.1.avsc and must keep
    # the fingerprint Java computed for them (clients/java checks the current ones).
    version = STORE.by_fingerprint(bytes.fromhex(JAVA_FINGERPRINTS[name]))
    assert version is not None and version.name == name
    assert version.source.endswith(f"{name}.1.avsc")


@pytest.mark.parametrize("name", STORE.names())
def test_canonical_form_defines_each_named_type_once_before_any_reference(name: str) -> None:
    form = STORE.current(name).canonical_form
    defined: set[str] = set()
    # Every "name":"mash.X" followed by "type" is a definition; any other "mash.X" a reference.
    for match in re.finditer(r'(\{"name":)?"(mash\.[A-Za-z_]+)"', form):
        full = match.group(2)
        if match.group(1):
            assert full not in defined, f"{full} defined twice"
            defined.add(full)
        else:
            assert full in defined, f"{full} referred to before it is defined"


@pytest.mark.parametrize("name", STORE.names())
def test_canonical_form_is_a_standalone_schema_fastavro_accepts(name: str) -> None:
    from fastavro.schema import parse_schema

    parse_schema(json.loads(STORE.current(name).canonical_form), {})


def test_avro_specification_examples() -> None:
    # The specification's own example: "null" has CRC-64-AVRO 7195948357588979594.
    assert crc64_fingerprint(canonical_form("null")) == (7195948357588979594).to_bytes(8, "little")
    schema = {"type": "record", "name": "a.R", "doc": "x", "fields": [
        {"name": "f", "type": {"type": "int", "logicalType": "date"}, "default": 0},
        {"name": "g", "type": {"type": "enum", "name": "a.E", "symbols": ["A"], "default": "A"}},
        {"name": "h", "type": ["null", "a.E"]},
    ]}
    assert canonical_form(schema) == (
        '{"name":"a.R","type":"record","fields":[{"name":"f","type":"int"},'
        '{"name":"g","type":{"name":"a.E","type":"enum","symbols":["A"]}},'
        '{"name":"h","type":["null","a.E"]}]}'
    )


def test_reference_before_definition_is_refused() -> None:
    with pytest.raises(SchemaError, match="before it is defined"):
        canonical_form({"type": "record", "name": "a.R", "fields": [{"name": "f", "type": "a.E"}]})


def test_records_written_under_pre14_fingerprints_still_decode() -> None:
    serde = AvroSerde()
    written = json.loads((DATA / "pre14_records.json").read_text())["records"]
    assert {r["name"] for r in written} == {"AssembledCase", "TriagedReferral"}
    for record in written:
        data = bytes.fromhex(record["encoded_hex"])
        assert data[2:10].hex() == record["fingerprint_hex"]
        assert data[2:10] != STORE.current(record["name"]).fingerprint
        name, body = serde.decode_dict(data)
        assert name == record["name"] and body["case_id"] == "CASE-1"
        # Re-encoded today it carries the current version's fingerprint, not the pre-#14 one.
        assert serde.header(name)[2:] == STORE.current(name).fingerprint


def test_history_versions_are_self_contained() -> None:
    # An old version must not change when a type it used is edited later.
    for version in STORE.versions("AssembledCase") + STORE.versions("TriagedReferral"):
        if not version.current:
            raw = json.loads(Path(version.source).read_text())
            assert canonical_form(raw) == version.canonical_form


def _copy_schemas(target: Path) -> Path:
    target.mkdir(parents=True)
    for path in Path(STORE.current("Rag").source).parent.glob("*.avsc"):
        (target / path.name).write_text(path.read_text())
    return target


def test_a_type_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path / "avro")
    (directory / "Rag2.avsc").write_text((directory / "Rag.avsc").read_text())
    with pytest.raises(SchemaError, match="mash.Rag is defined in both"):
        SchemaStore(directory)


def test_an_unknown_reference_is_named(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path / "avro")
    (directory / "Rag.avsc").unlink()
    with pytest.raises(SchemaError, match="unknown type mash.Rag"):
        SchemaStore(directory)
