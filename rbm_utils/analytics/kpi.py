"""KPI progress: current value, achievement, expected progress, status, forecast, freshness.

Every figure follows the default rules of docs/rules.md ("KPI progress"): the figures come
from :mod:`rbm_utils.analytics.kpi_rules` applied by the engine of
:mod:`rbm_utils.analytics.kpi_grid`, the forecast from :mod:`rbm_utils.analytics.forecast`;
regional breakdowns are in :mod:`rbm_utils.analytics.kpi_regions`. The functions take
a *state*: ``dict[str, DataFrame]`` keyed by sheet name, each frame with a leading
``unit_code`` then the schema columns (``schema.conform(name, df, with_unit=True)``); an
absent key is an empty sheet. The whole bureau is computed at once with group-wise
vectorised pandas/numpy code (no Python loop per KPI).

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> kpis = schema.conform("KPIs", pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"],
    ...     "result_id": ["R1"], "measure": ["number"], "direction": ["increase"],
    ...     "aggregation": ["sum"], "baseline_value": [0], "baseline_period": ["2026-Q1"],
    ...     "target_value": [100], "target_period": ["2027-Q1"]}), with_unit=True)
    >>> acts = schema.conform("Actuals", pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"],
    ...     "period": ["2026-Q2"], "value": [30], "disaggregation": [""]}), with_unit=True)
    >>> p = kpi_progress({"KPIs": kpis, "Actuals": acts}, "2026-Q2")
    >>> p[["current_value", "achievement", "expected", "status"]].to_dict("records")
    [{'current_value': 30.0, 'achievement': 0.3, 'expected': 0.25, 'status': 'on_track'}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rbm_utils.analytics.forecast import forecast_line
from rbm_utils.analytics.frames import conformed_sheet
from rbm_utils.analytics.frames import thresholds as thresholds_with
from rbm_utils.analytics.kpi_grid import kpi_grid, kpi_latest, period_text
from rbm_utils.analytics.kpi_rules import DECIMALS, achievement
from rbm_utils.core.codes import KPI_STATUS_LABELS, KPI_STATUSES
from rbm_utils.core.quarters import Quarter, QuarterLike

log = logging.getLogger(__name__)

#: Status codes, worst first (:data:`rbm_utils.core.codes.KPI_STATUSES`). ``not_started`` comes
#: last: it is no verdict at all.
STATUS_ORDER = KPI_STATUSES

#: Plain words for each status (:data:`rbm_utils.core.codes.KPI_STATUS_LABELS`).
STATUS_LABELS = KPI_STATUS_LABELS

#: RAG colours: red, grey, amber, green, dark green, light blue-grey.
STATUS_COLORS: dict[str, str] = {
    # Okabe-Ito, safe for colour-blind readers (docs/dashboards.md); every view also writes the status in words
    "off_track": "#D55E00",
    "no_data": "#999999",
    "at_risk": "#E69F00",
    "on_track": "#009E73",
    "target_met": "#0072B2",
    "not_started": "#56B4E9",
}

#: Columns of :func:`kpi_series`.
SERIES_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "kpi_id",
    "period",
    "reported",
    "value",
    "current",
    "achievement",
    "expected",
    "performance",
    "status",
)

#: Columns of :func:`kpi_progress`.
PROGRESS_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "kpi_id",
    "result_id",
    "level",
    "programme",
    "initiative",
    "theme",
    "name",
    "measure",
    "direction",
    "aggregation",
    "baseline_value",
    "baseline_period",
    "target_value",
    "target_period",
    "current_value",
    "achievement",
    "expected",
    "performance",
    "status",
    "last_period",
    "quarters_since_report",
    "n_reports",
    "evidence_share",
    "forecast_value",
    "forecast_achievement",
    "likely_to_meet",
)


def kpi_series(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Quarter-by-quarter progress of every KPI, from its baseline period to ``quarter``.

    Columns (:data:`SERIES_COLUMNS`): unit_code, kpi_id, period, reported (a total row exists
    for the period), value (that row's value or NaN), current (current value as of the period),
    achievement, expected, performance, status. KPIs whose baseline period is after
    ``quarter`` (or not a period) have no row.

    >>> s = kpi_series({}, "2026-Q1")
    >>> list(s.columns)[:4]
    ['unit_code', 'kpi_id', 'period', 'reported']
    """
    t = thresholds_with(thresholds)
    g, kpis = kpi_grid(state, Quarter.parse(quarter), t, before_baseline=False)
    e = g["e"].to_numpy()
    out = pd.DataFrame(
        {
            "unit_code": kpis["unit_code"].to_numpy(dtype=object)[e],
            "kpi_id": kpis["kpi_id"].to_numpy(dtype=object)[e],
            "period": period_text(g["pidx"].to_numpy(dtype=float)),
            "reported": g["reported"].to_numpy(dtype=bool),
            "value": g["value"].to_numpy(dtype=float),
            "current": g["current"].to_numpy(dtype=float),
            "achievement": g["achievement"].to_numpy(dtype=float),
            "expected": g["expected"].to_numpy(dtype=float),
            "performance": g["performance"].to_numpy(dtype=float),
            "status": g["status"].to_numpy(dtype=object),
        },
        columns=list(SERIES_COLUMNS),
    )
    return out


