"""Settings shared by every component: where Kafka is, and who this client is to it.

Every Kafka client of the project (faust apps, confluent-kafka producers, consumers and
admin clients, the SDK, the tools) is built from one KafkaSettings, which carries the
principal's credentials and the TLS trust anchor, so no code path can open a plaintext or
anonymous connection by accident. Built in main() (or by tests with keyword arguments),
never at import time.
"""

from __future__ import annotations

import logging
import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.errors import ConfigError
from mash_common.topics import TopicNames


class SecurityProtocol(StrEnum):
    SASL_SSL = "SASL_SSL"
    SSL = "SSL"
    # Only for a broker that an operator deliberately opened without security (for example
    # to measure what TLS costs); never a default.
    PLAINTEXT = "PLAINTEXT"


SCRAM_SHA_512 = "SCRAM-SHA-512"


class Profile(StrEnum):
    """How durably the hub's topics are stored (docs/operations.md, "Production profile")."""

    # One broker: `make run`, the tests, the demo.
    DEV = "dev"
    # Three brokers or more: every record on three, acknowledged by two (producers send
    # acks=all), so one broker can fail or be restarted without losing an acknowledged record.
    PRODUCTION = "production"


# profile -> (replication factor, min.insync.replicas) of every topic the hub creates
PROFILE_REPLICATION = {Profile.DEV: (1, 1), Profile.PRODUCTION: (3, 2)}

# librdkafka property -> KafkaSettings field, for client-config files.
_PROPERTY_FIELDS = {
    "bootstrap.servers": "bootstrap_servers",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
    "sasl.password": "sasl_password",
    "ssl.ca.location": "ssl_ca_location",
}


