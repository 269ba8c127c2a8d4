"""Approval states of unit-quarters: ``draft``, ``approved``, or ``pending`` the bureau.

A unit-quarter's framework changes are measured against the unit's state as of its last
approved quarter before it (:func:`quarter_changes`; the classification is
:func:`rbm_utils.store.authority.classify_changes`). The unit approver's approval locks the
quarter; when one of its changes needs the bureau, the quarter stays ``pending`` until a bureau
approver approves it too (:func:`approval_frames`). Every function reads inside the caller's
transaction.

Example:
    >>> from rbm_utils.core.config import Authority
    >>> from rbm_utils.store.engine import make_engine
    >>> from rbm_utils.store.tables import METADATA
    >>> engine = make_engine("sqlite://")
    >>> with engine.begin() as conn:
    ...     METADATA.create_all(conn)
    ...     states, changes = approval_frames(conn, "2026-Q3", Authority())
    >>> list(states.columns) == APPROVAL_COLUMNS, list(changes.columns) == FRAMEWORK_CHANGE_COLUMNS
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core.codes import APPROVAL_COLUMNS, FRAMEWORK_CHANGE_COLUMNS
from rbm_utils.core.config import Authority
from rbm_utils.store.authority import (
    FRAMEWORK_SHEETS,
    classify_changes,
    empty_changes,
    pending_summary,
)
from rbm_utils.store.bulk_read import baseline_pick, latest_pick, picked, sheets_at
from rbm_utils.store.tables import TABLES
from rbm_utils.store.versions import sheets_as_of


def baseline_submission(conn: Connection, unit_code: str, quarter: str) -> int | None:
    """The submission the unit's last approved quarter before ``quarter`` rests on (None: none approved)."""
    appr = TABLES["approvals"]
    return conn.execute(
        sa.select(appr.c.submission_id)
        .where(appr.c.unit_code == unit_code, appr.c.quarter < quarter)
        .order_by(appr.c.quarter.desc())
        .limit(1)
    ).scalar()


def latest_submission(conn: Connection, unit_code: str, quarter: str) -> int | None:
    """The unit's latest submission for ``quarter`` or an earlier one (None: none)."""
    subs = TABLES["submissions"]
    return conn.execute(
        sa.select(sa.func.max(subs.c.id)).where(subs.c.unit_code == unit_code, subs.c.quarter <= quarter)
    ).scalar()


def quarter_changes(
    conn: Connection,
    unit_code: str,
    quarter: str,
    authority: Authority,
    new: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The framework changes of ``unit_code`` ``quarter`` against its last approved quarter before
    it; ``new`` is the submitted state (default: the stored state as of ``quarter``)."""
    base = baseline_submission(conn, unit_code, quarter)
    if base is None:
        return empty_changes()
    old = sheets_as_of(conn, unit_code, base, FRAMEWORK_SHEETS)
    if new is None:
        new = sheets_as_of(
            conn, unit_code, latest_submission(conn, unit_code, quarter), (*FRAMEWORK_SHEETS, "Decisions")
        )
    return classify_changes(old, new, authority)


def approval_rows(conn: Connection, unit_code: str, quarter: str) -> tuple[Any, Any]:
    """The unit-level and the bureau-level approval rows of a unit-quarter (None where absent)."""
    appr, bur = TABLES["approvals"], TABLES["bureau_approvals"]
    unit_row = conn.execute(sa.select(appr).where(appr.c.unit_code == unit_code, appr.c.quarter == quarter)).first()
    bureau_row = conn.execute(sa.select(bur).where(bur.c.unit_code == unit_code, bur.c.quarter == quarter)).first()
    return unit_row, bureau_row


def state_of(unit_approved: bool, bureau_approved: bool, changes: pd.DataFrame) -> str:
    """``draft`` until the unit approves; then ``pending`` while a bureau-level change awaits the bureau.

    >>> state_of(True, False, pd.DataFrame({"authority": ["unit", "bureau"]}))
    'pending'
    """
    if not unit_approved:
        return "draft"
    if not bureau_approved and (changes["authority"] == "bureau").any():
        return "pending"
    return "approved"


def change_statuses(state: str, bureau_approved: bool, changes: pd.DataFrame) -> list[str]:
    """Each change's status: ``draft`` before the unit's approval; then ``approved``, or ``pending``
    for a bureau-level change the bureau has not approved."""
    if state == "draft":
        return ["draft"] * len(changes)
    return ["pending" if a == "bureau" and not bureau_approved else "approved" for a in changes["authority"]]


def _units(conn: Connection, quarter: str) -> list[str]:
    subs = TABLES["submissions"]
    q = sa.select(subs.c.unit_code).where(subs.c.quarter <= quarter).distinct().order_by(subs.c.unit_code)
    return list(conn.execute(q).scalars())


def approval_frames(
    conn: Connection, quarter: str, authority: Authority, currency: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(approval states, framework changes) of ``quarter`` for every unit with a submission up to it.

    ``n_pending`` and ``pending_summary`` count and describe the bureau-level changes the bureau
    has not approved (in a ``draft`` quarter: those that will need it). The whole bureau is read in
    a few queries (:mod:`rbm_utils.store.bulk_read`); each unit's changes are those of
    :func:`quarter_changes`.
    """
    appr, bur = TABLES["approvals"], TABLES["bureau_approvals"]
    units = _units(conn, quarter)
    unit_rows = {r.unit_code: r for r in conn.execute(sa.select(appr).where(appr.c.quarter == quarter))}
    bureau_rows = {r.unit_code: r for r in conn.execute(sa.select(bur).where(bur.c.quarter == quarter))}
    base = baseline_pick(quarter)
    approved_before = picked(conn, base)
    based = [u for u in units if u in approved_before]
    old = sheets_at(conn, base, FRAMEWORK_SHEETS, based)
    new = sheets_at(conn, latest_pick(quarter), (*FRAMEWORK_SHEETS, "Decisions"), based) if based else {}
    states: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    for unit in units:
        unit_row, bureau_row = unit_rows.get(unit), bureau_rows.get(unit)
        changes = classify_changes(old[unit], new[unit], authority) if unit in old else empty_changes()
        state = state_of(unit_row is not None, bureau_row is not None, changes)
        changes = changes.assign(status=change_statuses(state, bureau_row is not None, changes))
        waiting = changes[(changes["authority"] == "bureau") & (changes["status"] != "approved")]
        states.append(
            {
                "unit_code": unit,
                "quarter": quarter,
                "state": state,
                "approved_by": unit_row.approved_by if unit_row is not None else "",
                "approved_at": unit_row.approved_at if unit_row is not None else "",
                "bureau_approved_by": bureau_row.approved_by if bureau_row is not None else "",
                "bureau_approved_at": bureau_row.approved_at if bureau_row is not None else "",
                "n_pending": len(waiting),
                "pending_summary": pending_summary(waiting, currency),
            }
        )
        if not changes.empty:
            parts.append(changes.assign(unit_code=unit, quarter=quarter))
    out = pd.DataFrame(states, columns=APPROVAL_COLUMNS)
    out["n_pending"] = out["n_pending"].astype("int64")
    empty = empty_changes().assign(unit_code="", quarter="", status="").iloc[:0]
    changes_all = pd.concat(parts, ignore_index=True) if parts else empty
    changes_all = changes_all[FRAMEWORK_CHANGE_COLUMNS].reset_index(drop=True)
    for c in FRAMEWORK_CHANGE_COLUMNS:
        changes_all[c] = changes_all[c].astype("float64" if c in ("amount", "share") else object)
    return out, changes_all
