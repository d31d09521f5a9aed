"""The gateway without a broker: its spec, keys, idempotency store and validation answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_hub.services.gateway.__main__ import SPEC_PATH, spec_text
from mash_hub.services.gateway.app import create_app
from mash_hub.services.gateway.auth import Authenticator, hash_key, new_key
from mash_hub.services.gateway.metrics import GatewayMetrics
from mash_hub.services.gateway.models import ReferralSubmission, derived_referral_id
from mash_hub.services.gateway.settings import GatewaySettings, SourceEntry, load_sources
from mash_hub.services.gateway.store import IdempotencyStore, State, Verdict
from tests.support.referrals import FAMILY_NAME, GIVEN_NAME, NARRATIVE, referral_body

KEY = "mash_test-key-school"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    sources = {"school-portal": SourceEntry(api_key_sha256=hash_key(KEY),
                                            client_config=tmp_path / "unused.properties")}
    app = create_app(GatewaySettings(datadir=tmp_path), sources=sources,
                     metrics=GatewayMetrics(CollectorRegistry()))
    return TestClient(app)  # no `with`: the lifespan (Kafka) does not run


def test_the_committed_openapi_spec_is_the_served_one(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    assert json.loads(SPEC_PATH.read_text()) == served
    assert SPEC_PATH.read_text() == spec_text(), "regenerate: mash-gateway openapi"
    assert served["openapi"].startswith("3.")


def test_a_key_maps_to_its_source_only() -> None:
    one, two = new_key(), new_key()
    auth = Authenticator({"school-portal": hash_key(one), "police-niche": hash_key(two)})
    assert auth.source_for(one) == "school-portal"
    assert auth.source_for(two) == "police-niche"
    assert auth.source_for(one + "x") is None
    assert auth.source_for("") is None and auth.source_for(None) is None


def test_the_sources_file_holds_digests_and_refuses_unknown_sources(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  school-portal:\n    api_key_sha256: {hash_key(KEY)}\n"
                    "    client_config: clients/school.properties\n")
    loaded = load_sources(path, {"school-portal"})
    assert loaded["school-portal"].client_config == tmp_path / "clients" / "school.properties"
    with pytest.raises(ConfigError, match="not a source system"):
        load_sources(path, {"police-niche"})
    path.write_text("sources:\n  school-portal:\n    api_key_sha256: plain-text-key\n"
                    "    client_config: x\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path, {"school-portal"})
    assert "plain-text-key" not in str(err.value)


def test_the_store_reserves_once_and_tells_same_from_conflict(tmp_path: Path) -> None:
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    store = IdempotencyStore(tmp_path / "s.sqlite3")
    assert store.reserve("a", "r1", "d1", at)[0] is Verdict.NEW
    assert store.reserve("a", "r1", "d1", at + timedelta(seconds=1))[0] is Verdict.SAME
    assert store.reserve("a", "r1", "d2", at)[0] is Verdict.CONFLICT
    assert store.reserve("b", "r1", "d2", at)[0] is Verdict.NEW  # per source
    store.release("a", "r1")
    assert store.reserve("a", "r1", "d2", at)[0] is Verdict.NEW
    store.accept("a", "r1")
    store.release("a", "r1")  # an accepted referral is never forgotten by a failed resend
    store.close()
    again = IdempotencyStore(tmp_path / "s.sqlite3")
    verdict, entry = again.reserve("a", "r1", "d2", at + timedelta(days=1))
    assert (verdict, entry.state, entry.accepted_at) == (Verdict.SAME, State.ACCEPTED, at)
    assert again.prune(at + timedelta(days=40), timedelta(days=30)) == 2


def test_the_digest_ignores_key_order_and_the_derived_id_is_stable() -> None:
    body = referral_body()
    shuffled = dict(reversed(list(body.items())))
    assert (ReferralSubmission.model_validate(body).digest()
            == ReferralSubmission.model_validate(shuffled).digest())
    assert derived_referral_id("s", "k") == derived_referral_id("s", "k") != derived_referral_id("t", "k")


def _no_personal_data(text: str) -> None:
    for value in (GIVEN_NAME, FAMILY_NAME, NARRATIVE, "2016-04-02", "EX1 2AB", "not-a-concern"):
        assert value not in text


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"concerns": ["not-a-concern"]}, "concerns.0", "enum"),
    ({"subject": {"family_name": FAMILY_NAME, "date_of_birth": "2016-04-02"}}, "subject.given_name", "missing"),
    ({"subject": {"given_name": GIVEN_NAME, "family_name": FAMILY_NAME, "date_of_birth": "02/04/2016"}},
     "subject.date_of_birth", "date_from_datetime_parsing"),
    ({"narrative": ""}, "narrative", "string_too_short"),
    ({"referral_id": "has spaces " + GIVEN_NAME}, "referral_id", "string_pattern_mismatch"),
])
def test_validation_errors_name_fields_and_never_echo_values(
        client: TestClient, change: dict[str, object], field: str, code: str) -> None:
    answer = client.post("/v1/referrals", json=referral_body(**change),  # type: ignore[arg-type]  # table rows
                         headers={"X-API-Key": KEY})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert {"field": field, "code": code} in problem["errors"]
    _no_personal_data(answer.text)


def test_no_key_or_a_wrong_key_is_401_before_the_body_is_looked_at(client: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}):
        answer = client.post("/v1/referrals", json=referral_body(), headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        _no_personal_data(answer.text)
    assert client.get("/v1/outcomes").status_code == 401


def test_a_large_body_is_413(client: TestClient) -> None:
    answer = client.post("/v1/referrals", content=b"{" + b" " * 300_000 + b"}",
                         headers={"X-API-Key": KEY, "content-type": "application/json"})
    assert answer.status_code == 413


def test_a_key_given_twice_in_the_sources_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  school-portal:\n    api_key_sha256: {hash_key(KEY)}\n"
                    "    client_config: a.properties\n    client_config: b.properties\n")
    with pytest.raises(ConfigError, match="client_config"):
        load_sources(path, {"school-portal"})


def test_an_erased_case_leaves_the_outcome_book_and_the_stream_keeps_its_numbers() -> None:
    from mash_common.contracts import NotificationKind, OutcomeNotification
    from mash_hub.services.gateway.outcomes import OutcomeBook

    book = OutcomeBook()
    at = datetime(2026, 12, 2, 9, tzinfo=UTC)

    def note(n: str, case_id: str | None, referral_id: str) -> OutcomeNotification:
        return OutcomeNotification(notification_id=n, case_id=case_id, referral_id=referral_id,
                                   recipient="school-portal", kind=NotificationKind.RECEIVED,
                                   sent_at=at, message="received")

    book.add("school-portal", note("n1", "C-1", "R-1"))
    book.add("school-portal", note("n2", "C-2", "R-2"))
    book.add("school-portal", note("n3", None, "R-3"))
    book.add("school-portal", note("n4", "C-1", "R-1b"))
    assert book.forget("school-portal", "C-1") == 2
    assert [o.notification_id for o in book.after("school-portal", 0)] == ["n2", "n3"]
    assert book.last("school-portal") == 4  # later outcomes keep their sequence numbers
    assert book.for_referral("school-portal", "R-1") == (None, [])
    assert book.forget("school-portal", "R-3") == 1
    assert book.forget("school-portal", "nothing") == 0
