#!/usr/bin/env python3
"""Run a single-node KRaft Apache Kafka broker from Maven Central jars, without Docker.

Standard library only (it runs before the project's venv exists), Python >= 3.11, Linux.

    python3 deploy/local_kafka.py start|stop|status|logs|reset [--port 9092] [--home var/kafka]

The broker is secured as a production one is: a SASL_SSL listener (SCRAM-SHA-512 over TLS),
a TLS controller listener with client certificates, KRaft's StandardAuthorizer with nothing
allowed by default, and one super user (`admin`) for administration only. The CA and the
broker's certificate are made once with Debian's openssl; the admin password once at random.
A PLAINTEXT listener is added only when asked for (`start --plaintext-port N`).

Everything lives under the git-ignored home folder (default var/kafka in the project root):
jars/ (fetched once by Maven, marked with the Kafka version), tls/ (CA and broker key, 0700),
clients/admin.properties (the super user's librdkafka client settings, 0600), config/,
data/ (formatted once), logs/server.out, cluster-id, kafka.pid and kafka.state (ports of the
running broker). MASH_KAFKA_PORT and MASH_KAFKA_HOME override the defaults; command-line
options win over both.

A test fixture can load this file by path and call start(), stop(), is_running(),
status() and admin_client_config(); importing it does nothing else.

`--brokers 3` (cluster_start(), cluster_stop(), cluster_status(), cluster_start_node())
runs a local three-node KRaft cluster instead, secured the same way, in its own home
(default var/kafka-cluster; MASH_KAFKA_CLUSTER_HOME, MASH_KAFKA_CLUSTER_PORT): see the
"a local three-broker cluster" section below and docs/deployment.md.
"""

import argparse
import base64
import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import string
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j.properties"
SERVER_TEMPLATE = KAFKA_DIR / "server.properties.template"

DEFAULT_PORT = 9092
DEFAULT_HOME = PROJECT_ROOT / "var" / "kafka"
HOST = "127.0.0.1"
MIN_JAVA = 17
# Test suites create thousands of partitions; 512 MB ran out of heap at about 17,000.
HEAP_OPTS = ["-Xmx2g", "-Xms512m"]
STARTED_MARKER = "Kafka Server started"
ADMIN_USER = "admin"
# The broker's certificate subject; its principal (User:CN=...) is a super user so that the
# broker can talk to its own controller over mutual TLS.
BROKER_CN = "mash-local-broker"
CERT_DAYS = 825
# Bumped when the security set-up changes in a way that needs storage formatted anew.
SECURITY_VERSION = "1"
STOP_GRACE_SECONDS = 30.0

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3


class LocalKafkaError(Exception):
    """A start/stop problem with a one-line explanation for the user."""


