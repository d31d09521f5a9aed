"""Golden vectors: for every Avro record, its canonical form, fingerprint and one encoding.

schemas/avro/vectors/<Name>.json is what another implementation (Java, .NET, ...) checks
itself against: the Parsing Canonical Form, the CRC-64-AVRO fingerprint as the 8 bytes of
the single-object header (little-endian hex), one example value in Avro's JSON encoding and
the same value single-object encoded, as hex. `mash-vectors --write`
regenerates them; `--check` (and the unit tests) fail if that would change a file.
The examples are invented: no real person, place or case.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastavro import json_reader, json_writer, schemaless_writer

from mash_common.schemas import SchemaStore, default_schema_dir, default_store

MARKER = b"\xc3\x01"

_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_DUE = datetime(2026, 11, 2, 13, 30, tzinfo=UTC)

_SUBJECT: dict[str, Any] = {
    "given_name": "Sam",
    "family_name": "Example",
    "date_of_birth": date(2016, 4, 1),
    "nhs_number": "9434765919",
    "postcode": "EX1 1AA",
    "address": None,
    "sex": "U",
}
_RESPONDER: dict[str, Any] = {"name": "Duty Officer", "role": "MASH researcher"}
_RECORD: dict[str, Any] = {
    "category": "incidents",
    "summary": "Synthetic incident summary.",
    "date": date(2026, 10, 30),
    "risk_flag": True,
    "reference": "INC-0001",
}
_REFERRAL: dict[str, Any] = {
    "referral_id": "REF-1",
    "source_system": "school-portal",
    "received_at": _AT,
    "referrer": {
        "name": "Ada Teacher",
        "role": "Designated safeguarding lead",
        "organisation": "Example Primary School",
        "agency_type": "EDUCATION",
        "contact": None,
    },
    "subject": _SUBJECT,
    "household": [
        {"given_name": "Alex", "family_name": "Example", "date_of_birth": None,
         "relationship": "parent"},
    ],
    "concerns": ["NEGLECT", "DOMESTIC_ABUSE"],
    "indicators": ["REPEAT_INCIDENT"],
    "narrative": "Synthetic narrative for testing.",
    "consent": {
        "status": "GIVEN",
        "override_reason": None,
        "override_authorised_by": None,
        "recorded_at": _AT,
    },
    "cin_referral_source": "2A",
}
_FIRED = {"rule_id": "neglect-repeat", "description": "Repeated neglect", "rag": "RED"}


def examples() -> dict[str, Any]:
    """One example value per record name, as fastavro writes it."""
    return {
        "Rag": "AMBER",
        "Subject": _SUBJECT,
        "Responder": _RESPONDER,
        "AgencyRecord": _RECORD,
        "Referral": _REFERRAL,
        "TriagedReferral": {
            "case_id": "CASE-1",
            "referral": _REFERRAL,
            "rag": "RED",
            "opened_at": _AT,
            "due_at": _DUE,
            "triaged_at": _AT,
            "fired_rules": [_FIRED],
            "linked_case": {
                "case_id": "CASE-0",
                "match": "NHS_NUMBER",
                "reason": "same NHS number",
                "previous_rag": "GREEN",
            },
            "policy_version": "2026-11",
            "cin_factor_codes": ["2A"],
        },
        "InformationRequest": {
            "request_id": "REQ-1",
            "case_id": "CASE-1",
            "agency": "police",
            "rag": "RED",
            "requested_at": _AT,
            "respond_by": _DUE,
            "subject": {
                "given_name": "Sam",
                "family_name": "Example",
                "date_of_birth": date(2016, 4, 1),
                "nhs_number": None,
                "postcode": "EX1 1AA",
                "address": None,
            },
            "data_categories": ["incidents", "warnings"],
            "legal_basis": "Children Act 2004 s.11",
            "purpose": "MASH safeguarding enquiry",
            "is_chase": False,
            "chase_number": 0,
            "consent_status": "GIVEN",
        },
        "InformationResponse": {
            "request_id": "REQ-1",
            "case_id": "CASE-1",
            "agency": "police",
            "responded_at": _AT,
            "status": "FOUND",
            "reason": None,
            "records": [_RECORD],
            "responder": _RESPONDER,
        },
        "AssembledCase": {
            "case_id": "CASE-1",
            "version": 2,
            "referral_ids": ["REF-1"],
            "referrals": [_REFERRAL],
            "subject": _SUBJECT,
            "rag": "RED",
            "opened_at": _AT,
            "due_at": _DUE,
            "assembled_at": _DUE,
            "completeness": "PARTIAL",
            "asked_agencies": ["police", "health"],
            "contributions": [
                {
                    "agency": "police",
                    "request_id": "REQ-1",
                    "status": "FOUND",
                    "responded_at": _AT,
                    "reason": None,
                    "records": [_RECORD],
                    "responder": _RESPONDER,
                    "late": False,
                }
            ],
            "missing_agencies": ["health"],
            "fired_rules": [_FIRED],
            "cin_factor_codes": ["2A"],
        },
        "RatingChange": {
            "change_id": "CHANGE-1",
            "case_id": "CASE-1",
            "hub_system": "case-management",
            "rag": "RED",
            "rationale": "Synthetic rationale: police hold a recent incident at the address.",
            "decided_by": "MASH team manager",
            "decided_at": _DUE,
            "previous_rag": "AMBER",
        },
        "Decision": {
            "case_id": "CASE-1",
            "decided_at": _DUE,
            "outcome": "STRATEGY_DISCUSSION",
            "rationale": "Synthetic rationale.",
            "decided_by": "MASH manager",
            "lead_agency": "social-care",
            "lead_contact": "mash-duty@example.invalid",
            "revision": 1,
            "cin_primary_need": "N1",
        },
        "OutcomeNotification": {
            "notification_id": "NOTE-1",
            "case_id": "CASE-1",
            "referral_id": "REF-1",
            "recipient": "school-portal",
            "kind": "DECISION",
            "sent_at": _DUE,
            "message": "A decision has been made.",
            "decision_outcome": "STRATEGY_DISCUSSION",
            "reasons": [],
            "rag": "RED",
            "due_at": _DUE,
            "lead_agency": "social-care",
            "lead_contact": None,
            "revision": 1,
        },
        "DeadLetter": {
            "topic": "mash.responses.police",
            "partition": 3,
            "offset": 42,
            "key": b"CASE-1",
            "value": b"\x00\x01\xff",
            "stage": "enrichment",
            "error": "not Avro single-object encoding",
            "at": _AT,
            "reason_code": "UNDECODABLE",
        },
        "AuditEvent": {
            "event_id": "EVT-1",
            "at": _AT,
            "actor": "enrichment",
            "action": "REQUEST_SENT",
            "case_id": "CASE-1",
            "agency": "police",
            "legal_basis": "Children Act 2004 s.11",
            "data_categories": ["incidents"],
            "reference": "REQ-1",
            "detail": None,
        },
    }


def encode(store: SchemaStore, name: str, value: Any) -> bytes:
    """Single-object encoding of value with the current schema of name."""
    version = store.current(name)
    buffer = io.BytesIO()
    buffer.write(MARKER + version.fingerprint)
    schemaless_writer(buffer, version.parsed, value)
    return buffer.getvalue()


def to_avro_json(store: SchemaStore, name: str, value: Any) -> Any:
    """value in Avro's JSON encoding (unions tagged with their branch, logical types raw)."""
    out = io.StringIO()
    json_writer(out, store.current(name).parsed, [value])
    return json.loads(out.getvalue())


