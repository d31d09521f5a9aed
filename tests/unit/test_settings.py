"""KafkaSettings: secure by default, one client-config file per principal, no secret leaks."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest
from pydantic import ValidationError

from mash_common.errors import ConfigError
from mash_common.settings import KafkaSettings, SecurityProtocol, read_client_config

SECRET = "s3cret-Passw0rd"


def write_config(tmp_path: Path, **overrides: str) -> Path:
    lines = {
        "bootstrap.servers": "127.0.0.1:19093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "hub1.agency.police",
        "sasl.password": SECRET,
        "ssl.ca.location": certifi.where(),
        **overrides,
    }
    path = tmp_path / "police.properties"
    path.write_text("# a comment\n" + "".join(f"{k}={v}\n" for k, v in lines.items() if v))
    return path


def test_a_client_config_file_says_who_the_client_is(tmp_path: Path) -> None:
    s = KafkaSettings(client_config=write_config(tmp_path), bootstrap_servers="elsewhere:9092")
    config = s.confluent_config()
    assert config["bootstrap.servers"] == "127.0.0.1:19093"  # the file wins
    assert (config["security.protocol"], config["sasl.mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (config["sasl.username"], config["sasl.password"]) == ("hub1.agency.police", SECRET)
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert s.principal == "hub1.agency.police"
    assert s.ssl_context() is not None


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASH_KAFKA_CLIENT_CONFIG", str(write_config(tmp_path)))
    assert KafkaSettings().sasl_username == "hub1.agency.police"


def test_secure_by_default_no_credentials_means_no_client(tmp_path: Path) -> None:
    s = KafkaSettings()
    assert s.security_protocol is SecurityProtocol.SASL_SSL
    with pytest.raises(ConfigError, match="CA"):
        s.confluent_config()
    with pytest.raises(ConfigError, match="sasl.username"):
        KafkaSettings(ssl_ca_location=Path(certifi.where())).confluent_config()


def test_plaintext_only_when_asked_for_explicitly() -> None:
    config = KafkaSettings(security_protocol=SecurityProtocol.PLAINTEXT).confluent_config()
    assert config["security.protocol"] == "PLAINTEXT" and "sasl.password" not in config


def test_only_scram_sha_512_over_sasl(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(client_config=write_config(tmp_path, **{"sasl.mechanism": "PLAIN"}))


@pytest.mark.parametrize(("text", "problem"), [
    ("bootstrap.servers=a:1\nsasl.password=x\nsasl.password=y\n", "set twice"),
    ("bootstrap.servers a:1\n", "expected key=value"),
    ("sasl.kerberos.keytab=/etc/x\n", "unknown client property"),
])
def test_bad_client_config_names_the_line_never_the_value(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(text.replace("=x", f"={SECRET}"))
    with pytest.raises(ConfigError, match=problem) as caught:
        read_client_config(path)
    assert SECRET not in str(caught.value) and str(path) in str(caught.value)


def test_the_password_never_shows_in_repr_or_errors(tmp_path: Path) -> None:
    s = KafkaSettings(client_config=write_config(tmp_path))
    assert SECRET not in repr(s) and SECRET not in str(s)
    missing = tmp_path / "nope.properties"
    with pytest.raises(ConfigError) as caught:
        KafkaSettings(client_config=missing)
    assert SECRET not in str(caught.value)