@dataclass(frozen=True)
class Layout:
    """Where one broker home keeps its files."""

    home: Path

    @property
    def jars(self) -> Path:
        return self.home / "jars"

    @property
    def jars_marker(self) -> Path:
        return self.jars / ".kafka-version"

    @property
    def config(self) -> Path:
        return self.home / "config" / "server.properties"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def meta(self) -> Path:
        return self.data / "meta.properties"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def server_out(self) -> Path:
        return self.logs / "server.out"

    @property
    def cluster_id(self) -> Path:
        return self.home / "cluster-id"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.home / "kafka.state"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    @property
    def ca_pem(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.tls / "broker-keystore.pem"

    @property
    def clients(self) -> Path:
        return self.home / "clients"

    @property
    def admin_properties(self) -> Path:
        return self.clients / f"{ADMIN_USER}.properties"

    @property
    def security_marker(self) -> Path:
        return self.data / ".mash-security"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    port: int | None
    controller_port: int | None
    data_dir: Path
    plaintext_port: int | None = None

    @property
    def bootstrap(self) -> str | None:
        return f"{HOST}:{self.port}" if self.port else None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- configuration ------------------------------------------------------------------------


def kafka_version() -> str:
    """The Kafka version pinned in deploy/kafka/pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise LocalKafkaError(f"no <kafka.version> property in {POM}")
    return match.group(1).strip()


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    chosen = home if home is not None else os.environ.get("MASH_KAFKA_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


def resolve_port(port: int | None = None) -> int:
    if port is not None:
        return port
    raw = os.environ.get("MASH_KAFKA_PORT")
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError:
        raise LocalKafkaError(f"MASH_KAFKA_PORT is not a port number: {raw!r}") from None


# --- processes and ports ------------------------------------------------------------------


def _read_pid(layout: Layout) -> int | None:
    try:
        return int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _read_state(layout: Layout) -> dict[str, int]:
    try:
        state = json.loads(layout.state_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: int(v) for k, v in state.items() if isinstance(v, int)}


def _pid_alive(pid: int) -> bool:
    """True if pid is a live (not zombie) Kafka broker process."""
    with contextlib.suppress(ChildProcessError, OSError):
        # Reap it if we are its parent (a fixture that started it in-process), so a dead
        # broker does not linger as a zombie that still answers kill(pid, 0).
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux /proc: trust kill(pid, 0)
        return True
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        # Guard against pid reuse after a reboot or a long time.
        return b"kafka.Kafka" in (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Java listeners use SO_REUSEADDR too, so only a real listener blocks the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def broker_answers(port: int, timeout: float = 2.0, ca: Path | None = None) -> bool:
    """Send a Kafka ApiVersions v0 request; True on a well-formed reply.

    With `ca`, over TLS verified against it (a SASL_SSL listener answers ApiVersions before
    authentication, as KIP-43 allows); without, in plain text.
    """
    correlation_id = 0x6D617368
    client_id = b"local_kafka"
    header = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    request = struct.pack(">i", len(header)) + header
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            sock: socket.socket = raw
            if ca is not None:
                sock = ssl.create_default_context(cafile=str(ca)).wrap_socket(
                    raw, server_hostname=HOST)
            sock.sendall(request)
            head = _recv_exactly(sock, 4)
            (size,) = struct.unpack(">i", head)
            if size < 6 or size > 1 << 20:
                return False
            body = _recv_exactly(sock, size)
    except (OSError, ssl.SSLError):
        return False
    got_correlation, error_code = struct.unpack(">ih", body[:6])
    return bool(got_correlation == correlation_id and error_code == 0)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """Serialise start/stop across processes (parallel pytest sessions, make -j)."""
    layout.home.mkdir(parents=True, exist_ok=True)
    with open(layout.lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- prerequisites ------------------------------------------------------------------------


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if not java:
        raise LocalKafkaError(
            f"Java not found: install a JDK >= {MIN_JAVA} (e.g. apt-get install openjdk-17-jdk-headless)"
        )
    try:
        probe = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError(f"cannot run {java} -version: {exc}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', probe.stderr + probe.stdout)
    if not match:
        raise LocalKafkaError(f"cannot tell the Java version of {java}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise LocalKafkaError(f"Java {major} found at {java}; Kafka needs Java >= {MIN_JAVA}")
    return java


def ensure_jars(layout: Layout, version: str) -> None:
    """Fetch the broker jars into home/jars once per Kafka version."""
    marker = layout.jars_marker
    if marker.is_file() and marker.read_text().strip() == version:
        return
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalKafkaError(
            f"Maven not found and Kafka {version} jars are not cached in {layout.jars}: "
            "install Maven (apt-get install maven)"
        )
    _say(f"Fetching Kafka {version} jars from Maven Central into {layout.jars} (once)...")
    staging = layout.home / "jars.partial"
    shutil.rmtree(staging, ignore_errors=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    mvn_log = layout.logs / "maven.out"
    with open(mvn_log, "w") as log:
        result = subprocess.run(
            [
                mvn,
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                f"-Dkafka.version={version}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        tail = _tail(mvn_log, 15)
        raise LocalKafkaError(
            f"Maven could not fetch the Kafka jars (exit {result.returncode}); see {mvn_log}\n"
            + tail
        )
    shutil.rmtree(layout.jars, ignore_errors=True)
    staging.rename(layout.jars)
    marker.write_text(version + "\n")
    count = sum(1 for _ in layout.jars.glob("*.jar"))
    _say(f"Cached {count} jars.")


def _new_cluster_id() -> str:
    # Kafka's own format: a random UUID, base64url without padding; never starting with '-'
    # (kafka-storage would read it as an option).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _run_openssl(args: list[str], cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise LocalKafkaError("openssl not found: install it (apt-get install openssl)")
    result = subprocess.run([openssl, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise LocalKafkaError(f"openssl {args[0]} failed: " + " | ".join(detail))


def ensure_tls(layout: Layout) -> None:
    """Make the local CA and the broker's key and certificate once (openssl, RSA 2048).

    The broker keystore is one PEM file (PKCS#8 key, certificate, CA), which Kafka reads with
    ssl.keystore.type=PEM, so no keytool step or keystore password is needed. The certificate
    names 127.0.0.1 and localhost, so clients verify the host as well as the CA.
    """
    if layout.keystore.is_file() and layout.ca_pem.is_file():
        return
    _say(f"Creating a local CA and the broker's TLS certificate in {layout.tls} (once)...")
    layout.tls.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.tls, 0o700)
    tls = layout.tls
    _run_openssl(["req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
                  "-days", str(CERT_DAYS * 4), "-keyout", "ca.key", "-out", "ca.pem",
                  "-subj", "/CN=mash-hub local development CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], tls)
    _run_openssl(["req", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
                  "-keyout", "broker.key", "-out", "broker.csr", "-subj", f"/CN={BROKER_CN}"], tls)
    (tls / "broker.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    _run_openssl(["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-sha256", "-days", str(CERT_DAYS),
                  "-extfile", "broker.ext", "-out", "broker.crt"], tls)
    keystore = "".join((tls / name).read_text() for name in ("broker.key", "broker.crt", "ca.pem"))
    _write_private(layout.keystore, keystore)
    for name in ("ca.key", "broker.key"):
        os.chmod(tls / name, 0o600)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created that way, never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def read_properties(path: Path) -> dict[str, str]:
    """A Java/librdkafka properties file: key=value lines, # comments."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        found[key.strip()] = value.strip()
    return found


def client_properties(bootstrap: str, username: str, password: str, ca: Path, note: str) -> str:
    """librdkafka client settings for one principal; `kcat -F FILE` reads them as they are."""
    return (
        f"# {note}\n"
        "# librdkafka properties (confluent-kafka, kcat -F); mash-hub commands take\n"
        "# --client-config FILE or MASH_KAFKA_CLIENT_CONFIG=FILE. Keep it private (0600).\n"
        f"bootstrap.servers={bootstrap}\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.username={username}\n"
        f"sasl.password={password}\n"
        f"ssl.ca.location={ca}\n"
    )


def admin_password(layout: Layout) -> str:
    """The super user's password: made once at random, kept in clients/admin.properties."""
    if layout.admin_properties.is_file():
        password = read_properties(layout.admin_properties).get("sasl.password")
        if password:
            return password
    return secrets.token_urlsafe(24)


def write_admin_properties(layout: Layout, port: int, password: str) -> None:
    _write_private(layout.admin_properties, client_properties(
        f"{HOST}:{port}", ADMIN_USER, password, layout.ca_pem,
        "The local broker's super user: for administration (users, ACLs, topics) only."))
    os.chmod(layout.clients, 0o700)


def admin_client_config(home: str | os.PathLike[str] | None = None) -> Path:
    """The super user's client properties file of the broker in `home`."""
    return Layout(resolve_home(home)).admin_properties


def write_config(layout: Layout, port: int, controller_port: int, password: str,
                 plaintext_port: int | None = None) -> None:
    layout.config.parent.mkdir(parents=True, exist_ok=True)
    layout.data.mkdir(parents=True, exist_ok=True)
    plain = plaintext_port is not None
    text = string.Template(SERVER_TEMPLATE.read_text()).substitute(
        port=port, controller_port=controller_port, data_dir=layout.data, tls_dir=layout.tls,
        admin_password=password,
        plaintext_listener=f",PLAINTEXT://{HOST}:{plaintext_port}" if plain else "",
        plaintext_advertised=f",PLAINTEXT://{HOST}:{plaintext_port}" if plain else "",
        plaintext_map=",PLAINTEXT:PLAINTEXT" if plain else "",
    )
    _write_private(layout.config, text)


def ensure_formatted(layout: Layout, java: str, password: str, password_known: bool = True) -> None:
    """Format the KRaft storage once; the cluster id is generated once and kept.

    `password_known` False means the super user's client config was lost: the storage's
    SCRAM credential can no longer be matched, so (development data being disposable) the
    storage is formatted anew with the new password rather than leaving a broker nobody can
    administer.
    """
    if layout.meta.is_file():
        marked = (layout.security_marker.is_file()
                  and layout.security_marker.read_text().strip() == SECURITY_VERSION)
        if marked and password_known:
            return
        if marked:
            _say(f"{layout.admin_properties} is missing, so the super user's password is lost; "
                 f"formatting {layout.data} anew")
            shutil.rmtree(layout.data)
            layout.data.mkdir(parents=True)
        else:
            # Storage formatted before the broker was secured has no SCRAM super user, and
            # development data is disposable: format it anew rather than run unsecured.
            _say(f"Storage in {layout.data} predates the secured broker; formatting it anew")
            shutil.rmtree(layout.data)
            layout.data.mkdir(parents=True)
    if not layout.cluster_id.is_file():
        layout.cluster_id.write_text(_new_cluster_id() + "\n")
    cluster_id = layout.cluster_id.read_text().strip()
    _say(f"Formatting KRaft storage in {layout.data} (cluster id {cluster_id})...")
    result = subprocess.run(
        [
            java,
            *HEAP_OPTS,
            f"-Dlog4j.configuration=file:{LOG4J_CONFIG}",
            "-cp",
            f"{layout.jars}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(layout.config),
            # The super user exists from the first moment; every other principal is created
            # through the Admin API by `mash-access`.
            "--add-scram",
            f"SCRAM-SHA-512=[name={ADMIN_USER},password={password}]",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).replace(password, "***").strip().splitlines()[-5:]
        raise LocalKafkaError("formatting storage failed: " + " | ".join(detail))
    layout.security_marker.write_text(SECURITY_VERSION + "\n")


# --- public API ---------------------------------------------------------------------------


def status(home: str | os.PathLike[str] | None = None) -> Status:
    layout = Layout(resolve_home(home))
    pid = _read_pid(layout)
    state = _read_state(layout)
    running = pid is not None and _pid_alive(pid)
    return Status(
        running=running,
        pid=pid if running else None,
        port=state.get("port") if running else None,
        controller_port=state.get("controller_port") if running else None,
        data_dir=layout.data,
        plaintext_port=state.get("plaintext_port") if running else None,
    )


def is_running(home: str | os.PathLike[str] | None = None) -> bool:
    """True when the broker of this home is alive and answers Kafka requests."""
    current = status(home)
    ca = Layout(resolve_home(home)).ca_pem
    return current.running and current.port is not None and broker_answers(current.port, ca=ca)


def start(
    port: int | None = None,
    home: str | os.PathLike[str] | None = None,
    timeout: float = 90.0,
    progress: Callable[[str], None] | None = None,
    plaintext_port: int | None = None,
) -> str:
    """Start the broker if it is not running; return its bootstrap servers string.

    The super user's client settings are then in admin_client_config(home).
    """
    port = resolve_port(port)
    layout = Layout(resolve_home(home))
    say = progress or _say
    with _locked(layout):
        current = status(layout.home)
        if current.running and current.pid is not None:
            if current.port != port:
                raise LocalKafkaError(
                    f"a broker from {layout.home} is already running on port {current.port} "
                    f"(pid {current.pid}), not {port}; stop it first"
                )
            if broker_answers(port, ca=layout.ca_pem):
                say(f"Kafka already running (pid {current.pid}) on {HOST}:{port}")
                return f"{HOST}:{port}"
            # Alive but not answering yet: another start is still waiting for it.
            _wait_ready(layout, current.pid, port, timeout, say, process=None)
            return f"{HOST}:{port}"
        _clear_run_files(layout)

        version = kafka_version()
        java = find_java()
        if not _port_free(port):
            raise LocalKafkaError(
                f"port {port} on {HOST} is already in use by another process; "
                "stop it or choose another with --port / MASH_KAFKA_PORT"
            )
        controller_port = port + 1 if _port_free(port + 1) else _free_port()
        if plaintext_port is not None and not _port_free(plaintext_port):
            raise LocalKafkaError(f"plaintext port {plaintext_port} on {HOST} is already in use")
        ensure_jars(layout, version)
        ensure_tls(layout)
        password_known = layout.admin_properties.is_file()
        password = admin_password(layout)
        write_config(layout, port, controller_port, password, plaintext_port)
        ensure_formatted(layout, java, password, password_known)
        write_admin_properties(layout, port, password)

        layout.logs.mkdir(parents=True, exist_ok=True)
        if layout.server_out.exists():
            layout.server_out.replace(layout.logs / "server.out.1")
        extra = f", PLAINTEXT on {plaintext_port} as asked" if plaintext_port is not None else ""
        say(f"Starting Kafka {version} on {HOST}:{port} (SASL_SSL, SCRAM-SHA-512; controller "
            f"{controller_port}{extra})...")
        started_at = time.monotonic()
        with open(layout.server_out, "wb") as out:
            process = subprocess.Popen(
                [
                    java,
                    *HEAP_OPTS,
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j.configuration=file:{LOG4J_CONFIG}",
                    f"-Dkafka.logs.dir={layout.logs}",
                    "-cp",
                    f"{layout.jars}/*",
                    "kafka.Kafka",
                    str(layout.config),
                ],
                cwd=layout.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        layout.pid_file.write_text(f"{process.pid}\n")
        layout.state_file.write_text(
            json.dumps({"pid": process.pid, "port": port, "controller_port": controller_port,
                        **({"plaintext_port": plaintext_port} if plaintext_port is not None else {})})
        )
        _wait_ready(layout, process.pid, port, timeout, say, process=process)
        say(f"Ready in {time.monotonic() - started_at:.1f} s.")
        return f"{HOST}:{port}"


def _wait_ready(
    layout: Layout,
    pid: int,
    port: int,
    timeout: float,
    say: Callable[[str], None],
    process: subprocess.Popen[bytes] | None,
) -> None:
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5.0
    while True:
        died = process.poll() is not None if process is not None else not _pid_alive(pid)
        if died:
            _clear_run_files(layout)
            raise LocalKafkaError(
                f"the broker died during startup; last lines of {layout.server_out}:\n"
                + _tail(layout.server_out, 40)
            )
        if broker_answers(port, timeout=1.0, ca=layout.ca_pem) and _log_says_started(layout):
            return
        now = time.monotonic()
        if now >= deadline:
            raise LocalKafkaError(
                f"the broker (pid {pid}) did not answer on {HOST}:{port} within {timeout:.0f} s; "
                f"it is still running (see {layout.server_out}; stop it with "
                "`python3 deploy/local_kafka.py stop`)"
            )
        if now >= next_note:
            remaining = deadline - now
            say(f"  ...waiting for the broker ({remaining:.0f} s left)")
            next_note = now + 5.0
        time.sleep(0.25)


def _log_says_started(layout: Layout) -> bool:
    try:
        with open(layout.server_out, "rb") as handle:
            return STARTED_MARKER.encode() in handle.read()
    except FileNotFoundError:
        return False


def stop(home: str | os.PathLike[str] | None = None, grace: float = STOP_GRACE_SECONDS) -> bool:
    """Stop the broker; True if one was running. SIGTERM, then SIGKILL after `grace` s."""
    layout = Layout(resolve_home(home))
    if not layout.home.exists():
        return False
    with _locked(layout):
        pid = _read_pid(layout)
        if pid is None or not _pid_alive(pid):
            _clear_run_files(layout)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            _say(f"Broker (pid {pid}) ignored SIGTERM for {grace:.0f} s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.1)
        _clear_run_files(layout)
        return True


def reset(home: str | os.PathLike[str] | None = None) -> None:
    """Stop the broker and delete its data, config and logs; keep the cached jars."""
    layout = Layout(resolve_home(home))
    stop(layout.home)
    for path in (layout.data, layout.config.parent, layout.logs, layout.clients):
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        layout.cluster_id.unlink()


def _clear_run_files(layout: Layout) -> None:
    for path in (layout.pid_file, layout.state_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(data.splitlines()[-lines:])


# --- a local three-broker cluster ---------------------------------------------------------
#
# `start --brokers 3`: three KRaft nodes (each broker and controller, a three-voter quorum)
# from the same jars, secured as the single broker is, with the production profile's
# replication (deploy/kafka/cluster-server.properties.template). One home holds what the
# nodes share (jars/, tls/, clients/admin.properties, cluster-id, cluster.json) and a
# node-N/ folder per node (config/, data/, logs/, kafka.pid, kafka.state), so the functions
# above that take a broker home (status, stop, _wait_ready) work on a node as they are.
# Node N listens for clients on PORT + 2(N-1) and for the controller quorum on the port after.

CLUSTER_TEMPLATE = KAFKA_DIR / "cluster-server.properties.template"
DEFAULT_CLUSTER_PORT = 9192
DEFAULT_CLUSTER_HOME = PROJECT_ROOT / "var" / "kafka-cluster"
# Three JVMs share a small machine; a fault test's topics need far less than the single
# broker's test-suite heap.
CLUSTER_HEAP_OPTS = ["-Xmx1g", "-Xms256m"]


def resolve_cluster_home(home: str | os.PathLike[str] | None = None) -> Path:
    chosen = (home if home is not None
              else os.environ.get("MASH_KAFKA_CLUSTER_HOME") or DEFAULT_CLUSTER_HOME)
    return Path(chosen).expanduser().resolve()


def resolve_cluster_port(port: int | None = None) -> int:
    if port is not None:
        return port
    raw = os.environ.get("MASH_KAFKA_CLUSTER_PORT")
    if not raw:
        return DEFAULT_CLUSTER_PORT
    try:
        return int(raw)
    except ValueError:
        raise LocalKafkaError(f"MASH_KAFKA_CLUSTER_PORT is not a port number: {raw!r}") from None


def node_ports(base: int, node_id: int) -> tuple[int, int]:
    """(client port, controller port) of a cluster node."""
    return base + 2 * (node_id - 1), base + 2 * (node_id - 1) + 1


def node_home(home: str | os.PathLike[str] | None, node_id: int) -> Path:
    return resolve_cluster_home(home) / f"node-{node_id}"


def _cluster_file(shared: Layout) -> Path:
    return shared.home / "cluster.json"


def _read_cluster(shared: Layout) -> dict[str, int]:
    try:
        found = json.loads(_cluster_file(shared).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: int(v) for k, v in found.items() if isinstance(v, int)}


def cluster_bootstrap(base: int, brokers: int) -> str:
    return ",".join(f"{HOST}:{node_ports(base, n)[0]}" for n in range(1, brokers + 1))


def _write_node_config(shared: Layout, node: Layout, node_id: int, base: int, brokers: int,
                       password: str) -> None:
    port, controller_port = node_ports(base, node_id)
    voters = ",".join(f"{n}@{HOST}:{node_ports(base, n)[1]}" for n in range(1, brokers + 1))
    text = string.Template(CLUSTER_TEMPLATE.read_text()).substitute(
        node_id=node_id, voters=voters, port=port, controller_port=controller_port,
        data_dir=node.data, tls_dir=shared.tls, admin_password=password)
    node.data.mkdir(parents=True, exist_ok=True)
    _write_private(node.config, text)
    # The node's tls/ is the cluster's, so what checks a broker home against its CA
    # (_wait_ready, is_running) works on a node as it is.
    if not node.tls.exists():
        node.tls.symlink_to(shared.tls, target_is_directory=True)


def _format_node(shared: Layout, node: Layout, java: str, password: str) -> None:
    """Format a node's storage once, with the cluster's id and the super user's credential."""
    if node.meta.is_file():
        return
    cluster_id = shared.cluster_id.read_text().strip()
    result = subprocess.run(
        [java, *CLUSTER_HEAP_OPTS, f"-Dlog4j.configuration=file:{LOG4J_CONFIG}",
         "-cp", f"{shared.jars}/*", "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(node.config),
         "--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={password}]"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).replace(password, "***").strip().splitlines()[-5:]
        raise LocalKafkaError(f"formatting {node.data} failed: " + " | ".join(detail))
    node.security_marker.write_text(SECURITY_VERSION + "\n")


def _launch_node(shared: Layout, node: Layout, java: str, base: int,
                 node_id: int) -> subprocess.Popen[bytes]:
    port, controller_port = node_ports(base, node_id)
    for needed in (port, controller_port):
        if not _port_free(needed):
            raise LocalKafkaError(f"port {needed} on {HOST} (node {node_id}) is already in use; "
                                  "choose another base with --port / MASH_KAFKA_CLUSTER_PORT")
    node.logs.mkdir(parents=True, exist_ok=True)
    if node.server_out.exists():
        node.server_out.replace(node.logs / "server.out.1")
    with open(node.server_out, "wb") as out:
        process = subprocess.Popen(
            [java, *CLUSTER_HEAP_OPTS, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{LOG4J_CONFIG}",
             f"-Dkafka.logs.dir={node.logs}", "-cp", f"{shared.jars}/*", "kafka.Kafka",
             str(node.config)],
            cwd=node.home, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node.pid_file.write_text(f"{process.pid}\n")
    node.state_file.write_text(json.dumps(
        {"pid": process.pid, "port": port, "controller_port": controller_port}))
    return process


def cluster_start(
    brokers: int = 3,
    port: int | None = None,
    home: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Start every node of the local cluster that is not running; return the bootstrap list.

    The nodes start together (a KRaft quorum needs a majority of its voters before any node
    is ready), then each is waited for as the single broker is.
    """
    if brokers < 3:
        raise LocalKafkaError("a cluster has at least 3 brokers (a 3-voter quorum; replication 3)")
    base = resolve_cluster_port(port)
    shared = Layout(resolve_cluster_home(home))
    say = progress or _say
    with _locked(shared):
        recorded = _read_cluster(shared)
        if recorded and (recorded.get("brokers"), recorded.get("port")) != (brokers, base):
            raise LocalKafkaError(
                f"{shared.home} holds a {recorded.get('brokers')}-broker cluster on base port "
                f"{recorded.get('port')}, not {brokers} on {base}; reset it or choose another --home")
        version = kafka_version()
        java = find_java()
        ensure_jars(shared, version)
        ensure_tls(shared)
        password = admin_password(shared)
        if not shared.cluster_id.is_file():
            shared.cluster_id.write_text(_new_cluster_id() + "\n")
        _cluster_file(shared).write_text(json.dumps({"brokers": brokers, "port": base}))
        bootstrap = cluster_bootstrap(base, brokers)
        _write_private(shared.admin_properties, client_properties(
            bootstrap, ADMIN_USER, password, shared.ca_pem,
            "The local cluster's super user: for administration (users, ACLs, topics) only."))
        os.chmod(shared.clients, 0o700)
        launched: dict[int, subprocess.Popen[bytes] | None] = {}
        started_at = time.monotonic()
        for node_id in range(1, brokers + 1):
            node = Layout(shared.home / f"node-{node_id}")
            current = status(node.home)
            if current.running:
                launched[node_id] = None
                continue
            _clear_run_files(node)
            _write_node_config(shared, node, node_id, base, brokers, password)
            _format_node(shared, node, java, password)
            launched[node_id] = _launch_node(shared, node, java, base, node_id)
        say(f"Starting a {brokers}-broker Kafka {version} cluster on {bootstrap} (SASL_SSL, "
            f"SCRAM-SHA-512; replication 3, min.insync.replicas 2)...")
        for node_id, process in launched.items():
            node = Layout(shared.home / f"node-{node_id}")
            pid = process.pid if process is not None else status(node.home).pid
            if pid is None:
                raise LocalKafkaError(f"node {node_id} stopped while the cluster started")
            _wait_ready(node, pid, node_ports(base, node_id)[0], timeout, say, process=process)
        say(f"Ready in {time.monotonic() - started_at:.1f} s.")
        return bootstrap


def cluster_start_node(node_id: int, home: str | os.PathLike[str] | None = None,
                       timeout: float = 120.0, progress: Callable[[str], None] | None = None) -> int:
    """(Re)start one node of an existing cluster, e.g. after a fault test killed it; its pid."""
    shared = Layout(resolve_cluster_home(home))
    recorded = _read_cluster(shared)
    if not recorded:
        raise LocalKafkaError(f"no cluster in {shared.home}: start it with --brokers 3 first")
    base, brokers = recorded["port"], recorded["brokers"]
    if not 1 <= node_id <= brokers:
        raise LocalKafkaError(f"the cluster has nodes 1..{brokers}, not {node_id}")
    node = Layout(shared.home / f"node-{node_id}")
    with _locked(node):
        current = status(node.home)
        if current.running and current.pid is not None:
            return current.pid
        _clear_run_files(node)
        java = find_java()
        _write_node_config(shared, node, node_id, base, brokers, admin_password(shared))
        process = _launch_node(shared, node, java, base, node_id)
        _wait_ready(node, process.pid, node_ports(base, node_id)[0], timeout,
                    progress or _say, process=process)
        return process.pid


def cluster_status(home: str | os.PathLike[str] | None = None) -> dict[int, Status]:
    """Each node's Status (node id -> Status); empty when no cluster was ever started here."""
    shared = Layout(resolve_cluster_home(home))
    brokers = _read_cluster(shared).get("brokers", 0)
    return {n: status(shared.home / f"node-{n}") for n in range(1, brokers + 1)}


def cluster_admin_config(home: str | os.PathLike[str] | None = None) -> Path:
    """The super user's client properties file of the cluster in `home` (every node listed)."""
    return Layout(resolve_cluster_home(home)).admin_properties


def cluster_stop(home: str | os.PathLike[str] | None = None,
                 grace: float = STOP_GRACE_SECONDS) -> int:
    """Stop every node; returns how many were running.

    All nodes get SIGTERM at once: one by one, the last would wait for a quorum that has
    gone before it may shut down. A node SIGSTOPped by a fault test is continued first.
    """
    pids = [current.pid for current in cluster_status(home).values() if current.pid is not None]
    for pid in pids:
        for signum in (signal.SIGCONT, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
    deadline = time.monotonic() + grace
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _pid_alive(pid):
            _say(f"Node (pid {pid}) ignored SIGTERM for {grace:.0f} s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for node_id in cluster_status(home):
        stop(node_home(home, node_id), grace)  # reaps and clears the run files
    return len(pids)


def cluster_reset(home: str | os.PathLike[str] | None = None) -> None:
    """Stop the cluster and delete its nodes' data, config and logs; keep jars and TLS."""
    shared = Layout(resolve_cluster_home(home))
    cluster_stop(shared.home)
    for node in shared.home.glob("node-*"):
        shutil.rmtree(node, ignore_errors=True)
    for path in (shared.clients, shared.cluster_id, _cluster_file(shared)):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _cluster_main(args: argparse.Namespace) -> int:
    if args.command == "start":
        bootstrap = cluster_start(args.brokers, args.port, args.home, timeout=args.timeout)
        print(f"Kafka {kafka_version()} cluster of {args.brokers} listening on {bootstrap} "
              f"(SASL_SSL); super user settings: {cluster_admin_config(args.home)}")
    elif args.command == "stop":
        count = cluster_stop(args.home)
        print(f"Kafka cluster stopped ({count} nodes were running)" if count
              else "Kafka cluster not running")
    elif args.command == "reset":
        cluster_reset(args.home)
        print(f"Kafka cluster stopped and data deleted under {resolve_cluster_home(args.home)}")
    elif args.command == "status":
        nodes = cluster_status(args.home)
        if not nodes:
            print(f"no Kafka cluster in {resolve_cluster_home(args.home)}")
            return EXIT_NOT_RUNNING
        ca = Layout(resolve_cluster_home(args.home)).ca_pem
        for node_id, current in nodes.items():
            if not current.running:
                print(f"node {node_id}: not running")
                continue
            answers = current.port is not None and broker_answers(current.port, ca=ca)
            print(f"node {node_id}: pid {current.pid}, port {current.port} (controller "
                  f"{current.controller_port})" + ("" if answers else " -- NOT answering"))
        if not all(current.running for current in nodes.values()):
            return EXIT_NOT_RUNNING
    elif args.command == "logs":
        print(_tail(Layout(node_home(args.home, args.node)).server_out, args.lines))
    return 0


# --- command line -------------------------------------------------------------------------


def _follow(path: Path) -> None:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        while True:
            chunk = handle.read()
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local_kafka.py",
        description="Single-node KRaft Kafka broker (or, with --brokers 3, a local cluster) from Maven Central jars (no Docker).",
    )
    parser.add_argument("command", choices=["start", "stop", "status", "logs", "reset"])
    parser.add_argument(
        "--port", type=int, default=None, help=f"client port (default {DEFAULT_PORT})"
    )
    parser.add_argument("--home", default=None, help="state folder (default var/kafka)")
    parser.add_argument("--plaintext-port", type=int, default=None,
                        help="start: also open an unauthenticated PLAINTEXT listener on this "
                             "port (never by default; for measuring what TLS costs)")
    parser.add_argument("--timeout", type=float, default=90.0, help="start timeout, seconds")
    parser.add_argument("-n", "--lines", type=int, default=100, help="logs: how many lines")
    parser.add_argument("-f", "--follow", action="store_true", help="logs: keep following")
    parser.add_argument("--brokers", type=int, default=1,
                        help="1 (default): the single development broker; 3 or more: the local "
                             "cluster (home default var/kafka-cluster, env MASH_KAFKA_CLUSTER_HOME; "
                             f"base port default {DEFAULT_CLUSTER_PORT}, env MASH_KAFKA_CLUSTER_PORT; "
                             "node N on base+2(N-1)); stop/status/reset/logs take it too")
    parser.add_argument("--node", type=int, default=1, help="logs --brokers N: which node")
    args = parser.parse_args(argv)

    try:
        if args.brokers > 1:
            return _cluster_main(args)
        if args.command == "start":
            bootstrap = start(args.port, args.home, timeout=args.timeout,
                              plaintext_port=args.plaintext_port)
            print(f"Kafka {kafka_version()} listening on {bootstrap} (SASL_SSL); "
                  f"super user settings: {admin_client_config(args.home)}")
        elif args.command == "stop":
            print("Kafka stopped" if stop(args.home) else "Kafka not running")
        elif args.command == "reset":
            reset(args.home)
            print(f"Kafka stopped and data deleted under {resolve_home(args.home)} (jars kept)")
        elif args.command == "status":
            current = status(args.home)
            if not current.running:
                print(f"Kafka not running (data dir {current.data_dir})")
                return EXIT_NOT_RUNNING
            ca = Layout(resolve_home(args.home)).ca_pem
            answers = current.port is not None and broker_answers(current.port, ca=ca)
            print(
                f"Kafka running: pid {current.pid}, port {current.port}"
                f" (controller {current.controller_port}), data dir {current.data_dir}"
                + ("" if answers else " -- NOT answering requests yet")
            )
        elif args.command == "logs":
            server_out = Layout(resolve_home(args.home)).server_out
            print(_tail(server_out, args.lines))
            if args.follow and server_out.exists():
                with contextlib.suppress(KeyboardInterrupt):
                    _follow(server_out)
    except LocalKafkaError as exc:
        print(f"local_kafka: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 0
        print(f"local_kafka: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
