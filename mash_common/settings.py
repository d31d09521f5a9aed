"""Settings shared by every component: where Kafka is and how to reach it.

Built in main() (or by tests with keyword arguments), never at import time.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.topics import TopicNames


class KafkaSettings(BaseSettings):
    """How to reach the cluster. Environment: MASH_KAFKA_* (or KAFKA_BOOTSTRAP_SERVERS)."""

    model_config = SettingsConfigDict(env_prefix="MASH_KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("MASH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS",
                                      "bootstrap_servers"),
    )
    topic_prefix: str = ""
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @classmethod
    def from_options(cls, bootstrap: str | None = None, prefix: str | None = None) -> KafkaSettings:
        """The environment's settings, overridden by command-line options where given."""
        overrides: dict[str, str] = {}
        if bootstrap:
            overrides["bootstrap_servers"] = bootstrap
        if prefix is not None:
            overrides["topic_prefix"] = prefix
        return cls(**overrides)  # type: ignore[arg-type]  # pydantic-settings takes field names

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    def confluent_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for confluent-kafka clients."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # librdkafka's own lines go through Python logging, so the one place that
            # configures logging decides where they land (not straight onto stderr).
            "logger": logging.getLogger("librdkafka"),
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else ""
            )
        config.update(extra)
        return config

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for a producer that agrees with faust on partitions."""
        return self.confluent_config(**{
            # Faust (aiokafka) and Java clients place keys with murmur2; librdkafka's default
            # (CRC32) would put a case's records on other partitions than its state.
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            **extra,
        })
