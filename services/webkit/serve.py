"""Running an ASGI app with uvicorn, logging one line a supervisor can wait for."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)


def serve(app: FastAPI, host: str, port: int, name: str, log_level: str = "info") -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                            # Our logging is configured in main(); uvicorn's access log would
                            # write every URL, and ours carry only ids, but it is noise.
                            log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    logger.info("%s starting on http://%s:%d", name, host, port)
    server.run()