def read_client_config(path: Path) -> dict[str, str]:
    """The connection settings of a librdkafka properties file (as `kcat -F` reads it).

    Errors name the file and line, never a value (the file holds a password).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the client config ({exc.strerror})") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        if "=" not in line:
            raise ConfigError(f"{path}:{number}: expected key=value")
        key, value = (part.strip() for part in line.split("=", 1))
        field = _PROPERTY_FIELDS.get(key)
        if field is None:
            raise ConfigError(f"{path}:{number}: unknown client property {key!r}")
        if field in found:
            raise ConfigError(f"{path}:{number}: {key} is set twice")
        found[field] = value
    if "ssl_ca_location" in found and not Path(found["ssl_ca_location"]).is_absolute():
        found["ssl_ca_location"] = str((path.parent / found["ssl_ca_location"]).resolve())
    return found


class KafkaSettings(BaseSettings):
    """How to reach the cluster, as which principal. Environment: MASH_KAFKA_*.

    MASH_KAFKA_CLIENT_CONFIG (or `client_config=`) names a librdkafka properties file with
    bootstrap.servers, security.protocol, sasl.mechanism, sasl.username, sasl.password and
    ssl.ca.location; its values win over the other MASH_KAFKA_* variables, since the file is
    what says who the client is.
    """

    model_config = SettingsConfigDict(env_prefix="MASH_KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("MASH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS",
                                      "bootstrap_servers"),
    )
    topic_prefix: str = ""
    # The profile sets the next two unless they are given (MASH_KAFKA_PROFILE=production;
    # MASH_KAFKA_REPLICATION_FACTOR, MASH_KAFKA_MIN_INSYNC_REPLICAS).
    profile: Profile = Profile.DEV
    replication_factor: int = 1
    min_insync_replicas: int = 1
    client_config: Path | None = None
    security_protocol: SecurityProtocol = SecurityProtocol.SASL_SSL
    sasl_mechanism: str = SCRAM_SHA_512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_client_config(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("client_config"):
            merged = dict(data)
            merged.update(read_client_config(Path(data["client_config"])))
            return merged
        return data

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            profile = Profile(data.get("profile") or Profile.DEV)
        except ValueError:
            return data  # the field's own validation names the allowed values
        replicas, min_isr = PROFILE_REPLICATION[profile]
        return {"replication_factor": replicas, "min_insync_replicas": min_isr, **data}

    @model_validator(mode="after")
    def _durable_enough(self) -> KafkaSettings:
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise ValueError(f"min_insync_replicas must be between 1 and the replication factor "
                             f"({self.replication_factor}), not {self.min_insync_replicas}")
        return self

    @model_validator(mode="after")
    def _secure_enough(self) -> KafkaSettings:
        if self.security_protocol is SecurityProtocol.SASL_SSL and self.sasl_mechanism != SCRAM_SHA_512:
            raise ValueError(f"sasl.mechanism must be {SCRAM_SHA_512}")
        return self

    @classmethod
    def from_options(cls, bootstrap: str | None = None, prefix: str | None = None,
                     client_config: Path | None = None) -> KafkaSettings:
        """The environment's settings, overridden by command-line options where given."""
        overrides: dict[str, Any] = {}
        if bootstrap:
            overrides["bootstrap_servers"] = bootstrap
        if prefix is not None:
            overrides["topic_prefix"] = prefix
        if client_config is not None:
            overrides["client_config"] = client_config
        return cls(**overrides)

    def as_principal(self, client_config: Path) -> KafkaSettings:
        """The same cluster and prefix, as the principal whose client config is given."""
        return KafkaSettings(bootstrap_servers=self.bootstrap_servers, topic_prefix=self.topic_prefix,
                             profile=self.profile, replication_factor=self.replication_factor,
                             min_insync_replicas=self.min_insync_replicas,
                             client_config=client_config)

    def with_replication(self, replication_factor: int, min_insync_replicas: int) -> KafkaSettings:
        """The same principal, creating topics with this replication (provisioning options)."""
        if not 1 <= min_insync_replicas <= replication_factor:
            raise ConfigError(f"min.insync.replicas {min_insync_replicas} needs a replication "
                              f"factor of at least that, not {replication_factor}")
        return self.model_copy(update={"replication_factor": replication_factor,
                                       "min_insync_replicas": min_insync_replicas})

    def topic_config(self, config: dict[str, str]) -> dict[str, str]:
        """A topic's configuration with the profile's durability added: min.insync.replicas
        when records are replicated (with one replica the broker's default, 1, is all there is)."""
        if self.replication_factor <= 1:
            return dict(config)
        return {**config, "min.insync.replicas": str(self.min_insync_replicas)}

    def with_prefix(self, topic_prefix: str) -> KafkaSettings:
        """The same principal on another hub prefix (tests, demo runs)."""
        return self.model_copy(update={"topic_prefix": topic_prefix})

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def principal(self) -> str:
        """Who this client is to the broker, for log lines (never the password)."""
        if self.security_protocol is SecurityProtocol.SASL_SSL:
            return self.sasl_username or "(no user)"
        return "ANONYMOUS"

    def _require_credentials(self) -> None:
        if self.security_protocol is SecurityProtocol.PLAINTEXT:
            return
        if self.ssl_ca_location is None:
            raise ConfigError("Kafka TLS needs a CA: set ssl.ca.location in the client config "
                              "(--client-config FILE or MASH_KAFKA_CLIENT_CONFIG)")
        if self.security_protocol is SecurityProtocol.SASL_SSL and (
                not self.sasl_username or self.sasl_password is None):
            raise ConfigError("Kafka SASL_SSL needs sasl.username and sasl.password: pass a "
                              "client config (--client-config FILE or MASH_KAFKA_CLIENT_CONFIG)")

    def confluent_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for confluent-kafka clients."""
        self._require_credentials()
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.value,
            # librdkafka's own lines go through Python logging, so the one place that
            # configures logging decides where they land (not straight onto stderr).
            "logger": logging.getLogger("librdkafka"),
        }
        if self.security_protocol is not SecurityProtocol.PLAINTEXT:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
            config["ssl.endpoint.identification.algorithm"] = "https"
        if self.security_protocol is SecurityProtocol.SASL_SSL:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        config.update(extra)
        return config

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for a producer that agrees with faust on partitions."""
        return self.confluent_config(**{
            # Faust (aiokafka) and Java clients place keys with murmur2; librdkafka's default
            # (CRC32) would put a case's records on other partitions than its state.
            "partitioner": "murmur2_random",
            # The production profile's durability: a send succeeds only when every in-sync
            # replica has it (at least min.insync.replicas), and a retry never duplicates.
            "enable.idempotence": True,
            "acks": "all",
            **extra,
        })

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context trusting only the configured CA (None for PLAINTEXT)."""
        self._require_credentials()
        if self.security_protocol is SecurityProtocol.PLAINTEXT:
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_ca_location))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def faust_credentials(self) -> Any:
        """Faust's broker_credentials for this principal (aiokafka underneath)."""
        import faust  # here, so that the SDK (which never runs faust) need not install it

        context = self.ssl_context()
        if self.security_protocol is SecurityProtocol.SASL_SSL:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value() if self.sasl_password else "",
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None
