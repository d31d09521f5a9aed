"""Carries the access model out on a cluster: SCRAM users, ACLs and one client config each.

Idempotent: a second run creates nothing new, keeps each principal's password (read back
from its client config file), and removes ACLs of the hub's principals that the model no
longer grants. Runs as the cluster's administrator (the super user).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from mash_common.access import Grant, Op, Pattern, Principal, Resource
from mash_common.errors import MashError
from mash_common.settings import KafkaSettings, read_client_config

logger = logging.getLogger(__name__)

# Kafka's minimum for SCRAM-SHA-512; each login costs the broker this many HMAC rounds.
SCRAM_ITERATIONS = 4096

_RESOURCE = {
    Resource.TOPIC: ResourceType.TOPIC,
    Resource.GROUP: ResourceType.GROUP,
    Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
}
_PATTERN = {Pattern.LITERAL: ResourcePatternType.LITERAL, Pattern.PREFIXED: ResourcePatternType.PREFIXED}
_OP = {
    Op.READ: AclOperation.READ,
    Op.WRITE: AclOperation.WRITE,
    Op.CREATE: AclOperation.CREATE,
    Op.DESCRIBE: AclOperation.DESCRIBE,
    Op.DESCRIBE_CONFIGS: AclOperation.DESCRIBE_CONFIGS,
}


class AccessError(MashError):
    """Users or ACLs could not be created (the message names the principal, never a secret)."""


@dataclass(frozen=True)
class AccessReport:
    users: list[str]
    acls_created: int
    acls_removed: int
    client_configs: dict[str, Path]  # user -> its client config file


def kafka_principal(user: str) -> str:
    return f"User:{user}"


def acl_binding(user: str, grant: Grant) -> AclBinding:
    return AclBinding(_RESOURCE[grant.resource], grant.name, _PATTERN[grant.pattern],
                      kafka_principal(user), "*", _OP[grant.op], AclPermissionType.ALLOW)


def client_config_path(directory: Path, user: str) -> Path:
    return directory / f"{user}.properties"


def _password_for(path: Path) -> str:
    if path.is_file():
        existing = read_client_config(path).get("sasl_password")
        if existing:
            return existing
    return secrets.token_urlsafe(24)


def _write_client_config(path: Path, admin: KafkaSettings, principal: Principal, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    text = (
        f"# {principal.user}: {principal.role}\n"
        "# librdkafka properties (confluent-kafka, kcat -F); mash-hub commands take\n"
        "# --client-config FILE or MASH_KAFKA_CLIENT_CONFIG=FILE. Keep it private (0600).\n"
        f"bootstrap.servers={admin.bootstrap_servers}\n"
        f"security.protocol={admin.security_protocol.value}\n"
        f"sasl.mechanism={admin.sasl_mechanism}\n"
        f"sasl.username={principal.user}\n"
        f"sasl.password={password}\n"
        f"ssl.ca.location={admin.ssl_ca_location}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _result(futures: Mapping[Any, Any], what: str, timeout_s: float) -> None:
    """Wait for each of the admin client's futures; the first failure is an AccessError."""
    for key, future in futures.items():
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            raise AccessError(f"{what} failed for {key}: {exc.args[0].str()}") from None


def _acl_key(binding: AclBinding) -> tuple[object, ...]:
    return (binding.restype, binding.name, binding.resource_pattern_type, binding.principal,
            binding.operation, binding.permission_type)


def _principal_filter(user: str) -> AclBindingFilter:
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, kafka_principal(user),
                            None, AclOperation.ANY, AclPermissionType.ANY)


def _existing_acls(admin: AdminClient, user: str, timeout_s: float) -> list[AclBinding]:
    try:
        found: list[AclBinding] = admin.describe_acls(_principal_filter(user),
                                                      request_timeout=timeout_s).result(timeout_s)
    except KafkaException as exc:
        raise AccessError(f"cannot list the ACLs of {user}: {exc.args[0].str()}") from None
    return found


def apply_access(admin_settings: KafkaSettings, principals: list[Principal], out_dir: Path,
                 *, timeout_s: float = 30.0) -> AccessReport:
    """Create or update every principal's SCRAM user and ACLs; write its client config."""
    admin = AdminClient(admin_settings.confluent_config())
    configs: dict[str, Path] = {}
    upserts = []
    for principal in principals:
        path = client_config_path(out_dir, principal.user)
        password = _password_for(path)
        upserts.append(UserScramCredentialUpsertion(
            principal.user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            password.encode()))
        _write_client_config(path, admin_settings, principal, password)
        configs[principal.user] = path
    if upserts:
        _result(admin.alter_user_scram_credentials(upserts, request_timeout=timeout_s),
                "creating the SCRAM user", timeout_s)

    created = removed = 0
    for principal in principals:
        wanted = {_acl_key(b): b for b in (acl_binding(principal.user, g) for g in principal.grants)}
        have = {_acl_key(b): b for b in _existing_acls(admin, principal.user, timeout_s)}
        missing = [b for k, b in wanted.items() if k not in have]
        stale = [b for k, b in have.items() if k not in wanted]
        if missing:
            _result({principal.user + f" #{i}": f for i, f in
                     enumerate(admin.create_acls(missing, request_timeout=timeout_s).values())},
                    "creating ACLs", timeout_s)
            created += len(missing)
        if stale:
            filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal,
                                        b.host, b.operation, b.permission_type) for b in stale]
            _result({principal.user + f" #{i}": f for i, f in
                     enumerate(admin.delete_acls(filters, request_timeout=timeout_s).values())},
                    "removing stale ACLs", timeout_s)
            removed += len(stale)
    _wait_until_visible(admin, principals, timeout_s)
    return AccessReport([p.user for p in principals], created, removed, configs)


def _wait_until_visible(admin: AdminClient, principals: list[Principal], timeout_s: float) -> None:
    """Wait until the broker serves the new users and ACLs (KRaft applies metadata
    asynchronously), so a client started next is not refused by a broker still catching up."""
    users = [p.user for p in principals]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            described = admin.describe_user_scram_credentials(users, request_timeout=timeout_s)
            pending_users = [u for u, f in described.items() if not _has_credential(f, timeout_s)]
        except KafkaException:
            pending_users = users
        pending_acls = [p.user for p in principals
                        if len(_existing_acls(admin, p.user, timeout_s)) < len(set(p.grants))]
        if not pending_users and not pending_acls:
            return
        if time.monotonic() > deadline:
            raise AccessError(f"the broker does not list {len(pending_users)} users and the ACLs "
                              f"of {len(pending_acls)} principals after {timeout_s:.0f} s")
        time.sleep(0.1)  # the broker applies committed metadata within milliseconds


def _has_credential(future: object, timeout_s: float) -> bool:
    try:
        description = future.result(timeout_s)  # type: ignore[attr-defined]  # a concurrent future
    except KafkaException:
        return False
    return bool(description.scram_credential_infos)


def remove_access(admin_settings: KafkaSettings, users: list[str], *, timeout_s: float = 30.0) -> None:
    """Delete the users' ACLs and SCRAM credentials (a test hub's teardown)."""
    if not users:
        return
    admin = AdminClient(admin_settings.confluent_config())
    _result(admin.delete_acls([_principal_filter(u) for u in users], request_timeout=timeout_s),
            "removing ACLs", timeout_s)
    deletions = [UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in users]
    _result(admin.alter_user_scram_credentials(deletions, request_timeout=timeout_s),
            "removing the SCRAM user", timeout_s)
