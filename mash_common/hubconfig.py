"""The hub's roster: which agencies answer requests and which source systems send referrals.

Both become topic names (mash.requests.<agency>.*, mash.outcomes.<recipient>), so ids are short
lower-case words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mash_common.configfile import load_yaml_model
from mash_common.contracts import ReferrerType

ID_PATTERN = r"^[a-z][a-z0-9-]{1,30}$"
EndpointId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class AgencyEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    kind: ReferrerType = ReferrerType.OTHER


class SourceSystemEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    kind: ReferrerType = ReferrerType.OTHER
    agency: str | None = Field(default=None, description="The agency this system belongs to, if any")


class HubConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    hub_name: str
    agencies: dict[EndpointId, AgencyEntry]
    source_systems: dict[EndpointId, SourceSystemEntry]

    @property
    def outcome_recipients(self) -> list[str]:
        """Everyone who may get an OutcomeNotification: source systems and agencies."""
        return sorted(set(self.source_systems) | set(self.agencies))


def default_config_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "config"


def load_hub_config(path: Path | None = None) -> HubConfig:
    return load_yaml_model(path or default_config_dir() / "hub.yaml", HubConfig)
