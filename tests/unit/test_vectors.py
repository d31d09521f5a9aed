"""The golden vectors in schemas/avro/vectors agree with the schemas and the serde."""

from __future__ import annotations

import io
import json

import pytest
from fastavro import schemaless_reader

from mash_common.contracts import ALL_RECORD_MODELS
from mash_common.schemas import crc64_fingerprint, default_store
from mash_common.serde import AvroSerde
from mash_common.vectors import from_avro_json, stale, vectors_dir

STORE = default_store()
SERDE = AvroSerde()
MODELS = {m.avro_name: m for m in ALL_RECORD_MODELS}


def _vector(name: str) -> dict:
    return json.loads((vectors_dir() / f"{name}.json").read_text(encoding="utf-8"))


def test_vectors_are_up_to_date() -> None:
    assert stale() == [], "run: mash-vectors --write"


@pytest.mark.parametrize("name", STORE.names())
def test_vector_fingerprint_is_the_crc_of_its_canonical_form(name: str) -> None:
    vector = _vector(name)
    fp = crc64_fingerprint(vector["canonical_form"])
    assert fp.hex() == vector["fingerprint_hex"]
    assert int.from_bytes(fp, "little", signed=True) == vector["fingerprint_long"]
    assert bytes.fromhex(vector["encoded_hex"])[:10] == b"\xc3\x01" + fp


@pytest.mark.parametrize("name", STORE.names())
def test_vector_encoding_decodes_to_its_example(name: str) -> None:
    vector = _vector(name)
    data = bytes.fromhex(vector["encoded_hex"])
    if STORE.current(name).parsed["type"] == "record":
        decoded_name, body = SERDE.decode_dict(data)
        assert decoded_name == name
    else:  # a bare enum (Rag) is no message on its own; read it with fastavro directly
        buffer = io.BytesIO(data[10:])
        body = schemaless_reader(buffer, STORE.current(name).parsed, None)  # type: ignore[assignment]  # a record body is a dict
        assert buffer.tell() == len(data) - 10
    assert body == from_avro_json(STORE, name, vector["example"])


@pytest.mark.parametrize("name", sorted(set(STORE.names()) & set(MODELS)))
def test_the_serde_encodes_the_example_to_the_vector_bytes(name: str) -> None:
    vector = _vector(name)
    model = MODELS[name].model_validate(from_avro_json(STORE, name, vector["example"]))
    assert SERDE.encode(model).hex() == vector["encoded_hex"]
