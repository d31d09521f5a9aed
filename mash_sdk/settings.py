"""The adapter's settings. Environment: MASH_ADAPTER_* (Kafka: MASH_KAFKA_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.hubconfig import EndpointId
from mash_common.metrics import metrics_host
from mash_common.settings import KafkaSettings


class AdapterSettings(BaseSettings):
    """Built in main() or by a test with keyword arguments; never at import time."""

    model_config = SettingsConfigDict(env_prefix="MASH_ADAPTER_", frozen=True, extra="ignore")

    agency: EndpointId
    responder_name: str = "Agency safeguarding team"
    responder_role: str = "MASH adapter"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    group_id: str | None = Field(
        default=None, description="Consumer group; default <prefix>mash-adapter-<agency>"
    )
    health_port: int = Field(
        default=0, ge=0, description="HTTP port for /healthz and /metrics; 0 disables (9110+)"
    )
    health_host: str = Field(default_factory=metrics_host)
    health_max_poll_age_s: float = Field(
        default=60.0, gt=0, description="/healthz fails if the loop has not polled for this long"
    )
    max_attempts: int = Field(default=4, ge=1, description="Tries per request on transient errors")
    backoff_initial_s: float = Field(default=0.2, ge=0)
    backoff_max_s: float = Field(default=5.0, ge=0)
    lower_priority_buffer: int = Field(
        default=8, ge=1,
        description="Amber/Green messages held locally at most; beyond this their partitions "
        "are paused so that a Red request is never queued behind them",
    )
    poll_timeout_s: float = Field(default=0.1, gt=0)
    fetch_wait_max_ms: int = Field(
        default=50, ge=1, description="Broker long-poll; bounds how long a new Red request waits"
    )
    delivery_timeout_s: float = Field(default=30.0, gt=0)
    answer_cache_size: int = Field(
        default=10_000, ge=0, description="Recent answers kept to re-send on a chase"
    )

    @property
    def consumer_group(self) -> str:
        return self.group_id or f"{self.kafka.topic_prefix}mash-adapter-{self.agency}"
