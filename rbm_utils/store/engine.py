"""The database behind the store: an SQLite file (WAL, busy timeout, foreign keys) or PostgreSQL.

:func:`make_engine` turns a store URL into an SQLAlchemy engine set up for many writers;
:func:`guarded` turns database errors of a store method into a plain :class:`StoreError`.

Example:
    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    >>> make_engine("mysql://x/y")
    Traceback (most recent call last):
    ...
    rbm_utils.store.errors.StoreError: unsupported store mysql://x/y: use an SQLite file (sqlite:///path) or PostgreSQL (postgresql+psycopg://...)
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from rbm_utils.store.errors import StoreError

log = logging.getLogger(__name__)

#: How long a writer waits for another one to finish (SQLite busy timeout).
SQLITE_BUSY_TIMEOUT_MS = 60_000


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling defers it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: two writers queue instead of failing
    # when a read transaction tries to upgrade.
    write = conn.get_execution_options().get("rbm_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for a store URL; :class:`StoreError` for an unusable or unsupported one."""
    try:
        u = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise StoreError(
            f"not a valid store URL: {url!r}; expected e.g. sqlite:///data/rbm.sqlite "
            "or postgresql+psycopg://user@host/dbname"
        ) from None
    backend = u.get_backend_name()
    try:
        if backend == "sqlite":
            db = u.database or ""
            memory = db in ("", ":memory:") or u.query.get("mode") == "memory"
            kwargs: dict[str, Any] = {
                "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            }
            if memory:
                kwargs["poolclass"] = sa.pool.StaticPool
            else:
                try:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the folder of the store {db}: {exc.strerror or exc}") from None
            engine = sa.create_engine(u, **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        if backend == "postgresql":
            connect_args = {} if "connect_timeout" in u.query else {"connect_timeout": 10}
            return sa.create_engine(u, pool_pre_ping=True, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the store URL {u.render_as_string(hide_password=True)}: {exc}") from None
    raise StoreError(
        f"unsupported store {u.render_as_string(hide_password=True)}: "
        "use an SQLite file (sqlite:///path) or PostgreSQL (postgresql+psycopg://...)"
    )


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for ``pg_advisory_xact_lock``.

    >>> lock_key("AFR") == lock_key("AFR") != lock_key("CYB")
    True
    """
    return int.from_bytes(hashlib.sha256(("rbm-store:" + name).encode()).digest()[:8], "big", signed=True)


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "database is locked" in first:
        return "the store is busy with another writer; try again in a moment"
    return first


def guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn database errors of a store method into a plain :class:`StoreError` naming the
    store (``self.safe_url``) and what it could not do."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except StoreError:
                raise
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                log.debug("store error", exc_info=True)
                raise StoreError(f"the store {self.safe_url} could not {what}: {_reason(exc)}") from exc

        return wrapper

    return deco
