"""Personal data never leaves the dead-letter tooling unless asked for."""

from __future__ import annotations

import json

from mash_common.contracts import InformationResponse, Responder, ResponseStatus
from mash_common.serde import AvroSerde
from mash_ops.deadletter import _jsonable, parse_position
from mash_ops.redact import REDACTED, redact
from tests.support.factories import referral


def test_referral_is_redacted_but_ids_and_codes_stay() -> None:
    _, body = AvroSerde().decode_dict(AvroSerde().encode(referral("REF-1")))
    out = redact(_jsonable(body))
    text = json.dumps(out)
    for secret in ("Sam", "9434765919", "EX1 1AA", "2016-04-01", "Synthetic", "Ada Teacher"):
        assert secret not in text
    assert out["referral_id"] == "REF-1"
    assert out["concerns"] == ["NEGLECT"]
    assert out["subject"]["given_name"] == REDACTED
    assert out["referrer"]["name"] == REDACTED
    assert out["cin_referral_source"] == "2A"


def test_agency_records_summaries_are_redacted() -> None:
    from datetime import UTC, datetime

    from mash_common.contracts import AgencyRecord

    response = InformationResponse(
        request_id="q", case_id="c", agency="police", responded_at=datetime(2026, 1, 1, tzinfo=UTC),
        status=ResponseStatus.FOUND,
        records=[AgencyRecord(category="incidents", summary="Called to the home", reference="R1")],
        responder=Responder(name="PC Example", role="analyst"))
    _, body = AvroSerde().decode_dict(AvroSerde().encode(response))
    out = redact(_jsonable(body))
    assert "Called to the home" not in json.dumps(out) and "PC Example" not in json.dumps(out)
    assert out["records"][0]["reference"] == "R1"
    assert out["records"][0]["summary"] == REDACTED


def test_empty_and_missing_values_stay_visible() -> None:
    assert redact({"address": None, "reasons": [], "x": {"name": "A"}}) == {
        "address": None, "reasons": [], "x": {"name": REDACTED}}


def test_parse_position() -> None:
    assert parse_position("2:17") == (2, 17)
