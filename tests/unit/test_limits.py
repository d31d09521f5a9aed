"""The contract's limits: one test per limit, control and bidirectional characters, and an
error that names the field and the limit but never the value."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from mash_common.contracts import AgencyRecord, HouseholdMember, InformationResponse, Referral
from mash_common.errors import ContractError
from mash_common.limits import DEFAULT_ITEMS, DEFAULT_LINE, LIST_LIMITS, TEXT_LIMITS, check_value
from mash_common.serde import AvroSerde
from tests.support.factories import referral


@pytest.mark.parametrize(("field", "limit"), sorted(TEXT_LIMITS.items()))
def test_each_free_text_limit(field: str, limit: int) -> None:
    check_value(field, "x" * limit)
    check_value(field, "line one\n\tline two\r\n")  # free text keeps tabs and line breaks
    with pytest.raises(PydanticCustomError, match=f"longer than {limit} characters"):
        check_value(field, "x" * (limit + 1))


@pytest.mark.parametrize("field", ["referral_id", "given_name", "nhs_number", "category"])
def test_every_other_string_is_one_short_line(field: str) -> None:
    check_value(field, "x" * DEFAULT_LINE)
    with pytest.raises(PydanticCustomError, match=f"longer than {DEFAULT_LINE}"):
        check_value(field, "x" * (DEFAULT_LINE + 1))
    with pytest.raises(PydanticCustomError, match="control character U\\+000A"):
        check_value(field, "two\nlines")


@pytest.mark.parametrize(("field", "limit"), [*sorted(LIST_LIMITS.items()), ("fired_rules", DEFAULT_ITEMS)])
def test_each_list_limit(field: str, limit: int) -> None:
    check_value(field, [1] * limit)
    with pytest.raises(PydanticCustomError, match=f"more than {limit} items"):
        check_value(field, [1] * (limit + 1))


@pytest.mark.parametrize(("char", "kind"), [
    ("\x00", "control character U+0000"), ("\x1b", "control character U+001B"),
    ("\x7f", "control character U+007F"), ("\x85", "control character U+0085"),
    ("\u202e", "bidirectional control U+202E"), ("\u2066", "bidirectional control U+2066"),
])
def test_control_and_bidirectional_override_characters_are_refused_everywhere(char: str, kind: str) -> None:
    for field in ("narrative", "given_name"):
        with pytest.raises(PydanticCustomError, match=re.escape(kind)):
            check_value(field, f"ab{char}cd")


def test_letters_of_every_script_pass() -> None:
    for name in ("Сергей", "محمد", "Αλέξανδρος", "王芳", "Siân", "Seán Ó Briain", "Zoë"):
        check_value("given_name", name)
        check_value("narrative", f"{name} said\n“it hurt”")


def test_a_record_names_the_field_and_the_limit() -> None:
    with pytest.raises(ValidationError) as caught:
        referral(narrative="\x07" * 10)
    [error] = caught.value.errors()
    assert error["loc"] == ("narrative",) and error["type"] == "forbidden_character"
    with pytest.raises(ValidationError):
        referral(household=[HouseholdMember(given_name="A", family_name="B", relationship="sibling")] * 31)
    with pytest.raises(ValidationError):
        AgencyRecord(category="x", summary="s" * 4001, reference="r")


def test_a_hostile_referral_decodes_to_a_contract_violation_that_shows_no_value() -> None:
    """The issue's example: a 200 KB narrative of control characters (valid Avro)."""
    import io

    from fastavro import schemaless_writer

    from mash_common.schemas import default_store

    good = referral()
    body = good.model_dump(mode="python")
    body["narrative"] = "Sam\x01" * 50_000
    version = default_store().current(Referral.avro_name)
    out = io.BytesIO()
    schemaless_writer(out, version.parsed, body)
    data = b"\xc3\x01" + version.fingerprint + out.getvalue()
    assert len(data) > 200_000
    with pytest.raises(ContractError) as caught:
        AvroSerde().decode(data, Referral)
    text = str(caught.value)
    assert "narrative: longer than 20000 characters" in text and "Sam" not in text


def test_responses_carry_at_most_a_hundred_records() -> None:
    record = AgencyRecord(category="x", summary="s", reference="r")
    fields: dict[str, Any] = dict(request_id="q", case_id="c", agency="police", responded_at="2026-11-02T09:30:00Z",
                  status="FOUND", responder={"name": "n", "role": "r"})
    InformationResponse(records=[record] * 100, **fields)
    with pytest.raises(ValidationError, match="more than 100 items"):
        InformationResponse(records=[record] * 101, **fields)


def test_the_contract_doc_lists_every_limit() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
    for field, limit in TEXT_LIMITS.items():
        assert f"| `{field}` | {limit:,} characters |" in doc
    for field, limit in LIST_LIMITS.items():
        assert f"| `{field}` | {limit} items |" in doc
