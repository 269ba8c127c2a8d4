"""What changed since a date: the short report a manager reads each week (``rbm digest``).

The digest compares the quarter's figures as they stood on a date with the figures now. Both
sides are computed by the same analytics as the quarterly review, on two bureau states of the
same quarter Q: the state built from each unit's latest submission (for Q or earlier) ingested
*before* the date, and the state now (each unit's latest submission). Statuses are never read from
the change log: a KPI's status depends on its target, milestones, every actual and the
thresholds, so only the analytics can say whether it moved. A digest lists:

- ``status_moves``: KPIs whose status is not what it was (a KPI added since shows ``new``
  before, one removed ``removed`` now), worst first;
- ``new_red_flags``: red-flag risks now that were not red flags then;
- ``overdue``: decisions overdue now (due before Q, neither done nor dropped), each once under the
  unit that recorded it; ``new`` is True for those that were not overdue then;
- ``received``: submissions ingested on or after the date (any quarter), oldest first;
- ``missing``: units expected for Q without any submission for Q, with their latest quarter.

Risk reviews are dated against the quarter's end on both sides, as in the review itself.

Example:
    >>> before = pd.DataFrame({"unit_code": ["AFR", "AFR"], "kpi_id": ["K1", "K2"], "name": ["a", "b"],
    ...                        "status": ["on_track", "at_risk"]})
    >>> now = before.assign(status=["off_track", "at_risk"])
    >>> status_moves(before, now)[["kpi_id", "status_before", "status_now"]].values.tolist()
    [['K1', 'on_track', 'off_track']]
    >>> subs = pd.DataFrame({"id": [1, 2], "unit_code": ["AFR", "EUR"], "quarter": ["2026-Q3", "2026-Q2"],
    ...                      "submitted_by": ["Ada", "Eve"], "ingested_at": ["2026-08-30T10:00:00Z", "2026-09-03T08:00:00Z"],
    ...                      "file_name": ["a.xlsx", "e.xlsx"]})
    >>> received_since(subs, "2026-09-01")["unit_code"].tolist()
    ['EUR']
    >>> missing_submissions(subs, ["AFR", "EUR", "CYB"], "2026-Q3")[["unit_code", "latest_quarter"]].values.tolist()
    [['EUR', '2026-Q2'], ['CYB', '']]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from rbm_utils.analytics import decisions, kpi, risks
from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.quarters import Quarter, QuarterLike

State = Mapping[str, pd.DataFrame]

#: Columns of each part of a digest.
STATUS_MOVE_COLUMNS = ["unit_code", "kpi_id", "name", "status_before", "status_now"]
RED_FLAG_COLUMNS = ["unit_code", "risk_id", "title", "rating", "score", "owner", "asks"]
OVERDUE_COLUMNS = ["unit_code", "decision_id", "decision", "owner", "due_quarter", "status", "new"]
RECEIVED_COLUMNS = ["unit_code", "quarter", "submission_id", "submitted_by", "ingested_at", "file_name"]
MISSING_COLUMNS = ["unit_code", "latest_quarter"]
#: A KPI's status before it existed, and after it was removed.
NEW, REMOVED = "new", "removed"


def figures(
    state: State, quarter: QuarterLike, thresholds: Mapping[str, float], previous_state: State | None = None
) -> dict[str, pd.DataFrame]:
    """The tables a digest compares, computed from ``state`` for ``quarter`` as the review does:
    ``progress`` (:func:`rbm_utils.analytics.kpi.kpi_progress`), ``red_flags``
    (:func:`rbm_utils.analytics.risks.red_flags` of the risk register) and ``decisions``
    (:func:`rbm_utils.analytics.decisions.follow_up`).

    >>> sorted(figures({}, "2026-Q3", {}))
    ['decisions', 'progress', 'red_flags']
    """
    q = Quarter.parse(quarter)
    th = dict(thresholds)
    progress = kpi.kpi_progress(state, q, th or None)
    register = risks.risk_register(state, q, previous_state, th or None)
    return {
        "progress": progress,
        "red_flags": risks.red_flags(register, progress, th or None),
        "decisions": decisions.follow_up(state, q, previous_state=previous_state, progress=progress, register=register),
    }


def _frame(df: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    """``df`` with ``columns`` (missing ones blank), or an empty frame of them."""
    if df is None or df.empty:
        return pd.DataFrame(columns=columns)
    out = df.copy()
    for c in columns:
        if c not in out.columns:
            out[c] = ""
    return out


def _worst_first(status: pd.Series) -> pd.Series:
    order: dict[str, int] = {str(s): i for i, s in enumerate(KPI_STATUSES)}
    return status.map(lambda s: order.get(str(s), len(order)))


def status_moves(before: pd.DataFrame | None, now: pd.DataFrame | None) -> pd.DataFrame:
    """KPIs (by unit and kpi_id) whose ``status`` differs between two progress tables, worst
    status now first (columns :data:`STATUS_MOVE_COLUMNS`)."""
    keys = ["unit_code", "kpi_id"]
    b = _frame(before, [*keys, "name", "status"])[[*keys, "status"]]
    n = _frame(now, [*keys, "name", "status"])[[*keys, "name", "status"]]
    both = n.merge(b, on=keys, how="outer", suffixes=("_now", "_before"), indicator=True)
    both["status_before"] = both["status_before"].where(both["_merge"] != "left_only", NEW)
    both["status_now"] = both["status_now"].where(both["_merge"] != "right_only", REMOVED)
    moved = both[both["status_before"].astype(str) != both["status_now"].astype(str)].copy()
    moved["name"] = moved["name"].fillna("")
    moved["_rank"] = _worst_first(moved["status_now"])
    moved = moved.sort_values(["_rank", *keys], kind="stable")
    return moved[STATUS_MOVE_COLUMNS].reset_index(drop=True)


def new_red_flags(before: pd.DataFrame | None, now: pd.DataFrame | None) -> pd.DataFrame:
    """Red flags of ``now`` whose (unit_code, risk_id) was not a red flag ``before``, highest
    score first (columns :data:`RED_FLAG_COLUMNS`).

    >>> b = pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"], "score": [16]})
    >>> new_red_flags(b, pd.concat([b, b.assign(risk_id="R2", score=20)]))["risk_id"].tolist()
    ['R2']
    """
    keys = ["unit_code", "risk_id"]
    n = _frame(now, RED_FLAG_COLUMNS)
    b = _frame(before, keys)
    seen = set(zip(b["unit_code"].astype(str), b["risk_id"].astype(str)))
    fresh = [(u, r) not in seen for u, r in zip(n["unit_code"].astype(str), n["risk_id"].astype(str))]
    out = n[pd.Series(fresh, index=n.index, dtype=bool)] if len(n) else n
    score = pd.to_numeric(out["score"], errors="coerce")
    out = out.assign(_s=score).sort_values(["_s", *keys], ascending=[False, True, True], kind="stable")
    return out[RED_FLAG_COLUMNS].reset_index(drop=True)


def _overdue(table: pd.DataFrame | None) -> pd.DataFrame:
    """Overdue decisions, each once (a joint decision under the unit that recorded it)."""
    d = _frame(table, [*OVERDUE_COLUMNS[:-1], "recorded_by", "overdue"])
    if d.empty:
        return d
    own = d["recorded_by"].astype(str).eq(d["unit_code"].astype(str)) | d["recorded_by"].astype(str).eq("")
    return d[own & d["overdue"].fillna(False).astype(bool)]


def overdue_now(before: pd.DataFrame | None, now: pd.DataFrame | None) -> pd.DataFrame:
    """Decisions overdue in ``now`` (follow-up tables), with ``new``: not overdue ``before``;
    the new ones first (columns :data:`OVERDUE_COLUMNS`).

    >>> d = pd.DataFrame({"unit_code": ["AFR", "AFR"], "recorded_by": ["AFR", "AFR"], "decision_id": ["D1", "D2"],
    ...                   "overdue": [True, True]})
    >>> overdue_now(d.iloc[:1], d)[["decision_id", "new"]].values.tolist()
    [['D2', True], ['D1', False]]
    """
    n, b = _overdue(now), _overdue(before)
    was = set(zip(b["unit_code"].astype(str), b["decision_id"].astype(str))) if len(b) else set()
    n = n.assign(new=[(u, d) not in was for u, d in zip(n["unit_code"].astype(str), n["decision_id"].astype(str))])
    n = n.sort_values(["new", "unit_code", "decision_id"], ascending=[False, True, True], kind="stable")
    return n.reindex(columns=OVERDUE_COLUMNS).reset_index(drop=True)


def _utc(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object).astype(str), utc=True, errors="coerce", format="ISO8601")


def since_time(since: Any) -> pd.Timestamp:
    """The start of a digest: a date (midnight UTC) or a time.

    >>> str(since_time("2026-09-01"))
    '2026-09-01 00:00:00+00:00'
    """
    t = pd.Timestamp(str(since))
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def received_since(submissions: pd.DataFrame | None, since: Any) -> pd.DataFrame:
    """Submissions (the store's ``submissions`` table) ingested on or after ``since``, oldest
    first (columns :data:`RECEIVED_COLUMNS`)."""
    s = _frame(submissions, ["id", "unit_code", "quarter", "submitted_by", "ingested_at", "file_name"])
    if s.empty:
        return pd.DataFrame(columns=RECEIVED_COLUMNS)
    s = s[(_utc(s["ingested_at"]) >= since_time(since)).to_numpy()]
    s = s.rename(columns={"id": "submission_id"}).sort_values("submission_id", kind="stable")
    return s[RECEIVED_COLUMNS].reset_index(drop=True)


def missing_submissions(submissions: pd.DataFrame | None, units: Iterable[str], quarter: QuarterLike) -> pd.DataFrame:
    """Units of ``units`` (in their order) without any submission for ``quarter``, each with the
    latest quarter it submitted for ('' when never; columns :data:`MISSING_COLUMNS`)."""
    q = str(Quarter.parse(quarter))
    s = _frame(submissions, ["unit_code", "quarter"])
    rows = []
    for u in units:
        mine = s[s["unit_code"].astype(str) == u]["quarter"].astype(str)
        if q not in set(mine):
            rows.append((u, max(mine) if len(mine) else ""))
    return pd.DataFrame(rows, columns=MISSING_COLUMNS)


def digest(
    before: Mapping[str, pd.DataFrame],
    now: Mapping[str, pd.DataFrame],
    submissions: pd.DataFrame | None,
    since: Any,
    quarter: QuarterLike,
    units: Iterable[str],
) -> dict[str, pd.DataFrame]:
    """Every part of a digest (keys ``status_moves``, ``new_red_flags``, ``overdue``,
    ``received``, ``missing``) from the :func:`figures` of the date (``before``) and of now, the
    store's submissions and the units expected (the rows of other units are left out)."""
    keep = list(units)

    def only(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["unit_code"].astype(str).isin(keep)].reset_index(drop=True)

    return {
        "status_moves": only(status_moves(before.get("progress"), now.get("progress"))),
        "new_red_flags": only(new_red_flags(before.get("red_flags"), now.get("red_flags"))),
        "overdue": only(overdue_now(before.get("decisions"), now.get("decisions"))),
        "received": only(received_since(submissions, since)),
        "missing": missing_submissions(submissions, keep, quarter),
    }
