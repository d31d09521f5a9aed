"""The gateway's settings. Environment: MASH_GATEWAY_* (and MASH_KAFKA_* for the cluster).

The gateway has no broker identity of its own: it acts for each source system, with that
source's client config, so the broker's ACLs (not the gateway's code) keep one source's
referrals off another's topic. Which API key belongs to which source, and where its client
config is, is the sources file:

    sources:
      school-portal:
        api_key_sha256: 9f86d0...   # sha256 of the key; the key itself is never stored
        client_config: clients/source.school-portal.properties   # relative to this file
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.configfile import load_yaml_model
from mash_common.errors import ConfigError
from mash_common.hubconfig import default_config_dir
from mash_common.settings import KafkaSettings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SourceEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key_sha256: str
    client_config: Path

    @field_validator("api_key_sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError("must be the 64 lower-case hex digits of the key's sha256")
        return value


class SourcesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: dict[str, SourceEntry]


def load_sources(path: Path, known: set[str]) -> dict[str, SourceEntry]:
    """The sources file, validated; errors name the file, line and entry, never a digest.
    Read with the project's strict loader (a key given twice is an error)."""
    parsed = load_yaml_model(path, SourcesFile)
    unknown = sorted(set(parsed.sources) - known)
    if unknown:
        raise ConfigError(f"{path}: {', '.join(unknown)} not a source system of hub.yaml")
    digests = [e.api_key_sha256 for e in parsed.sources.values()]
    if len(set(digests)) != len(digests):
        raise ConfigError(f"{path}: two source systems share one API key")
    return {
        source: entry.model_copy(update={"client_config": (path.parent / entry.client_config).resolve()})
        for source, entry in parsed.sources.items()
    }


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_GATEWAY_", frozen=True, extra="ignore")

    # The cluster and topic prefix; the credentials come from each source's client config.
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    hub_config: Path = Field(default_factory=lambda: default_config_dir() / "hub.yaml")
    sources_file: Path = Path("var/gateway/sources.yaml")
    # Where the idempotency store lives (it must outlive the process: a resend after a
    # restart gets the first answer).
    datadir: Path = Path("var/gateway")
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    log_level: str = "INFO"
    # How long a POST waits for the broker to acknowledge the referral before answering 503.
    delivery_timeout_s: float = Field(default=15.0, gt=0)
    # Idempotency entries older than this are forgotten (the referral topics keep a week).
    idempotency_retention_days: int = Field(default=30, ge=1)
    # A referral body larger than this is refused (413) before it is parsed.
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
