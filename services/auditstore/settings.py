"""The audit store's settings. Environment: MASH_AUDITSTORE_* (MASH_KAFKA_* for the cluster,
MASH_AUDIT_* for the hub's keys)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.audittrail import AuditKeySettings
from mash_common.settings import KafkaSettings


class AuditStoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASH_AUDITSTORE_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    keys: AuditKeySettings = Field(default_factory=AuditKeySettings)
    # SQLAlchemy URL: SQLite embedded by default; postgresql+psycopg://... for deployments,
    # connecting as the store's own role (SELECT and INSERT only; mash_ops.auditdb).
    database_url: SecretStr = SecretStr("sqlite:///var/auditstore/audit.db")
    # Create the tables (and triggers) if missing. Off where a DBA owns the schema: the
    # application's role may then not create anything.
    create_schema: bool = True
    metrics_port: int = 9104
    log_level: str = "INFO"
    # Every chain is re-verified from its first event this often; each append also checks
    # its chain's last link as it goes.
    verify_interval_s: float = Field(default=60.0, gt=0)
    poll_timeout_s: float = Field(default=0.5, gt=0)
