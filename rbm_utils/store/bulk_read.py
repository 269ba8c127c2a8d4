"""Many units' sheets read at once: one query per sheet for the whole bureau, not one per unit.

``rbm review`` reads every unit's framework twice over (as of its last approved quarter and as of
the quarter reviewed: :func:`rbm_utils.store.escalation.approval_frames`). Read unit by unit that
was ~14 queries per unit; on PostgreSQL each query is a round trip to the server, and the freeze
of 13 units took 2-3 times SQLite's time. Here a *pick* (a subquery of ``unit_code`` and ``sid``:
which submission of each unit) is joined to each sheet's versions, so a sheet costs one query
whatever the number of units; the frames are the ones :func:`rbm_utils.store.versions.sheets_as_of`
gives unit by unit (conformed, sorted by key), dtypes included.

Example:
    >>> from rbm_utils.store.engine import make_engine
    >>> from rbm_utils.store.tables import METADATA
    >>> from rbm_utils.store.versions import insert_submission
    >>> engine = make_engine("sqlite://")
    >>> with engine.begin() as conn:
    ...     METADATA.create_all(conn)
    ...     sid = insert_submission(conn, "AFR", "2026-Q3", ingested_at="2026-10-03T14:02:11Z", file_name="AFR.xlsx",
    ...                             sha256="0" * 64, submitted_by="Ada", ingested_by="cli", n_warnings=0, n_changes=0)
    ...     found = sheets_at(conn, latest_pick("2026-Q3"), ("KPIs",))
    >>> list(found), list(found["AFR"]), len(found["AFR"]["KPIs"])
    (['AFR'], ['KPIs'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.store.tables import DATA_SHEETS, TABLES, sheet_frame, unit_frame


def latest_pick(quarter: str) -> sa.Subquery:
    """Each unit's latest submission for ``quarter`` or an earlier one: ``(unit_code, sid)``."""
    subs = TABLES["submissions"]
    return (
        sa.select(subs.c.unit_code, sa.func.max(subs.c.id).label("sid"))
        .where(subs.c.quarter <= quarter)
        .group_by(subs.c.unit_code)
        .subquery("latest_pick")
    )


def baseline_pick(quarter: str) -> sa.Subquery:
    """The submission each unit's last approved quarter before ``quarter`` rests on: ``(unit_code, sid)``
    (units with no approved quarter before it are absent)."""
    appr = TABLES["approvals"]
    last = (
        sa.select(appr.c.unit_code, sa.func.max(appr.c.quarter).label("quarter"))
        .where(appr.c.quarter < quarter)
        .group_by(appr.c.unit_code)
        .subquery("last_approved")
    )
    return (
        sa.select(appr.c.unit_code, appr.c.submission_id.label("sid"))
        .join(last, sa.and_(appr.c.unit_code == last.c.unit_code, appr.c.quarter == last.c.quarter))
        .subquery("baseline_pick")
    )


def picked(conn: Connection, pick: sa.Subquery) -> dict[str, int]:
    """{unit: submission} of a pick."""
    return {u: int(s) for u, s in conn.execute(sa.select(pick.c.unit_code, pick.c.sid))}


def sheet_rows(conn: Connection, sheet: str, pick: sa.Subquery) -> list[tuple[Any, ...]]:
    """The rows of ``sheet`` (``unit_code`` first, then the sheet's columns) as of each unit's
    picked submission: the versions added up to it and not replaced by then. One query."""
    sh = DATA_SHEETS[sheet]
    t = TABLES[sh.table_name]
    q = (
        sa.select(t.c.unit_code, *[t.c[c] for c in sh.column_names])
        .join(pick, t.c.unit_code == pick.c.unit_code)
        .where(t.c.sub_from <= pick.c.sid, sa.or_(t.c.sub_to.is_(None), t.c.sub_to > pick.c.sid))
    )
    return driver_rows(conn, q)


