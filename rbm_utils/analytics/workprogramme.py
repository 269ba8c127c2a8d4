"""Work programme: activity counts, delayed activities with reasons, partners' resources.

Rules (docs/rules.md, section "Work programme"): an activity that is not completed nor
cancelled is *delayed* at a quarter when (1) its status is ``delayed``, or (2) its
``planned_end`` is before the last day of the quarter, or (3) its ``percent_complete`` lags
the planned share of time elapsed by more than 25 points, where planned share =
(quarter end - planned_start) / (planned_end - planned_start), clipped to 0-100 %.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> acts = schema.conform("Activities", pd.DataFrame({"unit_code": ["AFR"], "activity_id": ["A1"],
    ...     "title": ["Workshop"], "type": ["project"], "status": ["ongoing"],
    ...     "planned_start": ["2026-01-01"], "planned_end": ["2026-12-31"], "percent_complete": [20]}),
    ...     with_unit=True)
    >>> d = delayed_activities({"Activities": acts}, "2026-Q3")
    >>> d.loc[0, "reasons"]
    '20% complete while 75% of the planned time has elapsed (55 points behind)'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

#: Points by which percent_complete may lag the planned share of time elapsed (overridden by
#: ``thresholds["activity_lag_points"]`` when the settings define it).
LAG_POINTS = 25.0

DELAYED_COLUMNS = [
    "unit_code",
    "activity_id",
    "result_id",
    "title",
    "type",
    "region",
    "status",
    "planned_start",
    "planned_end",
    "percent_complete",
    "planned_percent",
    "lag_points",
    "days_overdue",
    "reasons",
]


def activities_summary(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Activity counts per unit and type: one column per status of
    ``schema.ACTIVITY_STATUSES`` (planned, ongoing, completed, delayed, cancelled), then
    n_activities and mean_percent_complete (mean of the filled percent_complete cells).

    >>> activities_summary({}).columns.tolist()[:3]
    ['unit_code', 'type', 'planned']
    """
    acts = _sheet(state, "Activities")
    cols = ["unit_code", "type", *schema.ACTIVITY_STATUSES, "n_activities", "mean_percent_complete"]
    if acts.empty:
        return pd.DataFrame(columns=cols)
    a = pd.DataFrame(
        {
            "unit_code": acts["unit_code"],
            "type": _text(acts["type"]),
            "status": _text(acts["status"]),
            "pct": pd.to_numeric(acts["percent_complete"], errors="coerce").astype("float64"),
        }
    )
    counts = pd.crosstab([a["unit_code"], a["type"]], a["status"])
    counts = counts.reindex(columns=list(schema.ACTIVITY_STATUSES), fill_value=0)
    g = a.groupby(["unit_code", "type"])
    counts["n_activities"] = g.size()
    counts["mean_percent_complete"] = g["pct"].mean()
    out = counts.reset_index()
    out.columns.name = None
    return out[cols]


def delayed_activities(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Activities late at ``quarter`` (rules in the module docstring), columns
    :data:`DELAYED_COLUMNS`. ``planned_percent`` is the planned share of time elapsed at the
    end of the quarter (0-100), ``lag_points`` = planned_percent - percent_complete,
    ``days_overdue`` = days from planned_end to the end of the quarter when it has passed.
    ``reasons`` joins every rule that fired with "; ". Completed and cancelled activities are
    never listed. The lag allowed is ``thresholds["activity_lag_points"]`` (default 25).

    >>> delayed_activities({}, "2026-Q3").empty
    True
    """
    q = Quarter.parse(quarter)
    lag_points = float((thresholds or {}).get("activity_lag_points", LAG_POINTS))
    acts = _sheet(state, "Activities")
    if acts.empty:
        return pd.DataFrame(columns=DELAYED_COLUMNS)
    end = pd.Timestamp(q.end)
    a = acts.copy()
    status = _text(a["status"])
    a["status"] = status
    start = pd.to_datetime(a["planned_start"], errors="coerce", format="ISO8601")
    stop = pd.to_datetime(a["planned_end"], errors="coerce", format="ISO8601")
    pct = pd.to_numeric(a["percent_complete"], errors="coerce").astype("float64")
    span = (stop - start).dt.days.astype("float64")
    elapsed = (end - start).dt.days.astype("float64")
    share = np.where(span > 0, elapsed / span.where(span > 0), np.where(end >= stop, 1.0, 0.0))
    share = pd.Series(share, index=a.index).where(start.notna() & stop.notna()).clip(0, 1) * 100
    a["planned_percent"] = share
    a["lag_points"] = share - pct
    active = ~status.isin(["completed", "cancelled"])
    r_status = active & (status == "delayed")
    r_end = active & (stop < end).fillna(False).astype(bool)
    r_lag = active & (a["lag_points"].round(9) > lag_points).fillna(False).astype(bool)
    a["days_overdue"] = (end - stop).dt.days.where(r_end).astype("Int64")
    reasons = []
    for _s, e, days, p, pp, lag, f1, f2, f3 in zip(
        status, a["planned_end"], a["days_overdue"], pct, share, a["lag_points"], r_status, r_end, r_lag
    ):
        why = []
        if f1:
            why.append("status is delayed")
        if f2:
            why.append(f"planned end {e} has passed ({days} days before the end of {q}) and it is not completed")
        if f3:
            why.append(f"{p:.0f}% complete while {pp:.0f}% of the planned time has elapsed ({lag:.0f} points behind)")
        reasons.append("; ".join(why))
    a["reasons"] = reasons
    out = a[r_status | r_end | r_lag]
    out = out.assign(percent_complete=pct[out.index])
    return out[DELAYED_COLUMNS].sort_values(["unit_code", "activity_id"], kind="stable").reset_index(drop=True)


def partners_summary(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Resources mobilised per unit and partner type: cash, in_kind, total (sums of
    Partners.amount), n_partners (distinct partner names), n_contributions (rows). A blank
    partner_type is reported as ``unspecified``.

    >>> partners_summary({}).columns.tolist()
    ['unit_code', 'partner_type', 'cash', 'in_kind', 'total', 'n_partners', 'n_contributions']
    """
    p = _sheet(state, "Partners")
    cols = ["unit_code", "partner_type", "cash", "in_kind", "total", "n_partners", "n_contributions"]
    if p.empty:
        return pd.DataFrame(columns=cols)
    ptype = _text(p["partner_type"])
    ctype = _text(p["contribution_type"])
    amount = pd.to_numeric(p["amount"], errors="coerce").astype("float64").fillna(0.0)
    df = pd.DataFrame(
        {
            "unit_code": p["unit_code"],
            "partner_type": ptype.where(ptype != "", "unspecified"),
            "partner": _text(p["partner"]).str.casefold(),
            "cash": amount.where(ctype == "cash", 0.0),
            "in_kind": amount.where(ctype == "in-kind", 0.0),
            "total": amount,
        }
    )
    g = df.groupby(["unit_code", "partner_type"])
    out = g[["cash", "in_kind", "total"]].sum()
    out["n_partners"] = g["partner"].nunique()
    out["n_contributions"] = g.size()
    return out.reset_index()[cols]
