"""Settings of the operations tools. Environment: MASH_OPS_* (Kafka: MASH_KAFKA_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.settings import KafkaSettings


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_OPS_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    # Consumer groups to watch; empty means every group whose id starts with group_prefix.
    groups: tuple[str, ...] = ()
    # Default: the groups of this hub's namespace (the services' groups are "<prefix>mash-...",
    # adapters' are their own); None means "the Kafka topic prefix".
    group_prefix: str | None = None
    # Only partitions of topics starting with this are reported; None means the Kafka topic prefix.
    topic_prefix: str | None = None
    sample_interval_s: float = 15.0
    # A consumer whose committed offset has not moved for this long while messages wait is stalled.
    stall_after_s: float = 300.0
    metrics_port: int = 9108
    metrics_host: str | None = None  # None: MASH_METRICS_HOST, else loopback
    request_timeout_s: float = 10.0

    @property
    def effective_group_prefix(self) -> str:
        return self.kafka.topic_prefix if self.group_prefix is None else self.group_prefix

    @property
    def effective_topic_prefix(self) -> str:
        return self.kafka.topic_prefix if self.topic_prefix is None else self.topic_prefix
