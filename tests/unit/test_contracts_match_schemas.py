"""Each pydantic contract model agrees with its .avsc record, field by field."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pytest
from pydantic.fields import FieldInfo

from mash_common.contracts import ALL_RECORD_MODELS, Contract
from mash_common.schemas import default_store


def _avro_named_types() -> dict[str, dict[str, Any]]:
    """Every named type defined anywhere in the current schemas, by short name."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("record", "enum") and "name" in node:
                found.setdefault(node["name"].split(".")[-1], node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    store = default_store()
    for name in store.names():
        walk(store.current(name).parsed)
    return found


NAMED = _avro_named_types()


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        assert len(rest) == 1
        return rest[0], True
    return annotation, False


def _unannotate(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _check_type(avro_type: Any, annotation: Any, where: str) -> None:
    annotation = _unannotate(annotation)
    if isinstance(avro_type, str) and avro_type.split(".")[-1] in NAMED:
        avro_type = NAMED[avro_type.split(".")[-1]]
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        logical = avro_type.get("logicalType")
        if logical == "timestamp-millis":
            assert annotation is datetime, f"{where}: timestamp-millis needs datetime"
        elif logical == "date":
            assert annotation is date, f"{where}: date needs date"
        elif kind == "array":
            assert typing.get_origin(annotation) is list, f"{where}: array needs list"
            _check_type(avro_type["items"], typing.get_args(annotation)[0], f"{where}[]")
        elif kind == "enum":
            assert isinstance(annotation, type) and issubclass(annotation, StrEnum), where
            assert [m.value for m in annotation] == avro_type["symbols"], f"{where}: enum symbols differ"
        elif kind == "record":
            assert isinstance(annotation, type) and issubclass(annotation, Contract), where
            assert annotation.avro_name == avro_type["name"].split(".")[-1], where
        else:
            _check_type(kind, annotation, where)
        return
    primitive = {"string": str, "int": int, "long": int, "boolean": bool, "bytes": bytes}
    assert annotation is primitive[avro_type], f"{where}: avro {avro_type} vs {annotation}"


@pytest.mark.parametrize("model", ALL_RECORD_MODELS, ids=lambda m: m.avro_name)
def test_model_mirrors_schema(model: type[Contract]) -> None:
    record = NAMED[model.avro_name]
    avro_fields = record["fields"]
    model_fields: dict[str, FieldInfo] = model.model_fields
    assert [f["name"] for f in avro_fields] == list(model_fields), "field names or order differ"
    for avro_field in avro_fields:
        name = avro_field["name"]
        info = model_fields[name]
        where = f"{model.avro_name}.{name}"
        avro_type = avro_field["type"]
        inner, optional = _strip_optional(info.annotation)
        avro_nullable = isinstance(avro_type, list) and "null" in avro_type
        assert optional == avro_nullable, f"{where}: nullability differs"
        if avro_nullable:
            avro_type = next(t for t in avro_type if t != "null")
        _check_type(avro_type, inner, where)
        has_avro_default = "default" in avro_field
        assert has_avro_default == (not info.is_required()), f"{where}: default presence differs"
        if has_avro_default:
            default = info.get_default(call_default_factory=True)
            expected = avro_field["default"]
            assert (default.value if isinstance(default, StrEnum) else default) == expected, (
                f"{where}: default {default!r} vs avro {expected!r}"
            )
