"""`python -m services.enrichment worker -l info` runs the enrichment worker."""

from __future__ import annotations

from mash_common.logs import configure_logging
from services.enrichment.app import create_app
from services.enrichment.settings import EnrichmentSettings


def main() -> None:
    settings = EnrichmentSettings()
    configure_logging(settings.log_level)
    create_app(settings).main()


if __name__ == "__main__":
    main()
