"""The hub's roster: which agencies answer requests and which source systems send referrals.

Both become topic names (mash.requests.<agency>.*, mash.outcomes.<recipient>), so ids are short
lower-case words.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


class HubSystemEntry(BaseModel):
    """A hub system (the MASH case management system): reads assembled cases, writes decisions."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str


# Names that would make a per-sender inbound topic collide with another topic of the design
# (mash.referrals.triaged is intake's output).
RESERVED_IDS = frozenset({"triaged"})


class HubConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    hub_name: str
    agencies: dict[EndpointId, AgencyEntry]
    source_systems: dict[EndpointId, SourceSystemEntry]
    hub_systems: dict[EndpointId, HubSystemEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ids_are_usable(self) -> HubConfig:
        for group, ids in (("source_systems", self.source_systems), ("agencies", self.agencies)):
            clash = RESERVED_IDS & set(ids)
            if clash:
                raise ValueError(f"{group}: {', '.join(sorted(clash))} is reserved "
                                 "(it would name another topic of the design)")
        # A hub system hears of refused rating changes on mash.outcomes.<id>: its own.
        shared = set(self.hub_systems) & (set(self.source_systems) | set(self.agencies))
        if shared:
            raise ValueError(f"hub_systems: {', '.join(sorted(shared))} is also a source system "
                             "or agency id (it would share that party's outcome topic)")
        for source, entry in self.source_systems.items():
            if entry.agency is not None and entry.agency not in self.agencies:
                raise ValueError(f"source_systems.{source}.agency: {entry.agency} is not an agency")
        return self

    @property
    def outcome_recipients(self) -> list[str]:
        """Everyone who may get an OutcomeNotification: source systems and agencies."""
        return sorted(set(self.source_systems) | set(self.agencies))


CONFIG_DIR_ENV = "MASH_CONFIG_DIR"


def packaged_config_dir() -> Path:
    """The default configuration: config/ in a source checkout, else the copy installed with
    the package (the wheel carries config/*.yaml as mash_common/_config)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "config"
    if (checkout / "hub.yaml").is_file() and (here.parent / "pyproject.toml").is_file():
        return checkout
    return here / "_config"


def default_config_dir() -> Path:
    """The hub's configuration directory: $MASH_CONFIG_DIR (set by every command's
    --config-dir), else the packaged defaults. Read when called (in main()), never at import."""
    configured = os.environ.get(CONFIG_DIR_ENV)
    return Path(configured) if configured else packaged_config_dir()


def load_hub_config(path: Path | None = None) -> HubConfig:
    return load_yaml_model(path or default_config_dir() / "hub.yaml", HubConfig)
