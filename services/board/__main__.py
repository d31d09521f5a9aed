"""`mash-board [serve | hash-password]`: the case board and the agency
response page. hash-password reads a password on stdin and prints its scrypt hash for the
access file."""

from __future__ import annotations

import getpass
import sys

from prometheus_client import CollectorRegistry

from mash_common.cli import take_config_dir
from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from mash_common.logs import configure_logging
from mash_hub.services.board.app import create_app
from mash_hub.services.board.metrics import BoardMetrics
from mash_hub.services.board.settings import BoardSettings, load_access
from mash_hub.services.board.users import hash_password
from mash_hub.services.webkit.serve import serve


def main() -> None:
    sys.argv = take_config_dir(sys.argv)  # --config-dir DIR, before settings read it
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "hash-password":
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        print(hash_password(password))
        return
    if command != "serve":
        print(f"board: unknown command {command!r} (serve, hash-password)", file=sys.stderr)
        sys.exit(2)
    settings = BoardSettings()
    configure_logging(settings.log_level)
    try:
        hub = load_hub_config(settings.hub_config)
        access = load_access(settings.access_file, set(hub.agencies))
        settings.kafka.confluent_config()  # refuse to start without the board's credentials
    except ConfigError as exc:
        print(f"board: {exc}", file=sys.stderr)
        sys.exit(2)
    metrics = BoardMetrics(CollectorRegistry())
    serve(create_app(settings, access=access, agencies=sorted(hub.agencies), metrics=metrics),
          settings.host, settings.port, "board", settings.log_level)


if __name__ == "__main__":
    main()
