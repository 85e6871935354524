"""Optuna's RDB storage on the console's own database: the study survives restarts of web and workers."""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import quote

from django.db import connections

log = logging.getLogger(__name__)


def storage_url() -> str:
    """A SQLAlchemy URL for the database Django uses now (the test database under pytest)."""
    db = connections["default"].settings_dict
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        name = str(db["NAME"])
        if name.startswith("file:"):
            # Django's in-memory test database is a SQLite URI; without uri=true SQLAlchemy makes a file of that name.
            name += ("&" if "?" in name else "?") + "uri=true"
        return f"sqlite:///{name}"
    if "postgresql" not in engine:
        raise RuntimeError(f"Sweeps need PostgreSQL or SQLite, not {engine}")
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    at = "@" if auth or host else ""
    return f"postgresql+psycopg://{auth}{at}{host}{port}/{quote(db['NAME'], safe='')}"


@lru_cache(maxsize=4)
def _storage(url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from sqlalchemy.pool import NullPool

    # No pool: a connection per storage call, closed after it — nothing held across a database restart, a fork
    # of the worker, or the end of a test run (which drops its database).
    return optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool})


def get_storage():
    url = storage_url()
    return _storage(url)
