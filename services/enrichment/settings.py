"""Enrichment's settings. Environment: MASH_ENRICHMENT_* (Kafka: MASH_KAFKA_*)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.hubconfig import default_config_dir
from mash_common.settings import KafkaSettings
from mash_hub.services.enrichment.logic import DEFAULT_CHASE_POINTS


class EnrichmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_ENRICHMENT_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    hub_config: Path = Field(default_factory=lambda: default_config_dir() / "hub.yaml")
    sharing_agreement: Path = Field(
        default_factory=lambda: default_config_dir() / "sharing-agreement.yaml"
    )
    # The threshold policy's working-hours calendar times Amber and Green chases.
    threshold_policy: Path = Field(
        default_factory=lambda: default_config_dir() / "threshold-policy.yaml"
    )
    # False: chase at any hour (tests and demos whose deadlines run in elapsed seconds).
    use_working_hours: bool = True
    # The timescales a re-rated case gets (#19) are the threshold policy's; these override
    # them, as intake's MASH_INTAKE_DUE_*_S do (tests and demos: seconds).
    due_red_s: float | None = Field(default=None, gt=0)
    due_amber_s: float | None = Field(default=None, gt=0)
    due_green_s: float | None = Field(default=None, gt=0)
    # Fractions of the time from request to deadline at which unanswered agencies are chased.
    chase_points: tuple[float, ...] = DEFAULT_CHASE_POINTS
    # How often the sweeper looks for due deadlines and chases; a deadline fires at most this
    # much (plus processing) after it is due.
    sweep_interval_s: float = Field(default=0.25, gt=0, le=5)
    # A worker that dies holds its partitions this long before the group gives them away.
    session_timeout_s: float = Field(default=30.0, ge=6)
    # Input is applied in batches of up to this many events, waiting at most batch_within_s
    # for a batch to fill: one producer flush per batch instead of per event.
    batch_max: int = Field(default=200, ge=1)
    batch_within_s: float = Field(default=0.005, gt=0)
    # An assembled case's state is forgotten this long after its deadline; a late answer
    # until then amends the case. Keep it longer than intake's link window (30 days by
    # default), so no referral can join a case enrichment has forgotten.
    forget_assembled_after_s: float = Field(default=35 * 24 * 3600.0, gt=0)
    metrics_port: int = 9102
    web_port: int | None = None
    datadir: Path = Path("var/enrichment")
    log_level: str = "INFO"

    @field_validator("chase_points")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < p < 1 for p in value):
            raise ValueError("chase points are fractions strictly between 0 and 1")
        return tuple(sorted(value))

    def due_overrides(self) -> tuple[timedelta | None, timedelta | None, timedelta | None]:
        def td(s: float | None) -> timedelta | None:
            return timedelta(seconds=s) if s else None

        return td(self.due_red_s), td(self.due_amber_s), td(self.due_green_s)
