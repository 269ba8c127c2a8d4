"""Bring a store written by an older contract up to this one, in place and without loss.

The contract only ever **adds**: new sheets (new tables, made by ``create_all``) and new optional
columns on existing sheets. A store of an older schema version gains the missing columns (``ALTER
TABLE ... ADD COLUMN``; a text key column defaults to ``""``, as the store writes a blank key, so
old rows keep their keys) and its recorded version is raised. Nothing is removed or rewritten. A
store of a *newer* version than this workbench reads is refused: an older workbench must not
write into it. Versions compare as numbers: ``"1.10"`` is newer than ``"1.9"``.

Example:
    >>> version_tuple("1.10") > version_tuple("1.9"), version_tuple("2")
    (True, (2,))
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core import schema
from rbm_utils.store.errors import StoreError
from rbm_utils.store.tables import METADATA


def version_tuple(text: str) -> tuple[int, ...]:
    """A schema version as a tuple of numbers; a version that is not numbers is refused."""
    try:
        return tuple(int(p) for p in str(text).strip().split("."))
    except ValueError:
        raise StoreError(f"the store records an unreadable schema version {text!r}") from None


def _key_columns() -> dict[str, set[str]]:
    return {sh.table_name: set(sh.key) for sh in schema.DATA_SHEETS}


def missing_columns(conn: Connection) -> list[tuple[str, sa.Column]]:
    """Columns of this contract's tables that the database's existing tables lack."""
    inspector = sa.inspect(conn)
    have_tables = set(inspector.get_table_names())
    out: list[tuple[str, sa.Column]] = []
    for name, table in METADATA.tables.items():
        if name not in have_tables:
            continue
        have = {c["name"] for c in inspector.get_columns(name)}
        out.extend((name, col) for col in table.columns if col.name not in have)
    return out


def add_missing_columns(conn: Connection) -> list[str]:
    """Add each missing column; returns ``table.column`` of what was added."""
    keys = _key_columns()
    added: list[str] = []
    preparer = conn.dialect.identifier_preparer
    for table, col in missing_columns(conn):
        if col.primary_key or (not col.nullable and col.server_default is None and table not in keys):
            raise StoreError(
                f"the store's table {table} lacks the required column {col.name}; it cannot be added in place"
            )
        col_type = col.type.compile(dialect=conn.dialect)
        ddl = f"ALTER TABLE {preparer.quote(table)} ADD COLUMN {preparer.quote(col.name)} {col_type}"
        if col.name in keys.get(table, set()) and isinstance(col.type, sa.Text):
            ddl += " NOT NULL DEFAULT ''"
        conn.exec_driver_sql(ddl)
        added.append(f"{table}.{col.name}")
    return added


def upgrade(conn: Connection, found: str, url: str) -> list[str]:
    """Raise a store at version ``found`` to :data:`schema.SCHEMA_VERSION` in the open transaction.

    Returns what was added. Refuses a store newer than this workbench.
    """
    current = schema.SCHEMA_VERSION
    if version_tuple(found) > version_tuple(current):
        raise StoreError(
            f"the store {url} holds workbooks of schema version {found}, this workbench reads version "
            f"{current}; use a newer workbench with this store"
        )
    return add_missing_columns(conn)