def from_avro_json(store: SchemaStore, name: str, encoded: Any) -> Any:
    """The value an Avro JSON encoding stands for, as fastavro reads it."""
    return next(iter(json_reader(io.StringIO(json.dumps(encoded)), store.current(name).parsed)))


def vector(store: SchemaStore, name: str, value: Any) -> dict[str, Any]:
    version = store.current(name)
    return {
        "name": f"mash.{name}",
        "canonical_form": version.canonical_form,
        "fingerprint_hex": version.fingerprint.hex(),
        "fingerprint_long": int.from_bytes(version.fingerprint, "little", signed=True),
        "example": to_avro_json(store, name, value),
        "encoded_hex": encode(store, name, value).hex(),
    }


def vectors_dir() -> Path:
    return default_schema_dir() / "vectors"


def render(store: SchemaStore | None = None) -> dict[str, str]:
    """File name -> file text, for every record the store knows."""
    store = store or default_store()
    values = examples()
    missing = set(store.names()) - set(values)
    if missing:
        raise ValueError(f"no example value for: {', '.join(sorted(missing))}")
    return {
        f"{name}.json": json.dumps(vector(store, name, values[name]), indent=2) + "\n"
        for name in store.names()
    }


def stale(directory: Path | None = None) -> list[str]:
    """Files that regenerating would create, change or delete."""
    directory = directory or vectors_dir()
    wanted = render()
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    changed = [
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    return sorted(changed + sorted(present - set(wanted)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-vectors", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the vector files")
    mode.add_argument("--check", action="store_true", help="fail if they are out of date")
    args = parser.parse_args(argv)
    directory = vectors_dir()
    if args.check:
        outdated = stale(directory)
        for name in outdated:
            print(f"out of date: {directory / name}", file=sys.stderr)
        return 1 if outdated else 0
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for path in directory.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} vectors to {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
