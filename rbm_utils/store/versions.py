"""Row versions in the store: a unit's current rows read, and a submission's rows written.

Nothing is ever deleted. A submission closes the versions it replaces or removes
(``sub_to``), inserts the new ones (``sub_from``), and writes its warnings and field changes
(the rows of a sheet whose rows were only added as one change-log row: :func:`expand_added`).
Every function runs inside the caller's transaction. Many rows go in as one ``executemany`` of
plain tuples through the driver (:func:`bulk_insert`): SQLAlchemy's per-row parameter handling
cost more than the database's own work.

Example:
    >>> from rbm_utils.store.engine import make_engine
    >>> from rbm_utils.store.tables import METADATA
    >>> engine = make_engine("sqlite://")
    >>> with engine.begin() as conn:
    ...     METADATA.create_all(conn)
    ...     sid = insert_submission(conn, "AFR", "2026-Q3", ingested_at="2026-10-03T14:02:11Z", file_name="AFR.xlsx",
    ...                             sha256="0" * 64, submitted_by="Ada", ingested_by="cli", n_warnings=0, n_changes=0)
    ...     (sid, len(current_rows(conn, "AFR")["Results"]))
    (1, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core import schema
from rbm_utils.core.errors import Problem
from rbm_utils.store.diff import ADDED_ROWS, CHANGE_COLUMNS, Current, SheetDiff, added_columns, log_rows, norm_column
from rbm_utils.store.errors import StoreError
from rbm_utils.store.tables import DATA_SHEETS, TABLES, frame_of, sheet_frame

_CHUNK = 500
#: Parameters per statement of SQLite's multi-row inserts: under 999, the limit of SQLite builds before 3.32.
SQLITE_PARAMETERS = 990
#: The driver's positional placeholder, by DB-API paramstyle (sqlite3: qmark; psycopg: pyformat).
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def bulk_insert(conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table`` as one executemany.

    Values must already be plain Python values of each column's type (str, int, float, None).
    On SQLite the rows go in as multi-row ``VALUES (...), (...)`` statements of up to
    :data:`SQLITE_PARAMETERS` parameters (same rows, same order, same ids): SQLite's work per
    statement, not per value, was most of a large insert (300,000 change-log rows: 0.65 s as one
    row per statement, 0.39 s as 100).
    """
    if not rows:
        return
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - sqlite3 and psycopg both have a positional style
        conn.execute(sa.insert(table), [dict(zip(columns, r)) for r in rows])
        return
    q = conn.dialect.identifier_preparer
    head = f"INSERT INTO {q.format_table(table)} ({', '.join(q.quote(c) for c in columns)}) VALUES "
    one = f"({', '.join([mark] * len(columns))})"
    per = max(1, SQLITE_PARAMETERS // max(1, len(columns))) if conn.dialect.name == "sqlite" else 1
    full = len(rows) // per * per if per > 1 else 0
    if full:
        flat = [tuple(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)]
        conn.exec_driver_sql(head + ", ".join([one] * per), flat)
    if rows[full:]:
        conn.exec_driver_sql(head + one, rows[full:])


def current_rows(conn: Connection, unit_code: str) -> Current:
    """The unit's current row versions as {sheet: {key: (row_id, values)}}."""
    out: Current = {}
    for sh in schema.DATA_SHEETS:
        t = TABLES[sh.table_name]
        keyidx = [sh.column_names.index(k) for k in sh.key]
        cur: dict[tuple, tuple[int, tuple]] = {}
        q = sa.select(t.c.row_id, *[t.c[c] for c in sh.column_names]).where(
            t.c.unit_code == unit_code, t.c.sub_to.is_(None)
        )
        found = conn.execute(q).all()
        if found:
            ids, *raw = zip(*found)
            cols = [norm_column(c, list(v), c.name in sh.key, sh.name) for c, v in zip(sh.columns, raw)]
            for row_id, vals in zip(ids, zip(*cols)):
                cur[tuple(vals[j] for j in keyidx)] = (row_id, vals)
        out[sh.name] = cur
    return out


def sheets_as_of(
    conn: Connection, unit_code: str, sid: int | None, names: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The unit's sheets (all data sheets, or ``names`` that the contract has) as of submission
    ``sid``, conformed and sorted by key; every sheet empty when ``sid`` is None."""
    out: dict[str, pd.DataFrame] = {}
    for name in names if names is not None else list(DATA_SHEETS):
        sh = DATA_SHEETS.get(name)
        if sh is None:
            continue
        recs: Sequence[Any] = []
        if sid is not None:
            t = TABLES[sh.table_name]
            recs = conn.execute(
                sa.select(*[t.c[c] for c in sh.column_names]).where(
                    t.c.unit_code == unit_code, t.c.sub_from <= sid, sa.or_(t.c.sub_to.is_(None), t.c.sub_to > sid)
                )
            ).all()
        out[name] = sheet_frame(sh, recs, with_unit=False)
    return out


#: Fields of a submission row stored as numbers (or NULL), not as text.
_NUMBERS = frozenset({"n_warnings", "n_changes", "based_on", "forced_over"})

#: The PostgreSQL channel a new submission is announced on (``NOTIFY``, delivered when the
#: transaction commits): the refresh loop (``rbm watch``) listens instead of polling.
SUBMISSION_CHANNEL = "rbm_submissions"


def insert_submission(conn: Connection, unit_code: str, quarter: str, ingested_at: str, **fields: Any) -> int:
    """A new row of ``submissions``; returns its id. On PostgreSQL the id is also announced on
    :data:`SUBMISSION_CHANNEL` as ``<unit> <quarter> <id>``."""
    res = conn.execute(
        sa.insert(TABLES["submissions"]).values(
            unit_code=unit_code,
            quarter=quarter,
            ingested_at=ingested_at,
            **{k: (v if k in _NUMBERS else str(v)) for k, v in fields.items()},
        )
    )
    key = res.inserted_primary_key
    if key is None:  # pragma: no cover - every supported database returns it
        raise StoreError("the store did not return the new submission's id")
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_notify(:c, :p)"), {"c": SUBMISSION_CHANNEL, "p": f"{unit_code} {quarter} {key[0]}"}
        )
    return int(key[0])


def insert_problems(conn: Connection, sid: int, problems: list[Problem]) -> None:
    """The warnings stored with submission ``sid``."""
    if not problems:
        return
    columns = ["submission_id", "code", "severity", "file", "sheet", "row", "column", "header", "value", "message"]
    rows = [
        (
            sid,
            p.code,
            p.severity,
            p.file,
            p.sheet,
            int(p.row or 0),
            p.column,
            p.header,
            None if p.value is None else str(p.value),
            p.message,
        )
        for p in problems
    ]
    bulk_insert(conn, TABLES["submission_problems"], columns, rows)


def read_problems(conn: Connection, sid: int) -> list[Problem]:
    """The warnings stored with submission ``sid``, in the order they were stored."""
    t = TABLES["submission_problems"]
    rows = conn.execute(sa.select(t).where(t.c.submission_id == sid).order_by(t.c.id)).all()
    return [
        Problem(
            r.code,
            r.severity,
            r.file or "",
            r.sheet or "",
            r.row or 0,
            r.column or "",
            r.header or "",
            r.value,
            r.message or "",
        )
        for r in rows
    ]


def close_versions(conn: Connection, sid: int, diffs: list[SheetDiff]) -> None:
    """Mark replaced and deleted row versions with ``sub_to``."""
    for d in diffs:
        ids = [r[0] for r in d.changed] + [r[0] for r in d.removed]
        t = TABLES[d.sheet.table_name]
        for i in range(0, len(ids), _CHUNK):
            conn.execute(
                sa.update(t).where(t.c.row_id.in_(ids[i : i + _CHUNK]), t.c.sub_to.is_(None)).values(sub_to=sid)
            )


def insert_versions(conn: Connection, unit_code: str, sid: int, diffs: list[SheetDiff]) -> None:
    """Insert the added rows and the new versions of changed rows."""
    for d in diffs:
        vals = d.added + [n for _, _, n in d.changed]
        if not vals:
            continue
        columns = ["unit_code", *d.sheet.column_names, "sub_from"]
        bulk_insert(conn, TABLES[d.sheet.table_name], columns, [(unit_code, *v, sid) for v in vals])


def insert_change_log(conn: Connection, unit_code: str, sid: int, diffs: list[SheetDiff]) -> None:
    """The ``change_log`` rows of submission ``sid`` (:func:`rbm_utils.store.diff.log_rows`): one
    per field change, or one for all the rows of a sheet whose rows were only added."""
    rows = log_rows(diffs)
    if not rows:
        return
    columns = ["submission_id", "unit_code", "sheet", "key", "field", "old", "new"]
    bulk_insert(conn, TABLES["change_log"], columns, [(sid, unit_code, *r) for r in rows])


def added_rows(conn: Connection, unit_code: str, sid: int, sheet: str) -> pd.DataFrame:
    """The field changes (sheet, key, field, old, new) of the rows submission ``sid`` added to
    ``sheet`` when it only added rows there (its :data:`~rbm_utils.store.diff.ADDED_ROWS`
    change-log row): the row versions it inserted, in the order they went in (key order), as
    :func:`~rbm_utils.store.diff.changes_frame` gives them."""
    sh = DATA_SHEETS[sheet]
    t = TABLES[sh.table_name]
    found = conn.execute(
        sa.select(*[t.c[c] for c in sh.column_names])
        .where(t.c.unit_code == unit_code, t.c.sub_from == sid)
        .order_by(t.c.row_id)
    ).all()
    if not found:
        return pd.DataFrame(columns=CHANGE_COLUMNS, dtype=object)
    cols = [norm_column(c, list(v), c.name in sh.key, sh.name) for c, v in zip(sh.columns, zip(*found))]
    return pd.DataFrame(dict(zip(CHANGE_COLUMNS, added_columns(sh, list(zip(*cols))))), dtype=object)


def change_history(conn: Connection, unit_code: str) -> pd.DataFrame:
    """The unit's change log, oldest first, each row with its submission's quarter, who, when and
    file, the rows of :func:`expand_added` listed field by field."""
    subs, cl = TABLES["submissions"], TABLES["change_log"]
    q = (
        sa.select(
            cl.c.id,
            cl.c.submission_id,
            subs.c.quarter,
            cl.c.sheet,
            cl.c.key,
            cl.c.field,
            cl.c.old,
            cl.c.new,
            subs.c.submitted_by,
            subs.c.ingested_by,
            subs.c.ingested_at,
            subs.c.file_name,
            subs.c.sha256,
        )
        .join(subs, subs.c.id == cl.c.submission_id)
        .where(cl.c.unit_code == unit_code)
        .order_by(cl.c.id)
    )
    return expand_added(conn, unit_code, frame_of(conn.execute(q)))


def expand_added(conn: Connection, unit_code: str, log: pd.DataFrame) -> pd.DataFrame:
    """A unit's change log (columns of ``change_log`` and more) with each
    :data:`~rbm_utils.store.diff.ADDED_ROWS` row replaced by the field changes it stands for
    (:func:`added_rows`), the row's other columns repeated; in the same order."""
    marks = (log["field"] == ADDED_ROWS) & (log["key"] == ADDED_ROWS) if not log.empty else None
    if marks is None or not marks.any():
        return log
    parts: list[pd.DataFrame] = []
    start = 0
    for i in [int(j) for j in marks.to_numpy().nonzero()[0]]:
        parts.append(log.iloc[start:i])
        row = log.iloc[i]
        got = added_rows(conn, unit_code, int(row["submission_id"]), str(row["sheet"]))
        rest = log.iloc[[i] * len(got)].drop(columns=CHANGE_COLUMNS).reset_index(drop=True)
        parts.append(pd.concat([rest, got], axis=1)[list(log.columns)])
        start = i + 1
    parts.append(log.iloc[start:])
    out = pd.concat(parts, ignore_index=True)
    return out.astype({c: log[c].dtype for c in log.columns})
