"""Avro single-object encoding: header layout, round trips, typed errors, evolution."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint

from mash_common.contracts import (
    AuditAction,
    AuditEvent,
    Contract,
    DeadLetter,
    Referral,
    TriagedReferral,
    utcnow,
)
from mash_common.errors import (
    BadMarkerError,
    ContractError,
    CorruptBodyError,
    SerdeError,
    UnknownFingerprintError,
    WrongRecordError,
)
from mash_common.schemas import SchemaStore, default_schema_dir
from mash_common.serde import AvroSerde
from tests.support.factories import referral

SERDE = AvroSerde()


def test_header_is_marker_then_fingerprint_of_canonical_form() -> None:
    data = SERDE.encode(referral())
    canonical = SERDE.store.current("Referral").canonical_form
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def test_fingerprint_byte_order_matches_the_avro_specification() -> None:
    # Avro's own test vector: the schema "null" has CRC-64-AVRO 7195948357588979594,
    # written little-endian in single-object encoding.
    expected = (7195948357588979594).to_bytes(8, "little")
    assert bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")) == expected


@pytest.mark.parametrize(
    "record",
    [
        referral(),
        referral("REF-2", household=[], indicators=[], cin_referral_source=None),
        AuditEvent(event_id="e", at=utcnow(), actor="t", action=AuditAction.CASE_ASSEMBLED),
        DeadLetter(topic="x", partition=1, offset=5, key=None, value=b"\x00\xff", stage="s",
                   error="e", at=utcnow()),
    ],
    ids=["referral", "sparse-referral", "audit", "deadletter"],
)
def test_round_trip(record: Contract) -> None:
    assert SERDE.decode(SERDE.encode(record), type(record)) == record
    assert SERDE.decode_any(SERDE.encode(record)) == record


@pytest.mark.parametrize(
    ("data", "error", "says"),
    [
        (b"", BadMarkerError, "marker"),
        (b"{\"json\": true}", BadMarkerError, "7b22"),
        (b"\xc3\x01\x00", CorruptBodyError, "truncated header"),
        (b"\xc3\x01" + b"\x01" * 8 + b"body", UnknownFingerprintError, "0101010101010101"),
    ],
    ids=["empty", "json", "short-header", "unknown-fingerprint"],
)
def test_typed_errors_for_bad_headers(data: bytes, error: type[SerdeError], says: str) -> None:
    with pytest.raises(error, match=says):
        SERDE.decode(data, Referral)


def test_truncated_body_is_corrupt() -> None:
    data = SERDE.encode(referral())
    with pytest.raises(CorruptBodyError, match="truncated Referral body"):
        SERDE.decode(data[:-20], Referral)


def test_garbled_body_is_corrupt() -> None:
    data = bytearray(SERDE.encode(referral()))
    data[12:20] = b"\xff" * 8  # a string length that is far past the end
    with pytest.raises(CorruptBodyError):
        SERDE.decode(bytes(data), Referral)


def test_trailing_bytes_are_corrupt() -> None:
    with pytest.raises(CorruptBodyError, match="trailing"):
        SERDE.decode(SERDE.encode(referral()) + b"\x00", Referral)


def test_wrong_record_type_is_named() -> None:
    data = SERDE.encode(AuditEvent(event_id="e", at=utcnow(), actor="t", action=AuditAction.OTHER))
    with pytest.raises(WrongRecordError, match="expected a Referral record, got AuditEvent"):
        SERDE.decode(data, Referral)


def test_contract_errors_name_fields_not_values() -> None:
    # An empty concerns list is valid Avro; a model constraint breach must not echo values.
    secret = "Very Private Name"
    record = referral(subject=referral().subject.model_copy(update={"given_name": secret}))
    data = SERDE.encode(record)
    store = SERDE.store
    name, body = SERDE.decode_dict(data)
    body["received_at"] = "not a time"
    from mash_common.contracts import Referral as Model

    with pytest.raises(ContractError) as info:
        from pydantic import ValidationError

        try:
            Model.model_validate(body)
        except ValidationError as exc:
            from mash_common.serde import _describe_validation

            raise ContractError(_describe_validation(exc)) from None
    assert "received_at" in str(info.value)
    assert secret not in str(info.value)
    assert name == "Referral" and store is SERDE.store


def _write_schemas(tmp: Path, referral_edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    target = tmp / "avro"
    (target / "history").mkdir(parents=True)
    for path in default_schema_dir().glob("*.avsc"):
        raw = json.loads(path.read_text())
        if raw["name"] == "Referral":
            raw = referral_edit(raw)
        (target / path.name).write_text(json.dumps(raw))
    return target


def test_reader_on_next_version_decodes_record_written_with_previous(tmp_path: Path) -> None:
    """v1 writer (today's Referral) -> v2 reader (adds an optional field)."""

    def add_field(raw: dict) -> dict:
        raw["fields"].append({"name": "portal_reference", "type": ["null", "string"], "default": None})
        return raw

    v2_dir = _write_schemas(tmp_path, add_field)
    # The v2 reader keeps v1 in its history, as the project does for every published version.
    (v2_dir / "history" / "Referral.1.avsc").write_text((default_schema_dir() / "Referral.avsc").read_text())
    v2_store = SchemaStore(v2_dir)
    v1_bytes = SERDE.encode(referral())
    name, body = AvroSerde(v2_store).decode_dict(v1_bytes)
    assert name == "Referral"
    assert body["portal_reference"] is None
    assert body["referral_id"] == "REF-1"
    assert v2_store.current("Referral").fingerprint != SERDE.store.current("Referral").fingerprint


def test_reader_on_previous_version_decodes_record_written_with_next(tmp_path: Path) -> None:
    """v2 writer -> v1 reader that knows v2's schema (forward compatibility)."""

    def add_field(raw: dict) -> dict:
        raw["fields"].append({"name": "portal_reference", "type": ["null", "string"], "default": None})
        return raw

    v2_store = SchemaStore(_write_schemas(tmp_path, add_field))
    v2_bytes = AvroSerde(v2_store).encode(referral())
    # Teach a v1 reader the v2 writer schema through its history folder.
    v1_dir = tmp_path / "v1"
    (v1_dir / "history").mkdir(parents=True)
    for path in default_schema_dir().glob("*.avsc"):
        (v1_dir / path.name).write_text(path.read_text())
    (v1_dir / "history" / "Referral.2.avsc").write_text((tmp_path / "avro" / "Referral.avsc").read_text())
    assert AvroSerde(SchemaStore(v1_dir)).decode(v2_bytes, Referral) == referral()


def test_every_message_type_has_a_schema() -> None:
    from mash_common.contracts import MESSAGE_TYPES

    assert set(MESSAGE_TYPES) <= set(SERDE.store.names())
    assert TriagedReferral.avro_name == "TriagedReferral"
