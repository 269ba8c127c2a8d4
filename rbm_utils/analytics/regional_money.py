"""A cluster's money and people attributed to the regions it works in (docs/rules.md, "Money
and people by region").

For the quarter ``Y-Qn``, per cluster output, the year's budget, the spending (of the year to
date and since the start) and the staff months (planned for the year, used in the year) go to
regions in two ways:

- **lines**: a Budget or Expenditure line with a ``region`` goes to that region, whole;
- **activities**: the output's lines without a region are shared by its activities: a region
  gets (the output's activities in that region) / (all the output's activities) of them;
  activities without a region are the output's global share, which stays ``unattributed``, and
  so does the whole of an output without activities.

Every row says its ``basis`` (``lines``, ``activities`` or ``unattributed``). The rows of an
output add up to the output's total (as :mod:`rbm_utils.analytics.finance` counts it): what
goes to regions never exceeds the total.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> b = schema.conform("Budget", pd.DataFrame({"unit_code": ["CYB", "CYB"], "result_id": ["O1", "O1"],
    ...     "funding_source": ["RB", "Fund"], "year": [2026, 2026], "amount": [900.0, 300.0],
    ...     "region": [None, "AFR"]}), with_unit=True)
    >>> a = schema.conform("Activities", pd.DataFrame({"unit_code": ["CYB"] * 3,
    ...     "activity_id": ["A1", "A2", "A3"], "result_id": ["O1"] * 3, "region": ["AFR", "EUR", None]}),
    ...     with_unit=True)
    >>> m = regional_money({"Budget": b, "Activities": a}, "2026-Q3")
    >>> m[["region", "basis", "budget_year"]].values.tolist()
    [['AFR', 'lines', 300.0], ['AFR', 'activities', 300.0], ['EUR', 'activities', 300.0], ['', 'unattributed', 300.0]]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import sheet_frame
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import number_column, text_column

#: Figures attributed to regions (additive).
REGIONAL_MEASURES: tuple[str, ...] = (
    "budget_year",
    "spent_year",
    "spent_cumulative",
    "staff_months_planned_year",
    "staff_months_used_year",
)
#: How a row's figures came to a region.
BASES: tuple[str, ...] = ("lines", "activities", "unattributed")
#: Columns of :func:`regional_money`.
REGIONAL_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "result_id",
    "title",
    "region",
    "basis",
    "share",
    "n_activities",
    *REGIONAL_MEASURES,
)
#: Columns of :func:`pair_summary`.
SUMMARY_COLUMNS: tuple[str, ...] = ("scope", "basis", *REGIONAL_MEASURES, "share_of_spending")

_KEYS = ["unit_code", "result_id", "region"]


def _lines(state: Mapping[str, pd.DataFrame], q: Quarter, units: set[str] | None) -> pd.DataFrame:
    """Budget lines of year Y and expenditure lines up to ``q``, one figure column each."""
    zero = dict.fromkeys(REGIONAL_MEASURES, 0.0)
    b = sheet_frame(state, "Budget")
    year = number_column(b["year"]) if "year" in b.columns else pd.Series(np.nan, index=b.index)
    b = b[(year == q.year).to_numpy()]
    budget = pd.DataFrame(
        {
            "unit_code": text_column(b["unit_code"]),
            "result_id": text_column(b["result_id"]),
            "region": text_column(b["region"]) if "region" in b.columns else "",
            **zero,
        }
    )
    budget["budget_year"] = number_column(b["amount"]).fillna(0.0)
    budget["staff_months_planned_year"] = number_column(b["staff_months"]).fillna(0.0)
    e = sheet_frame(state, "Expenditure")
    pidx = index_of(e["period"])
    e = e[(pidx <= q.index).to_numpy()]
    this_year = ((pidx[pidx <= q.index] // 4) == q.year).to_numpy()
    spent = pd.DataFrame(
        {
            "unit_code": text_column(e["unit_code"]),
            "result_id": text_column(e["result_id"]),
            "region": text_column(e["region"]) if "region" in e.columns else "",
            **zero,
        }
    )
    amount = number_column(e["amount"]).fillna(0.0)
    staff = number_column(e["staff_months"]).fillna(0.0)
    spent["spent_cumulative"] = amount
    spent["spent_year"] = amount.where(this_year, 0.0)
    spent["staff_months_used_year"] = staff.where(this_year, 0.0)
    lines = pd.concat([budget, spent], ignore_index=True)
    if units is not None:
        lines = lines[lines["unit_code"].isin(units)]
    return lines


def activity_shares(activities: pd.DataFrame) -> pd.DataFrame:
    """Per unit, output and region (``""``: no region) the output's activities there and their
    share of all its activities (columns unit_code, result_id, region, n_activities, share).

    >>> a = pd.DataFrame({"unit_code": ["CYB"] * 4, "result_id": ["O1"] * 4,
    ...                   "region": ["AFR", "AFR", "EUR", None]})
    >>> activity_shares(a)[["region", "n_activities", "share"]].values.tolist()
    [['', 1, 0.25], ['AFR', 2, 0.5], ['EUR', 1, 0.25]]
    """
    a = pd.DataFrame(
        {
            "unit_code": text_column(activities["unit_code"]),
            "result_id": text_column(activities["result_id"]),
            "region": text_column(activities["region"]),
        }
    )
    a = a[a["result_id"] != ""]
    n = a.groupby(_KEYS).size().rename("n_activities").reset_index()
    total = n.groupby(["unit_code", "result_id"])["n_activities"].transform("sum")
    n["n_activities"] = n["n_activities"].astype("int64")
    n["share"] = n["n_activities"] / total
    return n


def regional_money(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, units: Iterable[str] | None = None
) -> pd.DataFrame:
    """Each output's figures (:data:`REGIONAL_MEASURES`) of ``units`` (default: every unit; the
    bureau passes its clusters) by region and basis, columns :data:`REGIONAL_COLUMNS` (rules in
    the module docstring). ``share`` is the activity share (basis ``activities``; for
    ``unattributed``, the global share of an output with activities), ``n_activities`` the
    output's activities in the region (``unattributed``: without a region). ``region`` is ``""``
    on ``unattributed`` rows. Sorted by unit, output, region (unattributed last), basis.

    >>> regional_money({}, "2026-Q3").columns.tolist()[:5]
    ['unit_code', 'result_id', 'title', 'region', 'basis']
    """
    q = Quarter.parse(quarter)
    wanted = None if units is None else set(units)
    lines = _lines(state, q, wanted)
    if lines.empty:
        return pd.DataFrame(columns=list(REGIONAL_COLUMNS))
    measures = list(REGIONAL_MEASURES)
    sums = lines.groupby(_KEYS, as_index=False)[measures].sum()
    by_lines = sums[sums["region"] != ""].assign(basis="lines", share=np.nan, n_activities=0)
    open_ = sums[sums["region"] == ""].drop(columns="region")
    shares = activity_shares(sheet_frame(state, "Activities"))
    alloc = open_.merge(shares, on=["unit_code", "result_id"], how="left")
    none = alloc["share"].isna()
    alloc.loc[none, ["region", "share"]] = ["", np.nan]
    alloc["n_activities"] = alloc["n_activities"].fillna(0).astype("int64")
    alloc[measures] = alloc[measures].mul(alloc["share"].fillna(1.0), axis=0)
    alloc["basis"] = np.where(alloc["region"] == "", "unattributed", "activities")
    out = pd.concat([by_lines, alloc], ignore_index=True)
    res = sheet_frame(state, "Results")
    titles = pd.DataFrame(
        {
            "unit_code": text_column(res["unit_code"]),
            "result_id": text_column(res["result_id"]),
            "title": text_column(res["title"]),
        }
    ).drop_duplicates(["unit_code", "result_id"])
    out = out.merge(titles, on=["unit_code", "result_id"], how="left")
    out["title"] = out["title"].fillna("")
    out["n_activities"] = out["n_activities"].astype("int64")
    out["share"] = out["share"].astype("float64")
    out["_last"] = out["region"] == ""
    out["_b"] = out["basis"].map({b: i for i, b in enumerate(BASES)})
    out = out.sort_values(["unit_code", "result_id", "_last", "region", "_b"], kind="stable")
    return out[list(REGIONAL_COLUMNS)].reset_index(drop=True)


def pair_money(regional: pd.DataFrame, cluster: str, region: str) -> pd.DataFrame:
    """The rows of :func:`regional_money` that ``cluster`` attributes to ``region``.

    >>> m = pd.DataFrame({"unit_code": ["CYB", "CYB"], "region": ["AFR", ""], "spent_year": [1.0, 2.0]})
    >>> pair_money(m, "CYB", "AFR")["spent_year"].tolist()
    [1.0]
    """
    if regional is None or regional.empty:
        return pd.DataFrame(columns=list(REGIONAL_COLUMNS))
    keep = (text_column(regional["unit_code"]) == cluster) & (text_column(regional["region"]) == region)
    return regional[keep.to_numpy()].reset_index(drop=True)


def pair_summary(regional: pd.DataFrame, cluster: str, region: str) -> pd.DataFrame:
    """What ``cluster`` spends in ``region`` beside its total, columns :data:`SUMMARY_COLUMNS`:
    one row per basis present (scope ``in <region>``), the region in all (basis ``all``) and the
    cluster's total over every region and its unattributed share (scope ``cluster total``).
    ``share_of_spending``: the row's year spending / the cluster's (blank when it spent nothing).

    >>> m = pd.DataFrame({"unit_code": ["CYB"] * 3, "region": ["AFR", "AFR", ""],
    ...     "basis": ["lines", "activities", "unattributed"], "spent_year": [10.0, 30.0, 60.0]})
    >>> pair_summary(m, "CYB", "AFR")[["scope", "basis", "spent_year", "share_of_spending"]].values.tolist()
    [['in AFR', 'lines', 10.0, 0.1], ['in AFR', 'activities', 30.0, 0.3], ['in AFR', 'all', 40.0, 0.4], ['cluster total', 'all', 100.0, 1.0]]
    """
    frame = regional if regional is not None else pd.DataFrame(columns=list(REGIONAL_COLUMNS))
    measures = list(REGIONAL_MEASURES)
    mine = frame[(text_column(frame["unit_code"]) == cluster).to_numpy()] if len(frame) else frame
    mine = mine.reindex(columns=[*mine.columns, *[m for m in measures if m not in mine.columns]])
    mine[measures] = mine[measures].astype("float64").fillna(0.0)
    here = mine[(text_column(mine["region"]) == region).to_numpy()] if len(mine) else mine
    rows = []
    for basis in BASES[:2]:
        part = here[here["basis"] == basis]
        if len(part):
            rows.append({"scope": f"in {region}", "basis": basis, **part[measures].sum().to_dict()})
    rows.append({"scope": f"in {region}", "basis": "all", **here[measures].sum().to_dict()})
    rows.append({"scope": "cluster total", "basis": "all", **mine[measures].sum().to_dict()})
    out = pd.DataFrame(rows)
    out[measures] = out[measures].astype("float64")
    total = float(out["spent_year"].iloc[-1])
    out["share_of_spending"] = out["spent_year"] / total if total > 0 else np.nan
    return out[list(SUMMARY_COLUMNS)]
