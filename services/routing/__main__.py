"""`python -m services.routing worker` runs the routing worker."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.hubconfig import load_hub_config
from mash_common.logs import configure_logging
from mash_common.metrics import serve_metrics
from mash_common.streams import ensure_internal_topics
from services.routing.app import create_app
from services.routing.metrics import RoutingMetrics
from services.routing.policy import load_recipient_policy
from services.routing.settings import RoutingSettings


def main() -> None:
    settings = RoutingSettings()
    configure_logging(settings.log_level)
    try:
        # Validate both files before anything connects: a mistake names file and line.
        hub = load_hub_config(settings.hub_config)
        policy = load_recipient_policy(settings.recipient_policy)
    except ConfigError as exc:
        print(f"routing: {exc}", file=sys.stderr)
        sys.exit(2)
    registry = CollectorRegistry()
    metrics = RoutingMetrics(registry)
    serve_metrics(registry, settings.metrics_port)
    app = create_app(settings, hub=hub, policy=policy, metrics=metrics)
    args = sys.argv[1:]
    if "worker" in args:
        # faust's worker turns its web server on and logs at WARN unless told otherwise;
        # our settings decide both (and "[^Worker]: Ready" is logged at INFO).
        if not any(a.startswith("--with") for a in args):
            if settings.web_port is None:
                sys.argv.append("--without-web")
            else:
                sys.argv += ["--web-port", str(settings.web_port)]
        if not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in args):
            sys.argv += ["--loglevel", settings.log_level.lower()]
    ensure_internal_topics(app, settings.kafka)
    app.main()


if __name__ == "__main__":
    main()
