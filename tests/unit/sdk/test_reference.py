"""Reference adapters without a broker: config validation, HTTP, SQL (SQLite) and CSV lookups."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from mash_common.contracts import ResponseStatus, SubjectIdentifiers
from mash_common.errors import ConfigError
from mash_sdk.errors import TransientError
from mash_sdk.reference import build_handler, load_reference_config
from mash_sdk.reference.config import HttpBackend, ReferenceConfig
from mash_sdk.reference.csvdrop import CsvLookup
from mash_sdk.reference.handler import ReferenceHandler
from mash_sdk.reference.http import HttpBackendError, HttpLookup
from mash_sdk.testing import make_request

KNOWN = SubjectIdentifiers(given_name="Ada", family_name="Testfield", nhs_number="9990000018",
                           date_of_birth=date(2015, 3, 1))
UNKNOWN = SubjectIdentifiers(given_name="Nobody", family_name="Nowhere", nhs_number="9990000026")
FIELDS = {"summary": "summary", "reference": "ref", "date": "recorded", "risk_flag": "flag"}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_error_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "a.yaml", """\
agency: police
responder: {name: Team, role: Analyst}
sql:
  url: sqlite://
  categories:
    intel:
      query: "SELECT * FROM t WHERE surname = :family_name AND x = :case_notes"
      fields: {summary: s, reference: r}
""")
    with pytest.raises(ConfigError) as err:
        load_reference_config(cfg)
    assert "a.yaml:7" in str(err.value) and "case_notes" in str(err.value)


@pytest.mark.parametrize("query", ["DELETE FROM t", "UPDATE t SET a = 1"])
def test_sql_must_be_select(tmp_path: Path, query: str) -> None:
    cfg = write(tmp_path / "a.yaml", f"""\
agency: police
responder: {{name: Team, role: Analyst}}
sql: {{url: "sqlite://", categories: {{c: {{query: "{query}", fields: {{summary: s, reference: r}}}}}}}}
""")
    with pytest.raises(ConfigError, match="SELECT"):
        load_reference_config(cfg)


def test_http_template_placeholders_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        HttpBackend.model_validate({"base_url": "http://x", "categories": {
            "c": {"path": "/p/{narrative}", "fields": {"summary": "s", "reference": "r"}}}})


def http_config(**query: object) -> ReferenceConfig:
    return ReferenceConfig.model_validate({
        "agency": "police", "responder": {"name": "T", "role": "R"},
        "declined_categories": {"sealed": "sealed by court order"},
        "http": {"base_url": "http://agency.test", "categories": {
            "intel": {"path": "/people/{nhs_number}/intel", "params": {"surname": "{family_name}",
                                                                     "dob": "{date_of_birth}"},
                      "records_path": "data.items", "fields": FIELDS, **query}}}})


def http_handler(respond: httpx.MockTransport) -> ReferenceHandler:
    config = http_config()
    assert isinstance(config.backend, HttpBackend)
    return ReferenceHandler(config, HttpLookup(config.backend, transport=respond))


def test_http_found_not_known_and_request_mapping() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/people/9990000018/intel":
            return httpx.Response(200, json={"data": {"items": [
                {"summary": "Log entry", "ref": 17, "recorded": "2025-01-02", "flag": "yes"}]}})
        return httpx.Response(404)

    handler = http_handler(httpx.MockTransport(app))
    found = handler(make_request("police", subject=KNOWN, data_categories=["intel"]))
    assert found.status is ResponseStatus.FOUND
    assert found.records[0].reference == "17" and found.records[0].risk_flag
    assert found.records[0].date == date(2025, 1, 2)
    assert dict(seen[0].url.params) == {"surname": "Testfield", "dob": "2015-03-01"}
    unknown = handler(make_request("police", subject=UNKNOWN, data_categories=["intel"]))
    assert unknown.status is ResponseStatus.NOT_KNOWN
    declined = handler(make_request("police", subject=KNOWN, data_categories=["sealed"]))
    assert declined.status is ResponseStatus.DECLINED and declined.reason
    mixed = handler(make_request("police", subject=KNOWN, data_categories=["intel", "sealed"]))
    assert mixed.status is ResponseStatus.FOUND and "sealed" in (mixed.reason or "")


def test_http_missing_path_identifier_means_no_search() -> None:
    def app(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be called")

    handler = http_handler(httpx.MockTransport(app))
    answer = handler(make_request("police", subject=SubjectIdentifiers(family_name="X"),
                                  data_categories=["intel"]))
    assert answer.status is ResponseStatus.NOT_KNOWN


@pytest.mark.parametrize(("status", "error"), [
    (500, TransientError), (503, TransientError), (429, TransientError), (400, HttpBackendError),
    (401, HttpBackendError),
])
def test_http_failures(status: int, error: type[Exception]) -> None:
    handler = http_handler(httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(error):
        handler(make_request("police", subject=KNOWN, data_categories=["intel"]))


def test_http_timeout_is_transient() -> None:
    def app(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientError):
        http_handler(httpx.MockTransport(app))(
            make_request("police", subject=KNOWN, data_categories=["intel"]))


def test_sql_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE attendance (nhs TEXT, surname TEXT, dob TEXT, note TEXT, "
                     "ref TEXT, recorded TEXT, flag INTEGER)")
        conn.execute("INSERT INTO attendance VALUES ('9990000018', 'Testfield', '2015-03-01', "
                     "'Attendance 80%', 'A-1', '2025-10-01', 1)")
    cfg = write(tmp_path / "school.yaml", f"""\
