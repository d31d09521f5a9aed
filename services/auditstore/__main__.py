"""`mash-auditstore`: build settings, configure logging, run the store."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from prometheus_client import CollectorRegistry

from mash_common.errors import ConfigError
from mash_common.logs import configure_logging
from mash_common.metrics import serve_metrics
from mash_hub.services.auditstore.app import AuditStoreWorker
from mash_hub.services.auditstore.metrics import AuditStoreMetrics
from mash_hub.services.auditstore.settings import AuditStoreSettings

EXIT_CONFIG = 2


def main() -> int:
    settings = AuditStoreSettings()
    configure_logging(settings.log_level)
    registry = CollectorRegistry()
    try:
        worker = AuditStoreWorker(settings, AuditStoreMetrics(registry))
    except ConfigError as exc:
        print(f"auditstore: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    serve_metrics(registry, settings.metrics_port)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop_requested.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