def driver_rows(conn: Connection, query: sa.Select) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the database driver returns them (tuples of str, int, float, None),
    fetched by the driver's own cursor inside ``conn``'s transaction.

    SQLAlchemy's rows cost more than the database's work: the sheets of 13 units (7,700 rows)
    came in 38 ms through ``conn.execute``, 10 ms through psycopg's cursor in binary mode (which
    returns the same Python values as SQLAlchemy: float8 as float, integer as int, text as str).
    """
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    positional = compiled.positiontup
    args: Any = tuple(params[k] for k in positional) if positional is not None else params
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # an open connection (conn is in a transaction)
    cur = dbapi.cursor(binary=True) if conn.dialect.name == "postgresql" else dbapi.cursor()
    try:
        cur.execute(str(compiled), args)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()


def sheets_at(
    conn: Connection, pick: sa.Subquery, names: Sequence[str], units: Sequence[str] | None = None
) -> dict[str, dict[str, pd.DataFrame]]:
    """{unit: {sheet: frame}} for each unit of ``pick`` (or of ``units``: a unit the pick lacks
    gets empty sheets), as of its picked submission: each frame as
    :func:`rbm_utils.store.versions.sheets_as_of` reads it for that unit alone."""
    wanted = list(units) if units is not None else sorted(picked(conn, pick))
    out: dict[str, dict[str, pd.DataFrame]] = {u: {} for u in wanted}
    for name in names:
        sh = DATA_SHEETS.get(name)
        if sh is None:
            continue
        whole = sheet_frame(sh, sheet_rows(conn, name, pick), with_unit=True)  # sorted by unit, then key
        codes = whole["unit_code"].to_numpy()
        bounds = {u: (int(a), int(b)) for u, a, b in zip(*_runs(codes), strict=True)}
        body = whole.drop(columns="unit_code")
        for unit in wanted:
            a, b = bounds.get(unit, (0, 0))
            out[unit][name] = body.iloc[a:b].reset_index(drop=True) if b > a else sheet_frame(sh, [], with_unit=False)
    return out


def _runs(codes: Any) -> tuple[list[str], list[int], list[int]]:
    """The units of a column sorted by unit, with where each one's rows start and end.

    >>> _runs(["AFR", "AFR", "CYB"]), _runs([])
    ((['AFR', 'CYB'], [0, 2], [2, 3]), ([], [], []))
    """
    units: list[str] = []
    starts: list[int] = []
    for i, code in enumerate(codes):
        if not units or code != units[-1]:
            units.append(code)
            starts.append(i)
    return units, starts, [*starts[1:], len(codes)] if units else []


def bureau_frames(conn: Connection, quarter: str, units: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every unit's sheets as of ``quarter`` (its latest submission up to it), concatenated with a
    leading ``unit_code``, and ``"Unit"``: each unit's submission used (:func:`rbm_utils.store.tables.unit_frame`).
    What :meth:`rbm_utils.store.database.Store.bureau_state` returns; one query per sheet."""
    subs = TABLES["submissions"]
    latest_q = sa.select(subs.c.unit_code, sa.func.max(subs.c.id).label("sid")).where(subs.c.quarter <= quarter)
    if units is not None:
        latest_q = latest_q.where(subs.c.unit_code.in_(list(units)))
    latest = latest_q.group_by(subs.c.unit_code).subquery("latest")
    firsts = (
        sa.select(subs.c.unit_code, subs.c.quarter, sa.func.min(subs.c.id).label("fid"))
        .group_by(subs.c.unit_code, subs.c.quarter)
        .subquery("firsts")
    )
    first = subs.alias("first_sub")
    unit_rows = conn.execute(
        sa.select(
            subs.c.unit_code,
            subs.c.quarter,
            subs.c.id,
            subs.c.submitted_by,
            first.c.ingested_at.label("first_received_at"),
            subs.c.ingested_at,
        )
        .join(latest, subs.c.id == latest.c.sid)
        .join(firsts, sa.and_(firsts.c.unit_code == subs.c.unit_code, firsts.c.quarter == subs.c.quarter))
        .join(first, first.c.id == firsts.c.fid)
        .order_by(subs.c.unit_code)
    ).all()
    out = {
        name: sheet_frame(sh, sheet_rows(conn, name, latest) if unit_rows else [], with_unit=True)
        for name, sh in DATA_SHEETS.items()
    }
    out["Unit"] = unit_frame([tuple(r) for r in unit_rows])
    return out
