"""Avro single-object encoding (Avro specification, "Single-object encoding").

Layout: the two marker bytes C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's parsing canonical form, then the Avro binary body. A reader looks the
fingerprint up among every version it knows and resolves the writer's schema to its own,
so records written with an older (or newer, compatible) version still decode.
"""

from __future__ import annotations

import io
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from pydantic import ValidationError

from mash_common.contracts import MESSAGE_TYPES, Contract
from mash_common.errors import (
    BadMarkerError,
    ContractError,
    CorruptBodyError,
    SerdeError,
    UnknownFingerprintError,
    WrongRecordError,
)
from mash_common.limits import LIMIT_ERRORS
from mash_common.schemas import SchemaStore, SchemaVersion, default_store

MARKER = b"\xc3\x01"
HEADER_LENGTH = len(MARKER) + 8

M = TypeVar("M", bound=Contract)


def _describe_validation(exc: ValidationError) -> str:
    # Field paths and error kinds only: the offending values may be personal data.
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        # The contract's own limit errors say which limit, never the value.
        detail = err["msg"] if err["type"] in LIMIT_ERRORS else err["type"]
        parts.append(f"{where}: {detail}")
    return "; ".join(parts)


class AvroSerde:
    """Encodes contract models to single-object Avro and decodes them back."""

    def __init__(self, store: SchemaStore | None = None) -> None:
        self._store = store or default_store()

    @property
    def store(self) -> SchemaStore:
        return self._store

    def header(self, name: str) -> bytes:
        return MARKER + self._store.current(name).fingerprint

    def encode(self, record: Contract) -> bytes:
        version = self._store.current(record.avro_name)
        buffer = io.BytesIO()
        buffer.write(MARKER)
        buffer.write(version.fingerprint)
        try:
            schemaless_writer(buffer, version.parsed, record.model_dump(mode="python"))
        except (ValueError, TypeError, KeyError) as exc:
            raise SerdeError(f"cannot encode {record.avro_name}: {type(exc).__name__}") from None
        return buffer.getvalue()

    def writer_version(self, data: bytes) -> SchemaVersion:
        """The schema version the bytes were written with, or a typed error saying why not."""
        if data[:2] != MARKER:
            seen = data[:2].hex() or "nothing"
            raise BadMarkerError(
                f"not Avro single-object encoding: marker C3 01 missing (starts with {seen})"
            )
        if len(data) < HEADER_LENGTH:
            raise CorruptBodyError(f"truncated header: {len(data)} bytes, need {HEADER_LENGTH}")
        fp = data[2:HEADER_LENGTH]
        version = self._store.by_fingerprint(fp)
        if version is None:
            raise UnknownFingerprintError(f"unknown writer schema fingerprint {fp.hex()}")
        return version

    def decode_dict(self, data: bytes, expect: str | None = None) -> tuple[str, dict[str, Any]]:
        """Decode to (record name, plain dict) in the reader's current schema."""
        writer = self.writer_version(data)
        if expect is not None and writer.name != expect:
            raise WrongRecordError(f"expected a {expect} record, got {writer.name}")
        reader = self._store.current(writer.name)
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_LENGTH)
        try:
            body = schemaless_reader(
                buffer,
                writer.parsed,
                reader.parsed if reader is not writer else None,
            )
        except EOFError:
            raise CorruptBodyError(f"truncated {writer.name} body") from None
        except Exception as exc:  # fastavro raises many types on garbage; all mean corrupt
            raise CorruptBodyError(
                f"garbled {writer.name} body ({type(exc).__name__})"
            ) from None
        if not isinstance(body, dict):
            raise CorruptBodyError(f"{writer.name} body is not a record")
        if buffer.tell() != len(data):
            raise CorruptBodyError(
                f"{len(data) - buffer.tell()} unexpected trailing bytes after {writer.name} body"
            )
        return writer.name, body

    def decode(self, data: bytes, model: type[M]) -> M:
        """Decode bytes into the given contract model, or raise a SerdeError subclass."""
        _, body = self.decode_dict(data, expect=model.avro_name)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise ContractError(
                f"{model.avro_name} breaks the contract: {_describe_validation(exc)}"
            ) from None

    def decode_any(self, data: bytes) -> Contract:
        """Decode whichever top-level message the bytes hold."""
        name, body = self.decode_dict(data)
        model = MESSAGE_TYPES.get(name)
        if model is None:
            raise WrongRecordError(f"{name} is not a top-level message")
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise ContractError(f"{name} breaks the contract: {_describe_validation(exc)}") from None