agency: education
responder: {{name: Schools team, role: DSL}}
sql:
  url: "sqlite:///{db}"
  categories:
    attendance:
      query: >-
        SELECT note AS summary, ref, recorded, flag FROM attendance
        WHERE nhs = :nhs_number OR (surname = :family_name AND dob = :date_of_birth)
      fields: {json.dumps(FIELDS)}
""")
    handler = build_handler(load_reference_config(cfg))
    try:
        by_nhs = handler(make_request("education", subject=KNOWN, data_categories=["attendance"]))
        assert by_nhs.status is ResponseStatus.FOUND and by_nhs.records[0].reference == "A-1"
        by_name = handler(make_request("education", data_categories=["attendance"],
                                       subject=SubjectIdentifiers(family_name="Testfield",
                                                                  date_of_birth=date(2015, 3, 1))))
        assert by_name.status is ResponseStatus.FOUND
        # An injection attempt in an identifier is just a value that matches nothing.
        sneaky = SubjectIdentifiers(nhs_number="' OR '1'='1")
        assert handler(make_request("education", subject=sneaky,
                                    data_categories=["attendance"])).status is ResponseStatus.NOT_KNOWN
    finally:
        handler.close()


def csv_config(folder: Path) -> ReferenceConfig:
    return ReferenceConfig.model_validate({
        "agency": "housing", "responder": {"name": "T", "role": "R"},
        "csv": {"folder": str(folder), "categories": {"tenancy": {
            "files": "tenancy-*.csv",
            "columns": {"nhs_number": "NHS", "family_name": "Surname", "date_of_birth": "DOB"},
            "keys": [["nhs_number"], ["family_name", "date_of_birth"]],
            "identifier_date_format": "%d/%m/%Y",
            "fields": {"summary": "Note", "reference": "Ref"}}}}})


def test_csv_lookup_and_reload(tmp_path: Path) -> None:
    write(tmp_path / "tenancy-1.csv", "NHS,Surname,DOB,Note,Ref\n"
          "999 000 0018,Testfield,01/03/2015,Tenancy held by parent,T-1\n")
    config = csv_config(tmp_path)
    lookup = CsvLookup(config.backend)  # type: ignore[arg-type]
    handler = ReferenceHandler(config, lookup)
    assert handler(make_request("housing", subject=KNOWN,
                                data_categories=["tenancy"])).records[0].reference == "T-1"
    by_name = SubjectIdentifiers(family_name="TESTFIELD", date_of_birth=date(2015, 3, 1))
    assert handler(make_request("housing", subject=by_name,
                                data_categories=["tenancy"])).status is ResponseStatus.FOUND
    assert handler(make_request("housing", subject=UNKNOWN,
                                data_categories=["tenancy"])).status is ResponseStatus.NOT_KNOWN
    loads = lookup.loads
    # A new export arrives: the next lookup sees it.
    new = write(tmp_path / "tenancy-2.csv", "NHS,Surname,DOB,Note,Ref\n"
                "9990000026,Nowhere,02/02/2016,Arrears,T-2\n")
    assert handler(make_request("housing", subject=UNKNOWN,
                                data_categories=["tenancy"])).records[0].reference == "T-2"
    assert lookup.loads == loads + 1
    # Unchanged files are not re-read.
    handler(make_request("housing", subject=UNKNOWN, data_categories=["tenancy"]))
    assert lookup.loads == loads + 1
    # A replaced export (same name, new content) is reloaded too.
    write(new, "NHS,Surname,DOB,Note,Ref\n")
    later = time.time() + 5
    os.utime(new, (later, later))
    assert handler(make_request("housing", subject=UNKNOWN,
                                data_categories=["tenancy"])).status is ResponseStatus.NOT_KNOWN
