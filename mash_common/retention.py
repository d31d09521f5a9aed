"""The hub's retention policy (config/retention.yaml): how long a case's personal data stays."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mash_common.configfile import load_yaml_model
from mash_common.hubconfig import default_config_dir


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    case_data_days: float = Field(gt=0)
    case_data_why: str = Field(min_length=20)
    audit_store_years: float = Field(gt=0)
    audit_store_why: str = Field(min_length=20)


def load_retention(path: Path | None = None) -> RetentionPolicy:
    return load_yaml_model(path or default_config_dir() / "retention.yaml", RetentionPolicy)