def kpi_progress(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per KPI as of ``quarter`` (columns :data:`PROGRESS_COLUMNS`).

    Besides the figures of :func:`kpi_series` at ``quarter``: the result's level, programme,
    initiative and theme; freshness (last_period, quarters_since_report, n_reports,
    evidence_share) and the forecast at the target period (forecast_value,
    forecast_achievement, likely_to_meet: nullable boolean, NA for "insufficient data").

    >>> kpi_progress({}, "2026-Q1").shape
    (0, 27)
    """
    q = Quarter.parse(quarter)
    t = thresholds_with(thresholds)
    qidx = q.index
    g, latest, kpis = kpi_latest(state, q, t)
    nk = len(kpis)
    last = latest.set_index("e").reindex(np.arange(nk))
    last_pidx = last["last_reported"].to_numpy(dtype=float)  # the quarters only grow along a KPI's rows
    n_reports = last["cum_reports"].fillna(0).to_numpy(dtype=float).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        evidence_share = np.where(n_reports > 0, last["cum_evidence"].to_numpy(dtype=float) / n_reports, np.nan)

    slope, intercept = forecast_line(g, nk, int(t["forecast_min_points"]))
    base = kpis["baseline_value"].to_numpy(dtype=float)
    target = kpis["target_value"].to_numpy(dtype=float)
    direction = kpis["direction"].to_numpy(dtype=object)
    forecast_value = slope * kpis["tidx"].to_numpy(dtype=float) + intercept
    forecast_ach = achievement(forecast_value, base, target, direction)
    achieved = last["achievement"].to_numpy(dtype=float)
    likely = pd.array(np.round(forecast_ach, DECIMALS) >= 1, dtype="boolean")
    likely[np.isnan(forecast_ach)] = pd.NA
    likely[np.round(achieved, DECIMALS) >= 1] = True

    results = conformed_sheet(state, "Results").drop_duplicates(["unit_code", "result_id"], keep="first")
    res = kpis[["unit_code", "result_id"]].merge(
        results[["unit_code", "result_id", "level", "programme", "initiative", "theme"]],
        on=["unit_code", "result_id"],
        how="left",
        sort=False,
    )

    out = pd.DataFrame(
        {
            "unit_code": kpis["unit_code"],
            "kpi_id": kpis["kpi_id"],
            "result_id": kpis["result_id"],
            "level": res["level"].to_numpy(dtype=object),
            "programme": res["programme"].to_numpy(dtype=object),
            "initiative": res["initiative"].to_numpy(dtype=object),
            "theme": res["theme"].to_numpy(dtype=object),
            "name": kpis["name"],
            "measure": kpis["measure"],
            "direction": kpis["direction"],
            "aggregation": kpis["aggregation"],
            "baseline_value": base,
            "baseline_period": kpis["baseline_period"],
            "target_value": target,
            "target_period": kpis["target_period"],
            "current_value": last["current"].to_numpy(dtype=float),
            "achievement": achieved,
            "expected": last["expected"].to_numpy(dtype=float),
            "performance": last["performance"].to_numpy(dtype=float),
            "status": last["status"].to_numpy(dtype=object),
            "last_period": period_text(last_pidx),
            "quarters_since_report": pd.array(
                np.where(np.isnan(last_pidx), np.nan, qidx - last_pidx), dtype="Float64"
            ).astype("Int64"),
            "n_reports": n_reports,
            "evidence_share": evidence_share,
            "forecast_value": forecast_value,
            "forecast_achievement": forecast_ach,
            "likely_to_meet": likely,
        },
        columns=list(PROGRESS_COLUMNS),
    )
    return out.reset_index(drop=True)


def rollup(progress: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Counts and shares of KPIs per status for each group of ``progress``.

    ``by``: a column of ``progress`` (unit_code, level, programme, initiative...), a list of
    them, or ``None`` / ``[]`` / ``"bureau"`` for one bureau row. Columns: the group keys,
    n_kpis, ``n_<status>`` for each status of :data:`STATUS_ORDER` (they add up to n_kpis),
    ``share_<status>`` = n_<status> / n_kpis. Blank group values form their own group.

    >>> p = pd.DataFrame({"unit_code": ["A", "A", "B"], "status": ["on_track", "off_track", "on_track"]})
    >>> rollup(p, "unit_code")[["unit_code", "n_kpis", "n_on_track", "share_on_track"]].values.tolist()
    [['A', 2, 1, 0.5], ['B', 1, 1, 1.0]]
    """
    if by is None or by == "bureau":
        keys: list[str] = []
    elif isinstance(by, str):
        keys = [by]
    else:
        keys = list(by)
    status = pd.Categorical(progress["status"], categories=list(STATUS_ORDER)).codes  # -1: blank or unknown
    unknown = (status < 0) & progress["status"].notna().to_numpy()
    if unknown.any():
        names = sorted(set(progress["status"].to_numpy(dtype=object)[unknown]))
        log.warning("rollup: statuses %s are not in STATUS_ORDER; counted in n_kpis only", names)
    ns = len(STATUS_ORDER)
    if keys:
        grp = progress[keys].groupby(keys, dropna=False, sort=True)
        out = grp.size().rename("n_kpis").reset_index()
        gid = grp.ngroup().to_numpy(dtype=np.int64)
    else:
        out = pd.DataFrame({"n_kpis": [len(progress)]})
        gid = np.zeros(len(progress), dtype=np.int64)
    ok = status >= 0  # one bincount for every (group, status) count
    counts = np.bincount(gid[ok] * ns + status[ok], minlength=len(out) * ns).reshape(len(out), ns)
    for i, s in enumerate(STATUS_ORDER):
        out[f"n_{s}"] = counts[:, i].astype(np.int64)
    n = out["n_kpis"].to_numpy(dtype=float)
    for s in STATUS_ORDER:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"share_{s}"] = np.where(n > 0, out[f"n_{s}"].to_numpy(dtype=float) / n, np.nan)
    return out
