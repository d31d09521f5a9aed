"""`mash-gateway [serve | new-key | openapi]`: the referral gateway.

serve (the default) runs the HTTP API; new-key prints a fresh API key and the sha256 line
for the sources file; openapi prints the OpenAPI spec (committed as
services/gateway/openapi.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from mash_common.cli import take_config_dir
from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from mash_common.logs import configure_logging
from mash_hub.services.gateway.app import create_app
from mash_hub.services.gateway.auth import hash_key, new_key
from mash_hub.services.gateway.metrics import GatewayMetrics
from mash_hub.services.gateway.settings import GatewaySettings, SourceEntry, load_sources
from mash_hub.services.webkit.serve import serve

SPEC_PATH = Path(__file__).with_name("openapi.json")


def spec() -> dict[str, object]:
    """The OpenAPI document, as served at /openapi.json (it does not depend on settings)."""
    app = create_app(GatewaySettings(), sources={}, metrics=GatewayMetrics(CollectorRegistry()))
    return app.openapi()


def spec_text() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    sys.argv = take_config_dir(sys.argv)  # --config-dir DIR, before settings read it
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "new-key":
        key = new_key()
        print(f"API key (give it to the source system, store it nowhere else): {key}")
        print(f"api_key_sha256: {hash_key(key)}")
        return
    if command == "openapi":
        sys.stdout.write(spec_text())
        return
    if command != "serve":
        print(f"gateway: unknown command {command!r} (serve, new-key, openapi)", file=sys.stderr)
        sys.exit(2)
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    try:
        hub = load_hub_config(settings.hub_config)
        sources: dict[str, SourceEntry] = load_sources(settings.sources_file, set(hub.source_systems))
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        sys.exit(2)
    metrics = GatewayMetrics(CollectorRegistry())
    serve(create_app(settings, sources=sources, metrics=metrics), settings.host, settings.port,
          "gateway", settings.log_level)


if __name__ == "__main__":
    main()
