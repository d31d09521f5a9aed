"""Limits on every string and list of the contract, and the characters no field may hold.

A record that breaks one is a contract violation: dead-lettered with the field and the
limit named (never the value), and its sender told. The limits keep one hostile or broken
record from growing a case's state past what the broker and the producer accept, and keep
terminal-control and bidirectional-override characters (which can disguise text on a
practitioner's screen, as in "Trojan Source") out of everything the hub shows.

Free text (a narrative, a summary, a reason) may hold tabs and line breaks; every other
field is one line. Lengths count characters (code points), not bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

# Characters no field may hold: C0 and C1 controls (free text keeps tab, LF and CR) and the
# bidirectional embedding, override and isolate controls.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_FORBIDDEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
_FORBIDDEN_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")

# The Kafka producer's max.request.size and the broker's message.max.bytes are 1 MiB by
# default; a record (or a state value on a changelog) stays below this, with room for the
# batch framing, key and headers.
MAX_RECORD_BYTES = 1_000_000

DEFAULT_LINE = 200  # ids, names, codes: any one-line field not listed below
DEFAULT_ITEMS = 50  # any list not listed below

# Free-text fields and their limits (characters).
TEXT_LIMITS: dict[str, int] = {
    "narrative": 20_000,
    "rationale": 10_000,
    "summary": 4_000,
    "message": 4_000,
    "reason": 2_000,
    "override_reason": 2_000,
    "detail": 2_000,
    "error": 2_000,
    "description": 1_000,
    "address": 500,
    "legal_basis": 500,
    "purpose": 500,
}

# Lists and their limits (items).
LIST_LIMITS: dict[str, int] = {
    "household": 30,
    "concerns": 20,
    "indicators": 20,
    "records": 100,
    "reasons": 20,
    "data_categories": 30,
    "referral_ids": 200,
    "referrals": 200,
    "contributions": 100,
}


@dataclass(frozen=True)
class Limit:
    max_length: int
    free_text: bool


def text_limit(field: str) -> Limit:
    if field in TEXT_LIMITS:
        return Limit(TEXT_LIMITS[field], free_text=True)
    return Limit(DEFAULT_LINE, free_text=False)


def list_limit(field: str) -> int:
    return LIST_LIMITS.get(field, DEFAULT_ITEMS)


def check_text(field: str, value: str, limit: Limit | None = None) -> None:
    """Raise a pydantic error naming the problem (never the value) if `value` breaks it."""
    limit = limit or text_limit(field)
    if len(value) > limit.max_length:
        raise PydanticCustomError("text_too_long", "longer than {limit} characters",
                                  {"limit": limit.max_length})
    pattern = _FORBIDDEN_IN_TEXT if limit.free_text else _FORBIDDEN_IN_LINE
    found = pattern.search(value)
    if found is not None:
        code = ord(found.group())
        kind = "bidirectional control" if 0x202A <= code <= 0x2069 else "control character"
        raise PydanticCustomError("forbidden_character", "{kind} U+{code} at position {at}",
                                  {"kind": kind, "code": f"{code:04X}", "at": found.start()})


def check_value(field: str, value: object) -> None:
    """Check one field's value: a string, or a list (its length, and each string in it)."""
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, list):
        limit = list_limit(field)
        if len(value) > limit:
            raise PydanticCustomError("too_many_items", "more than {limit} items", {"limit": limit})
        for item in value:
            if isinstance(item, str):
                check_text(field, item, Limit(DEFAULT_LINE, free_text=False)
                           if field not in TEXT_LIMITS else None)


LIMIT_ERRORS = frozenset({"text_too_long", "forbidden_character", "too_many_items"})


# The same rules as JSON Schema, so an OpenAPI document (the HTTP gateway's) states them
# and a client or a schema-driven test generator knows them up front.
_LINE_PATTERN = f"^[^\\x00-\\x1f\\x7f-\\x9f{_BIDI}]*$"
_TEXT_PATTERN = f"^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]*$"


def _string_rules(field: str, node: dict[str, Any], in_list: bool) -> None:
    limit = Limit(DEFAULT_LINE, free_text=False) if in_list and field not in TEXT_LIMITS \
        else text_limit(field)
    node.setdefault("maxLength", limit.max_length)
    if "pattern" not in node and "enum" not in node and "format" not in node:
        node["pattern"] = _TEXT_PATTERN if limit.free_text else _LINE_PATTERN


def annotate_json_schema(field: str, node: dict[str, Any], in_list: bool = False) -> None:
    """Add the field's limits to its JSON Schema (a property, or a branch of anyOf)."""
    for branch in node.get("anyOf", []):
        annotate_json_schema(field, branch, in_list)
    kind = node.get("type")
    if kind == "string":
        _string_rules(field, node, in_list)
    elif kind == "array":
        node.setdefault("maxItems", list_limit(field))
        items = node.get("items")
        if isinstance(items, dict):
            annotate_json_schema(field, items, in_list=True)


class WithinLimits(BaseModel):
    """A model whose every string and list keeps to the contract's limits, checked on
    validation and stated in its JSON Schema."""

    @field_validator("*", mode="after")
    @classmethod
    def _within_limits(cls, value: object, info: ValidationInfo) -> object:
        if info.field_name is not None:
            check_value(info.field_name, value)
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        for name, prop in resolved.get("properties", {}).items():
            if isinstance(prop, dict):
                annotate_json_schema(name, prop)
        return schema
