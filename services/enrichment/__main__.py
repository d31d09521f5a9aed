"""`python -m services.enrichment worker -l info` runs the enrichment worker."""

from __future__ import annotations

import sys

from mash_common.logs import configure_logging
from mash_common.streams import ensure_internal_topics
from services.enrichment.app import create_app
from services.enrichment.settings import EnrichmentSettings


def main() -> None:
    settings = EnrichmentSettings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    # faust's worker command turns its web server on unless told otherwise; settings decide.
    if "worker" in sys.argv[1:] and not any(a.startswith("--with") for a in sys.argv):
        if settings.web_port is None:
            sys.argv.append("--without-web")
        else:
            sys.argv += ["--web-port", str(settings.web_port)]
    ensure_internal_topics(app, settings.kafka)
    app.main()


if __name__ == "__main__":
    main()
