"""Intake's settings: environment MASH_INTAKE_* (Kafka from MASH_KAFKA_*), built in main()."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.hubconfig import default_config_dir
from mash_common.settings import KafkaSettings


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_INTAKE_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    hub_config: Path = Field(default_factory=lambda: default_config_dir() / "hub.yaml")
    policy: Path = Field(default_factory=lambda: default_config_dir() / "threshold-policy.yaml")
    # Who learns what: RECEIVED and REJECTED follow it field by field.
    recipient_policy: Path = Field(
        default_factory=lambda: default_config_dir() / "recipient-policy.yaml")
    datadir: Path = Path("var/intake")
    metrics_port: int = 9101  # 0 disables the /metrics endpoint
    log_level: str = "INFO"
    # Validation.
    max_age_years: int = 25
    accept_adults_at_risk: bool = False  # True: no upper age limit (an adults-at-risk hub)
    clock_skew_s: float = 300.0
    # A case stays open for linking this long after it was opened (default 30 days).
    link_window_s: float = 30 * 24 * 3600.0
    # How often the linking state is swept for cases past their link window, which are
    # then removed (retention; audited RETENTION_PURGED).
    prune_interval_s: float = 3600.0
    # Override the policy file's timescales (tests and demos use seconds).
    due_red_s: float | None = None
    due_amber_s: float | None = None
    due_green_s: float | None = None
    # False: ignore the policy's working-hours calendar (tests and demos run at any hour).
    use_working_hours: bool = True

    @property
    def link_window(self) -> timedelta:
        return timedelta(seconds=self.link_window_s)

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(seconds=self.clock_skew_s)

    @property
    def max_age(self) -> int | None:
        return None if self.accept_adults_at_risk else self.max_age_years

    def due_overrides(self) -> tuple[timedelta | None, timedelta | None, timedelta | None]:
        def td(s: float | None) -> timedelta | None:
            return timedelta(seconds=s) if s else None

        return td(self.due_red_s), td(self.due_amber_s), td(self.due_green_s)
