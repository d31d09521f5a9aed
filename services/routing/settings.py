"""Routing's settings. Environment: MASH_ROUTING_* (and MASH_KAFKA_* for the cluster)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.hubconfig import default_config_dir
from mash_common.settings import KafkaSettings


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_ROUTING_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    hub_config: Path = Field(default_factory=lambda: default_config_dir() / "hub.yaml")
    recipient_policy: Path = Field(
        default_factory=lambda: default_config_dir() / "recipient-policy.yaml"
    )
    # Faust keeps its worker state here; one directory per worker on a host.
    datadir: Path = Path("var/routing")
    # Prometheus /metrics; 0 disables it.
    metrics_port: int = 9103
    # Faust's own web server; None keeps it off (we serve metrics ourselves).
    web_port: int | None = None
    log_level: str = "INFO"
    # A decision can overtake its assembled case (the two topics are read side by side). It
    # is held this long for the case to arrive, then dead-lettered as UNKNOWN_CASE.
    unknown_case_grace_s: float = Field(default=300.0, gt=0)
    # How often held decisions are checked for expiry.
    park_sweep_interval_s: float = Field(default=1.0, gt=0)
