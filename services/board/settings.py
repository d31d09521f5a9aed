"""The board's settings. Environment: MASH_BOARD_* (and MASH_KAFKA_* for the cluster).

The board reads as its own principal (MASH_KAFKA_CLIENT_CONFIG names board.case-board's
client config). The access file says who may log in and, for the agencies whose staff
answer on the response page, which client config the page writes that agency's answers
with (its own agency.<id> principal):

    users:
      duty-manager: {password_scrypt: "scrypt$...", role: staff, name: "Duty manager"}
      wall: {password_scrypt: "scrypt$...", role: wall, name: "Meeting room screen"}
      school-dsl: {password_scrypt: "scrypt$...", role: agency, agency: education,
                   name: "A. Teacher", job_role: "Designated safeguarding lead"}
    agencies:
      education: {client_config: clients/agency.education.properties}   # relative to this file
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.configfile import load_yaml_model
from mash_common.errors import ConfigError
from mash_common.hubconfig import default_config_dir
from mash_common.settings import KafkaSettings
from mash_hub.services.board.users import Role, User


class AgencyEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    client_config: Path


class AccessFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    users: dict[str, User]
    agencies: dict[str, AgencyEntry] = Field(default_factory=dict)


def load_access(path: Path, known_agencies: set[str]) -> AccessFile:
    """The access file, validated; errors name the file, line and entry, never a hash.
    Read with the project's strict loader (a key given twice is an error)."""
    parsed = load_yaml_model(path, AccessFile)
    for name, user in parsed.users.items():
        if user.role is Role.AGENCY and user.agency not in parsed.agencies:
            raise ConfigError(f"{path}: user {name} answers for {user.agency}, which has no "
                              "client config under agencies")
    unknown = sorted(set(parsed.agencies) - known_agencies)
    if unknown:
        raise ConfigError(f"{path}: {', '.join(unknown)} not an agency of hub.yaml")
    agencies = {a: AgencyEntry(client_config=(path.parent / e.client_config).resolve())
                for a, e in parsed.agencies.items()}
    return parsed.model_copy(update={"agencies": agencies})


class BoardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_BOARD_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)  # as board.case-board
    hub_config: Path = Field(default_factory=lambda: default_config_dir() / "hub.yaml")
    access_file: Path = Path("var/board/access.yaml")
    # Signs the session cookie; a restart with a new secret logs everyone out.
    session_secret: SecretStr = SecretStr("")
    session_hours: float = Field(default=10.0, gt=0)  # one working day and a bit
    # Set when the board is served over HTTPS (it must be, beyond a developer's machine).
    secure_cookies: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=0, le=65535)
    log_level: str = "INFO"
    delivery_timeout_s: float = Field(default=15.0, gt=0)
