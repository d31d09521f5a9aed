"""SQL reference backend: one parametrised SELECT per data category, through SQLAlchemy.

Parameters are subject identifiers only, always bound by the driver. Give the adapter a
database user that can read only the views it needs: configuration is not a security
boundary, the database's grants are.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mash_common.contracts import AgencyRecord, SubjectIdentifiers
from mash_sdk.errors import AdapterConfigError, TransientError
from mash_sdk.reference.config import SqlBackend, sql_parameters
from mash_sdk.reference.handler import identifier_values


class SqlLookup:
    def __init__(self, config: SqlBackend, engine: Engine | None = None) -> None:
        self.config = config
        self._queries = {c: (text(q.query), sql_parameters(q.query), q.fields)
                         for c, q in config.categories.items()}
        self._engine = engine or create_engine(_url(config), pool_pre_ping=True,
                                               **_pool_args(_url(config), config.pool_size))

    def close(self) -> None:
        self._engine.dispose()

    def lookup(self, category: str, subject: SubjectIdentifiers) -> list[AgencyRecord]:
        entry = self._queries.get(category)
        if entry is None:
            return []
        statement, names, fields = entry
        identifiers = identifier_values(subject)
        params = {name: identifiers[name] for name in names}
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(statement, params).mappings().all()
        except (OperationalError, DisconnectionError, PoolTimeoutError) as exc:
            raise TransientError(f"{category}: database unavailable ({type(exc).__name__})") from None
        # Any other database error (a wrong query) propagates: the SDK answers ERROR, naming
        # only its type, because the driver's message quotes the bound identifiers.
        return [fields.to_record(category, dict(row)) for row in rows]


def _url(config: SqlBackend) -> str:
    if config.url is not None:
        return config.url
    assert config.url_env is not None
    url = os.environ.get(config.url_env)
    if not url:
        raise AdapterConfigError(f"environment variable {config.url_env} (the database URL) is not set")
    return url


def _pool_args(url: str, size: int) -> dict[str, int]:
    return {} if url.startswith("sqlite") else {"pool_size": size, "max_overflow": 0}
