"""The tamper-evident audit trail: the hub's keys, the canonical form of an event, its MAC,
and the keyed hash chain the audit store links events into.

Each service MACs every AuditEvent it produces (HMAC-SHA256, `key_id` names the key) over
its canonical form: the event's fields as compact JSON with sorted keys, leaving out the
signature and every field still at its default, so that a field a later schema version
adds (with a default) does not change what an older event's MAC covers.

The audit store, the one writer of each chain, links the events of a case in the order the
topic gives them: link(n) = HMAC(key, link(n-1) | n | content hash(n)). Without the key no
one can remove, reorder or insert an event and recompute the links after it. A redaction
replaces an event's body but keeps its content hash, so the chain still verifies, and a
RECORD_REDACTED event later in the same chain says it happened (docs/evidence.md).

Bundles can also be signed with an Ed25519 key (the keys file's "signing": {"id", "ed25519"}),
so that anyone holding the matching public key can check a bundle without the hub's secret.

Keys come from a JSON file (MASH_AUDIT_KEYS_FILE: {"active": id, "keys": {id: base64}})
or the environment (MASH_AUDIT_KEYS="id=base64,..." with MASH_AUDIT_KEY_ID the active
one). Rotation: add a key, make it active; old ids stay so old events still verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mash_common.contracts import AuditEvent
from mash_common.errors import ConfigError

GENESIS = "0" * 64
KEY_BYTES = 32


class AuditKeySettings(BaseSettings):
    """Where the hub's audit keys are. Environment: MASH_AUDIT_*."""

    model_config = SettingsConfigDict(env_prefix="MASH_AUDIT_", frozen=True, extra="ignore")

    keys_file: Path | None = None
    keys: SecretStr | None = None  # "id=base64,id2=base64"
    key_id: str | None = None  # the active key; default: the file's "active", else the first


class SignatureProblem(StrEnum):
    UNSIGNED = "UNSIGNED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"


