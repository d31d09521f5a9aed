"""The web front door for a run: the referral gateway and the case board as processes.

Writes the gateway's sources file (a fresh API key per source system, only its sha256 kept
on disk) and the board's access file (a staff login, a wall-screen login and one login per
agency that answers on the response page, with random passwords), then starts both, each
connecting as its own principals. Used by the demo and the browser tests.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mash_common.access import BOARD_PARTY, Kind
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.processes import ServiceProcess
from mash_hub.services.board.users import hash_password
from mash_hub.services.gateway.auth import hash_key, new_key

# A synthetic referral as a source system posts it (no real person), for tests and the bench.
GIVEN_NAME = "Zephyrine"
FAMILY_NAME = "Quillfeather"
NARRATIVE = "Synthetic narrative: Zephyrine said she was afraid to go home."


def sample_referral_body(referral_id: str | None = "r-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "referrer": {"name": "Test Teacher", "role": "DSL", "organisation": "Example Primary",
                     "agency_type": "EDUCATION"},
        "subject": {"given_name": GIVEN_NAME, "family_name": FAMILY_NAME,
                    "date_of_birth": "2016-04-02", "postcode": "EX1 2AB"},
        "concerns": ["PHYSICAL_ABUSE"],
        "indicators": ["INJURY"],
        "narrative": NARRATIVE,
        "consent": {"status": "GIVEN"},
    }
    if referral_id is not None:
        body["referral_id"] = referral_id
    body.update(changes)
    return body


GATEWAY_READY = r"gateway ready on http"
BOARD_READY = r"board ready on http"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Login:
    user: str
    password: str


@dataclass
class WebFront:
    hub: SecuredHub
    run_dir: Path
    page_agencies: tuple[str, ...] = ("education",)
    with_board: bool = True  # the gateway benchmark runs the gateway alone
    gateway_port: int = field(default_factory=free_port)
    board_port: int = field(default_factory=free_port)
    api_keys: dict[str, str] = field(default_factory=dict)
    logins: dict[str, Login] = field(default_factory=dict)  # "staff", "wall", "agency:<id>"
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def board_url(self) -> str:
        return f"http://127.0.0.1:{self.board_port}"

    def _write_files(self) -> tuple[Path, Path]:
        web = self.run_dir / "web"
        web.mkdir(parents=True, exist_ok=True)
        self.api_keys = {s: new_key() for s in sorted(self.hub.hub.source_systems)}
        sources = {"sources": {s: {"api_key_sha256": hash_key(k),
                                   "client_config": str(self.hub.client_config(Kind.SOURCE, s))}
                               for s, k in self.api_keys.items()}}
        self.logins = {"staff": Login("duty-manager", secrets.token_urlsafe(9)),
                       "wall": Login("wall", secrets.token_urlsafe(9))}
        users = {
            "duty-manager": {"role": "staff", "name": "Duty manager", "job_role": "MASH manager"},
            "wall": {"role": "wall", "name": "Meeting room screen"},
        }
        for agency in self.page_agencies:
            login = self.logins[f"agency:{agency}"] = Login(f"{agency}-staff", secrets.token_urlsafe(9))
            users[login.user] = {"role": "agency", "agency": agency, "name": f"{agency.title()} duty officer",
                                 "job_role": "Designated safeguarding lead"}
        by_user = {login.user: login.password for login in self.logins.values()}
        for name, user in users.items():
            user["password_scrypt"] = hash_password(by_user[name])
        access = {"users": users,
                  "agencies": {a: {"client_config": str(self.hub.client_config(Kind.AGENCY, a))}
                               for a in self.page_agencies}}
        sources_file, access_file = web / "gateway-sources.yaml", web / "board-access.yaml"
        for path, content in ((sources_file, sources), (access_file, access)):
            path.write_text(yaml.safe_dump(content, sort_keys=True))
            path.chmod(0o600)
        return sources_file, access_file

    def start(self, timeout_s: float = 60.0) -> WebFront:
        sources_file, access_file = self._write_files()
        prefix = self.hub.admin.topic_prefix
        gateway = ServiceProcess("gateway", ["-m", "mash_hub.services.gateway", "serve"], {
            "MASH_KAFKA_TOPIC_PREFIX": prefix,
            "MASH_KAFKA_BOOTSTRAP_SERVERS": self.hub.admin.bootstrap_servers,
            "MASH_GATEWAY_SOURCES_FILE": str(sources_file),
            "MASH_GATEWAY_DATADIR": str(self.run_dir / "web" / "gateway"),
            "MASH_GATEWAY_PORT": str(self.gateway_port),
        }, self.run_dir)
        board = ServiceProcess("board", ["-m", "mash_hub.services.board", "serve"], {
            **self.hub.env(Kind.BOARD, BOARD_PARTY),
            "MASH_BOARD_ACCESS_FILE": str(access_file),
            "MASH_BOARD_PORT": str(self.board_port),
            "MASH_BOARD_SESSION_SECRET": secrets.token_urlsafe(32),
        }, self.run_dir)
        self.processes = [gateway.start(), *([board.start()] if self.with_board else [])]
        gateway.wait_for_log(GATEWAY_READY, timeout_s)
        if self.with_board:
            board.wait_for_log(BOARD_READY, timeout_s)
        return self

    def write_keys(self) -> Path:
        """This run's API keys, for the person running the demo (0600; the gateway itself
        keeps only their digests)."""
        path = self.run_dir / "web" / "api-keys.txt"
        path.touch(mode=0o600)
        path.write_text("".join(f"{s} {k}\n" for s, k in sorted(self.api_keys.items())))
        return path

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