def _decode_key(key_id: str, text: str, where: str, size: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: audit key {key_id!r} is not base64") from None
    if size is not None and len(raw) != size:
        raise ConfigError(f"{where}: key {key_id!r} must be {size} bytes")
    if len(raw) < KEY_BYTES:
        raise ConfigError(f"{where}: audit key {key_id!r} is shorter than {KEY_BYTES} bytes")
    return raw


def check_ed25519(public_key: bytes, data: bytes, signature: str | None) -> bool:
    """Whether signature (base64) is a valid Ed25519 signature of data by public_key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not signature:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(base64.b64decode(signature), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def load_public_key(path: Path) -> tuple[str, bytes]:
    """A bundle verification key file: {"id": ..., "ed25519": base64 public key}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["id"]), _decode_key(str(data["id"]), str(data["ed25519"]), str(path), 32)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: expected {{\"id\": ..., \"ed25519\": base64}}") from None


def new_signing_key(path: Path, key_id: str, public_out: Path) -> None:
    """Add an Ed25519 bundle signing key to a keys file; write its public key beside."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["signing"] = {"id": key_id, "ed25519": base64.b64encode(private).decode("ascii")}
    _write_private(path, data)
    public_out.write_text(json.dumps({"id": key_id,
                                      "ed25519": base64.b64encode(public).decode("ascii")}))


class AuditKeys:
    """The hub's MAC keys by id, and which one signs now."""

    def __init__(self, keys: dict[str, bytes], active: str,
                 signing: tuple[str, bytes] | None = None) -> None:
        if active not in keys:
            raise ConfigError(f"the active audit key {active!r} is not among the keys")
        self._keys = dict(keys)
        self.active = active
        self._signing = signing  # (id, raw Ed25519 private key), for bundles

    @property
    def signing_id(self) -> str | None:
        return self._signing[0] if self._signing else None

    def sign_ed25519(self, data: bytes) -> str | None:
        """Base64 Ed25519 signature of data with the bundle signing key, if there is one."""
        if self._signing is None:
            return None
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(self._signing[1])
        return base64.b64encode(key.sign(data)).decode("ascii")

    @classmethod
    def load(cls, settings: AuditKeySettings) -> AuditKeys | None:
        """The configured keys, or None when none are configured. Errors never show a key."""
        keys: dict[str, bytes] = {}
        active = settings.key_id
        signing: tuple[str, bytes] | None = None
        if settings.keys_file is not None:
            where = str(settings.keys_file)
            try:
                data = json.loads(settings.keys_file.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read the audit keys ({exc.strerror})") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}:{exc.lineno}: not JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
                raise ConfigError(f"{where}: expected {{\"active\": id, \"keys\": {{id: base64}}}}")
            for key_id, text in data["keys"].items():
                keys[str(key_id)] = _decode_key(str(key_id), str(text), where)
            active = active or data.get("active")
            signing_entry = data.get("signing")
            if isinstance(signing_entry, dict):
                sid = str(signing_entry.get("id", ""))
                raw = _decode_key(sid, str(signing_entry.get("ed25519", "")), where, size=32)
                signing = (sid, raw)
        if settings.keys is not None:
            for number, item in enumerate(settings.keys.get_secret_value().split(","), start=1):
                if not item.strip():
                    continue
                key_id, sep, text = item.strip().partition("=")
                if not sep:
                    raise ConfigError(f"MASH_AUDIT_KEYS item {number}: expected id=base64")
                keys[key_id] = _decode_key(key_id, text, "MASH_AUDIT_KEYS")
                active = active or key_id
        if not keys:
            return None
        return cls(keys, active or next(iter(keys)), signing)

    @classmethod
    def from_env(cls) -> AuditKeys | None:
        """Read when called (in create_app, from main()), never on import."""
        return cls.load(AuditKeySettings())

    def ids(self) -> list[str]:
        return sorted(self._keys)

    def mac(self, data: bytes, key_id: str | None = None) -> str:
        key = self._keys[key_id or self.active]
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def check_mac(self, data: bytes, key_id: str | None, mac: str | None) -> SignatureProblem | None:
        if not key_id or not mac:
            return SignatureProblem.UNSIGNED
        if key_id not in self._keys:
            return SignatureProblem.UNKNOWN_KEY
        if not hmac.compare_digest(self.mac(data, key_id), mac):
            return SignatureProblem.BAD_SIGNATURE
        return None

    def sign(self, event: AuditEvent) -> AuditEvent:
        unsigned = event.model_copy(update={"key_id": self.active, "signature": None})
        return unsigned.model_copy(update={"signature": self.mac(canonical(unsigned))})

    def check(self, event: AuditEvent) -> SignatureProblem | None:
        """Why the event's MAC does not hold, or None when it does."""
        return self.check_mac(canonical(event), event.key_id, event.signature)

    def link(self, prev: str, seq: int, content: str, key_id: str | None = None) -> str:
        """The chain's link for event number `seq` (from 1) whose content hash is `content`."""
        return self.mac(f"{prev}|{seq}|{content}".encode("ascii"), key_id)


def _plain(event: AuditEvent, *, with_signature: bool) -> dict[str, Any]:
    exclude = None if with_signature else {"signature"}
    return event.model_dump(mode="json", exclude_defaults=True, exclude=exclude)


def canonical(event: AuditEvent) -> bytes:
    """What the producer's MAC covers: every non-default field but the signature."""
    return dumps(_plain(event, with_signature=False))


def dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(event: AuditEvent) -> str:
    """What the chain links: SHA-256 of the event with its signature (so both are covered)."""
    return hashlib.sha256(dumps(_plain(event, with_signature=True))).hexdigest()


def event_body(event: AuditEvent) -> str:
    """The event as stored (JSON, every non-default field, signature included)."""
    return dumps(_plain(event, with_signature=True)).decode("utf-8")


def event_from_body(body: str) -> AuditEvent:
    return AuditEvent.model_validate_json(body)


def new_key_file(path: Path, key_id: str) -> None:
    """Write a fresh keys file, or add a key to an existing one and make it active."""
    data: dict[str, Any] = {"active": key_id, "keys": {}}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if key_id in data["keys"]:
            raise ConfigError(f"{path}: key {key_id!r} exists already")
        data["active"] = key_id
    data["keys"][key_id] = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
    _write_private(path, data)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    tmp.replace(path)
