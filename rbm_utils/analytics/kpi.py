"""KPI progress: current value, achievement, expected progress, status, forecast, freshness.

Every figure follows the default rules of docs/rules.md ("KPI progress"). The functions take
a *state*: ``dict[str, DataFrame]`` keyed by sheet name, each frame with a leading
``unit_code`` then the schema columns (``schema.conform(name, df, with_unit=True)``); an
absent key is an empty sheet. The whole bureau is computed at once with group-wise
vectorised pandas/numpy code (no Python loop per KPI).

Example:
    >>> import pandas as pd
    >>> from rbm_utils import schema
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
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS

log = logging.getLogger(__name__)

#: Status codes, worst first. ``not_started`` comes last: it is no verdict at all.
STATUS_ORDER: tuple[str, ...] = ("off_track", "no_data", "at_risk", "on_track", "target_met", "not_started")

#: Plain words for each status, for legends and tables.
STATUS_LABELS: dict[str, str] = {
    "off_track": "Off track",
    "no_data": "No data",
    "at_risk": "At risk",
    "on_track": "On track",
    "target_met": "Target met",
    "not_started": "Not started",
}

#: RAG colours: red, grey, amber, green, dark green, light blue-grey.
STATUS_COLORS: dict[str, str] = {
    "off_track": "#c0392b",
    "no_data": "#9e9e9e",
    "at_risk": "#f0a30a",
    "on_track": "#2e9e4f",
    "target_met": "#1b5e20",
    "not_started": "#b8c7d9",
}

#: Columns of :func:`kpi_series`.
SERIES_COLUMNS: tuple[str, ...] = (
    "unit_code", "kpi_id", "period", "reported", "value", "current",
    "achievement", "expected", "performance", "status",
)

#: Columns of :func:`kpi_progress`.
PROGRESS_COLUMNS: tuple[str, ...] = (
    "unit_code", "kpi_id", "result_id", "level", "programme", "initiative", "theme", "name",
    "measure", "direction", "aggregation", "baseline_value", "baseline_period", "target_value",
    "target_period", "current_value", "achievement", "expected", "performance", "status",
    "last_period", "quarters_since_report", "n_reports", "evidence_share", "forecast_value",
    "forecast_achievement", "likely_to_meet",
)

#: Columns of :func:`kpi_progress_by_region`.
REGION_COLUMNS: tuple[str, ...] = (
    "unit_code", "kpi_id", "region", "name", "measure", "aggregation", "n_reports", "last_period",
    "current_value", "kpi_current_value", "region_contribution", "share_of_total",
    "achievement", "expected", "performance", "status",
)

#: Measures for which a regional status is computed (a rate: the same target applies).
REGION_STATUS_MEASURES: tuple[str, ...] = ("percent", "ratio")

#: At most this many latest reported quarters feed the forecast line.
FORECAST_MAX_POINTS = 8

#: Figures are compared with thresholds after rounding to this many decimals, so that
#: floating-point noise (0.7 computed as 0.69999999999) never changes a status.
_DECIMALS = 9

_REGION_RE = re.compile(r"^\s*region\s*=\s*([^;=]+?)\s*$")
_KEYS = ["unit_code", "kpi_id"]


# --------------------------------------------------------------------------------------
# small pure helpers
# --------------------------------------------------------------------------------------

def _thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_THRESHOLDS, **(dict(thresholds) if thresholds else {})}


def _frame(state: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """The sheet ``name`` of ``state`` conformed to the contract (empty if absent)."""
    df = state.get(name)
    if df is None:
        return schema.empty_frame(name, with_unit=True)
    return schema.conform(name, df, with_unit=True)


def _period_idx(values: pd.Series) -> np.ndarray:
    """Vectorised :func:`schema.period_index`: float array, NaN where not a period."""
    uniq = pd.unique(values.to_numpy(dtype=object))
    mapping: dict = {}
    for u in uniq:
        p = schema.parse_period(u) if isinstance(u, str) else None
        mapping[u] = float(p[0] * 4 + p[1] - 1) if p else np.nan
    return values.map(mapping).to_numpy(dtype=float)


def _period_text(idx: np.ndarray) -> np.ndarray:
    """Vectorised :func:`schema.period_from_index`: object array, None where NaN."""
    uniq = pd.unique(idx[np.isfinite(idx)])
    mapping = {u: schema.period_from_index(int(u)) for u in uniq}
    return pd.Series(idx, dtype=float).map(mapping).astype(object).where(np.isfinite(idx), None).to_numpy(dtype=object)


def _blank(values: pd.Series) -> np.ndarray:
    """True where a text cell is missing or only whitespace."""
    s = values.astype(object)
    return (s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)


def _achievement(current, baseline, target, direction) -> np.ndarray:
    """(current - baseline) / (target - baseline); where target == baseline: 1.0 if current
    is at or beyond the target in the KPI's direction, else 0.0 (NaN if current is NaN).

    >>> _achievement(np.array([70.0]), np.array([100.0]), np.array([50.0]), np.array(["decrease"])).tolist()
    [0.6]
    """
    current = np.asarray(current, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    target = np.asarray(target, dtype=float)
    direction = np.asarray(direction, dtype=object)
    span = target - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (current - baseline) / span
    beyond = np.where(direction == "decrease", current <= target, current >= target)
    flat = np.where(np.isnan(current) | np.isnan(target), np.nan, beyond.astype(float))
    return np.where(span == 0, flat, ratio)


#: Quarters between two expected reports, by KPI frequency (blank = quarterly).
REPORT_INTERVAL_QUARTERS: dict[str, int] = {"quarterly": 1, "semi-annual": 2, "annual": 4}


def status_codes(achievement, expected, performance, reported_recently,
                 thresholds: Mapping[str, float] | None = None) -> np.ndarray:
    """Vectorised status rule (docs/rules.md "Status"): arrays in, array of status codes out.

    In this order: ``target_met`` if achievement >= 1; ``no_data`` if nothing was reported
    recently while progress was expected (expected > 0); ``not_started`` if expected <= 0;
    ``no_data`` if performance cannot be computed (missing baseline, target or periods);
    ``on_track`` if performance >= on_track; ``at_risk`` if >= at_risk; else ``off_track``.

    >>> status_codes([0.45, 0.2], [0.5, 0.5], [0.9, 0.4], [True, True]).tolist()
    ['on_track', 'off_track']
    """
    t = _thresholds(thresholds)
    ach = np.round(np.asarray(achievement, dtype=float), _DECIMALS)
    exp = np.asarray(expected, dtype=float)
    perf = np.round(np.asarray(performance, dtype=float), _DECIMALS)
    recent = np.asarray(reported_recently, dtype=bool)
    conditions = [
        ach >= 1,
        ~recent & (exp > 0),
        exp <= 0,
        np.isnan(perf),
        perf >= float(t["on_track"]),
        perf >= float(t["at_risk"]),
    ]
    choices = ["target_met", "no_data", "not_started", "no_data", "on_track", "at_risk"]
    return np.select(conditions, choices, default="off_track").astype(object)


def status_from_performance(performance: float, *, achievement: float = float("nan"),
                            expected: float = 1.0, reported_recently: bool = True,
                            thresholds: Mapping[str, float] | None = None) -> str:
    """Status of one KPI from its performance and context (same rule as :func:`status_codes`).

    >>> status_from_performance(0.9)
    'on_track'
    >>> status_from_performance(0.69)
    'off_track'
    >>> status_from_performance(0.5, achievement=1.0)
    'target_met'
    >>> status_from_performance(float("nan"), expected=0.0)
    'not_started'
    """
    return str(status_codes([achievement], [expected], [performance], [reported_recently], thresholds)[0])


def _expected(pidx, bidx, tidx, milestone, baseline, target, direction) -> np.ndarray:
    """Expected share of the way from baseline to target at period index ``pidx``."""
    pidx = np.asarray(pidx, dtype=float)
    bidx = np.asarray(bidx, dtype=float)
    tidx = np.asarray(tidx, dtype=float)
    span = tidx - bidx
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.clip((pidx - bidx) / span, 0.0, 1.0)
    linear = np.where(span > 0, linear, np.where(pidx >= tidx, 1.0, 0.0))
    linear = np.where(np.isnan(span) | np.isnan(pidx), np.nan, linear)
    milestone = np.asarray(milestone, dtype=float)
    from_milestone = _achievement(milestone, baseline, target, direction)
    return np.where(np.isnan(milestone), linear, from_milestone)


# --------------------------------------------------------------------------------------
# the engine: one row per (entity, period); an entity is a KPI or a (KPI, region) pair
# --------------------------------------------------------------------------------------

def _kpi_table(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    k = _frame(state, "KPIs")
    dup = k.duplicated(_KEYS, keep="first")
    if dup.any():
        log.warning("%d duplicate KPI rows ignored (same unit_code and kpi_id)", int(dup.sum()))
        k = k.loc[~dup].reset_index(drop=True)
    k["bidx"] = _period_idx(k["baseline_period"])
    k["tidx"] = _period_idx(k["target_period"])
    return k


def _actual_rows(state: Mapping[str, pd.DataFrame], qidx: int) -> pd.DataFrame:
    """Actuals up to the quarter with their period index and a region (None for totals,
    NaN-free string for ``region=XXX`` rows; other breakdowns are dropped)."""
    a = _frame(state, "Actuals")
    a["pidx"] = _period_idx(a["period"])
    a = a.loc[a["pidx"] <= qidx]
    dis = a["disaggregation"].astype(object)
    total = _blank(dis)
    region = dis.map(lambda v: (m.group(1) if isinstance(v, str) and (m := _REGION_RE.match(v)) else None))
    out = a.assign(region=region.where(~total, "")).loc[total | region.notna().to_numpy()]
    out = out.assign(has_evidence=~_blank(out["evidence"]))
    return out.reset_index(drop=True)


def _grid(entities: pd.DataFrame, qidx: int, before_baseline: bool) -> pd.DataFrame:
    """One row per entity and period from its baseline period (or the quarter, if the
    baseline is later and ``before_baseline``) to the quarter. Sorted by entity, period."""
    b = entities["bidx"].to_numpy(dtype=float)
    start = np.where(np.isnan(b), qidx, np.minimum(b, qidx)) if before_baseline else b
    n = np.where(np.isnan(start), 0, qidx - start + 1)
    n = np.clip(n, 0, None).astype(np.int64)
    e = np.repeat(np.arange(len(entities)), n)
    first = np.repeat(np.cumsum(n) - n, n)
    pidx = np.repeat(np.nan_to_num(start), n) + (np.arange(n.sum()) - first)
    return pd.DataFrame({"e": e, "pidx": pidx.astype(float)})


def _accumulate(entities: pd.DataFrame, acts: pd.DataFrame, qidx: int, no_data_quarters: int,
                before_baseline: bool) -> pd.DataFrame:
    """Cumulative current value and reporting counts on the (entity, period) grid.

    ``entities`` carries e (0..n-1), bidx, start (value before any report), aggregation,
    measure. ``acts`` carries e, pidx, value, numerator, denominator, has_evidence.
    """
    g = _grid(entities, qidx, before_baseline)
    acts = acts.drop_duplicates(["e", "pidx"], keep="last")
    cols = ["e", "pidx", "value", "numerator", "denominator", "has_evidence"]
    g = g.merge(acts[cols].assign(_row=True), on=["e", "pidx"], how="left", sort=False)
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    bidx = ent["bidx"].to_numpy(dtype=float)[e]
    start = ent["start"].to_numpy(dtype=float)[e]
    agg = ent["aggregation"].to_numpy(dtype=object)[e]
    pct = (ent["measure"].to_numpy(dtype=object) == "percent")[e]

    row = g["_row"].eq(True).to_numpy()
    pidx = g["pidx"].to_numpy()
    reported = row & (pidx >= bidx)
    used = row & (pidx > bidx)
    value = np.where(used, g["value"].to_numpy(dtype=float), np.nan)
    num = g["numerator"].to_numpy(dtype=float)
    den = g["denominator"].to_numpy(dtype=float)
    nd_ok = used & ~np.isnan(num) & ~np.isnan(den) & (den > 0)

    key = pd.Series(e)
    cs = lambda arr: pd.Series(arr).groupby(key, sort=False).cumsum().to_numpy()  # noqa: E731
    ff = lambda arr: pd.Series(arr).groupby(key, sort=False).ffill().to_numpy()  # noqa: E731
    cmax = lambda arr: ff(pd.Series(arr).groupby(key, sort=False).cummax().to_numpy())  # noqa: E731

    cum_used = cs(used.astype(np.int64))
    cum_bad = cs((used & ~nd_ok).astype(np.int64))
    pooled = pct & (cum_used > 0) & (cum_bad == 0)
    cum_v = cs(np.nan_to_num(value))
    cnt_v = cs((~np.isnan(value)).astype(np.int64))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(nd_ok, 100.0 * num / den, np.nan)
        cum_num = cs(np.where(nd_ok, num, 0.0))
        cum_den = cs(np.where(nd_ok, den, 0.0))
        pooled_rate = 100.0 * cum_num / cum_den
        mean_v = np.where(cnt_v > 0, cum_v / np.maximum(cnt_v, 1), start)
    last_v = ff(value)
    max_v = cmax(value)
    current = np.select(
        [pooled & np.isin(agg, ["sum", "mean"]), pooled & (agg == "latest"), pooled & (agg == "max"),
         agg == "sum", agg == "latest", agg == "max", agg == "mean"],
        [pooled_rate, ff(rate), cmax(rate),
         start + cum_v, np.where(np.isnan(last_v), start, last_v),
         np.where(np.isnan(max_v), start, max_v), mean_v],
        default=np.nan,
    )
    cum_rep = cs(reported.astype(np.int64))
    # "no data" = two expected reports missed: the window is no_data_quarters reporting
    # intervals of the KPI's frequency (quarterly 1, semi-annual 2, annual 4 quarters).
    freq = ent["frequency"] if "frequency" in ent.columns else pd.Series([None] * len(ent))
    interval = freq.map(REPORT_INTERVAL_QUARTERS).fillna(1).to_numpy(dtype=float)[e]
    window = no_data_quarters * interval
    last_rep = ff(np.where(reported, pidx, np.nan))
    recent = ~np.isnan(last_rep) & ((pidx - last_rep) < window)
    g = g.assign(
        reported=reported,
        value=np.where(row, g["value"].to_numpy(dtype=float), np.nan),
        current=current,
        recent=recent,
        cum_reports=cum_rep,
        cum_evidence=cs((reported & g["has_evidence"].eq(True).to_numpy()).astype(np.int64)),
    )
    return g


def _assess(g: pd.DataFrame, entities: pd.DataFrame, milestones: pd.DataFrame,
            thresholds: dict[str, float]) -> pd.DataFrame:
    """Add achievement, expected, performance and status to an accumulated grid."""
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    base = ent["baseline_value"].to_numpy(dtype=float)[e]
    target = ent["target_value"].to_numpy(dtype=float)[e]
    direction = ent["direction"].to_numpy(dtype=object)[e]
    m = g[["e", "pidx"]].assign(k=ent["k"].to_numpy()[e]).merge(milestones, on=["k", "pidx"], how="left", sort=False)
    ach = _achievement(g["current"].to_numpy(dtype=float), base, target, direction)
    exp = _expected(g["pidx"], ent["bidx"].to_numpy(dtype=float)[e], ent["tidx"].to_numpy(dtype=float)[e],
                    m["milestone"].to_numpy(dtype=float), base, target, direction)
    with np.errstate(divide="ignore", invalid="ignore"):
        perf = np.where(exp > 0, ach / exp, np.nan)
    status = status_codes(ach, exp, perf, g["recent"].to_numpy(dtype=bool), thresholds)
    return g.assign(achievement=ach, expected=exp, performance=perf, status=status)


def _milestones(state: Mapping[str, pd.DataFrame], kpis: pd.DataFrame) -> pd.DataFrame:
    ms = _frame(state, "Milestones")
    ms["pidx"] = _period_idx(ms["period"])
    ms = ms.merge(kpis[_KEYS].assign(k=np.arange(len(kpis))), on=_KEYS, how="inner")
    ms = ms.loc[~np.isnan(ms["pidx"].to_numpy(dtype=float))].drop_duplicates(["k", "pidx"], keep="last")
    return ms[["k", "pidx"]].assign(milestone=ms["target_value"].to_numpy(dtype=float))


def _kpi_grid(state: Mapping[str, pd.DataFrame], quarter: str, thresholds: dict[str, float],
              before_baseline: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The assessed (KPI, period) grid for the whole state, and the KPI table."""
    qidx = schema.period_index(quarter)
    kpis = _kpi_table(state)
    ent = kpis.assign(e=np.arange(len(kpis)), k=np.arange(len(kpis)), start=kpis["baseline_value"])
    acts = _actual_rows(state, qidx)
    acts = acts.loc[acts["region"].eq("").to_numpy()]
    acts = acts.merge(ent[_KEYS + ["e"]], on=_KEYS, how="inner")
    g = _accumulate(ent, acts, qidx, int(thresholds["no_data_quarters"]), before_baseline)
    g = _assess(g, ent, _milestones(state, kpis), thresholds)
    return g, kpis


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------

def kpi_series(state: Mapping[str, pd.DataFrame], quarter: str,
               thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Quarter-by-quarter progress of every KPI, from its baseline period to ``quarter``.

    Columns (:data:`SERIES_COLUMNS`): unit_code, kpi_id, period, reported (a total row exists
    for the period), value (that row's value or NaN), current (current value as of the period),
    achievement, expected, performance, status. KPIs whose baseline period is after
    ``quarter`` (or not a period) have no row.

    >>> s = kpi_series({}, "2026-Q1")
    >>> list(s.columns)[:4]
    ['unit_code', 'kpi_id', 'period', 'reported']
    """
    t = _thresholds(thresholds)
    g, kpis = _kpi_grid(state, quarter, t, before_baseline=False)
    e = g["e"].to_numpy()
    out = pd.DataFrame({
        "unit_code": kpis["unit_code"].to_numpy(dtype=object)[e],
        "kpi_id": kpis["kpi_id"].to_numpy(dtype=object)[e],
        "period": _period_text(g["pidx"].to_numpy(dtype=float)),
        "reported": g["reported"].to_numpy(dtype=bool),
        "value": g["value"].to_numpy(dtype=float),
        "current": g["current"].to_numpy(dtype=float),
        "achievement": g["achievement"].to_numpy(dtype=float),
        "expected": g["expected"].to_numpy(dtype=float),
        "performance": g["performance"].to_numpy(dtype=float),
        "status": g["status"].to_numpy(dtype=object),
    }, columns=list(SERIES_COLUMNS))
    return out


def _forecast(g: pd.DataFrame, n_entities: int, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line (as numpy.polyfit degree 1) through the current values of the last
    reported quarters (at most :data:`FORECAST_MAX_POINTS`) of each entity.

    Returns (slope, intercept) per entity, NaN where fewer than ``min_points`` points.
    """
    pts = g.loc[g["reported"].to_numpy(dtype=bool) & np.isfinite(g["current"].to_numpy(dtype=float)),
                ["e", "pidx", "current"]]
    pts = pts.loc[pts.groupby("e", sort=False).cumcount(ascending=False) < FORECAST_MAX_POINTS]
    grp = pts.groupby("e", sort=False)
    n = grp["pidx"].transform("size").to_numpy()
    x = pts["pidx"].to_numpy(dtype=float) - grp["pidx"].transform("mean").to_numpy()
    y = pts["current"].to_numpy(dtype=float) - grp["current"].transform("mean").to_numpy()
    sums = pd.DataFrame({"e": pts["e"].to_numpy(), "sxy": x * y, "sxx": x * x, "n": n,
                         "mx": grp["pidx"].transform("mean").to_numpy(),
                         "my": grp["current"].transform("mean").to_numpy()})
    agg = sums.groupby("e", sort=False).agg(sxy=("sxy", "sum"), sxx=("sxx", "sum"), n=("n", "first"),
                                            mx=("mx", "first"), my=("my", "first"))
    slope = np.full(n_entities, np.nan)
    intercept = np.full(n_entities, np.nan)
    ok = (agg["n"] >= max(int(min_points), 2)) & (agg["sxx"] > 0)
    agg = agg.loc[ok]
    idx = agg.index.to_numpy(dtype=np.int64)
    slope[idx] = agg["sxy"].to_numpy() / agg["sxx"].to_numpy()
    intercept[idx] = agg["my"].to_numpy() - slope[idx] * agg["mx"].to_numpy()
    return slope, intercept


def kpi_progress(state: Mapping[str, pd.DataFrame], quarter: str,
                 thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per KPI as of ``quarter`` (columns :data:`PROGRESS_COLUMNS`).

    Besides the figures of :func:`kpi_series` at ``quarter``: the result's level, programme,
    initiative and theme; freshness (last_period, quarters_since_report, n_reports,
    evidence_share) and the forecast at the target period (forecast_value,
    forecast_achievement, likely_to_meet: nullable boolean, NA for "insufficient data").

    >>> kpi_progress({}, "2026-Q1").shape
    (0, 27)
    """
    t = _thresholds(thresholds)
    qidx = schema.period_index(quarter)
    g, kpis = _kpi_grid(state, quarter, t, before_baseline=True)
    nk = len(kpis)
    last = g.loc[g["pidx"].to_numpy() == qidx].set_index("e").reindex(np.arange(nk))
    rep = g.loc[g["reported"].to_numpy(dtype=bool)]
    last_pidx = rep.groupby("e", sort=False)["pidx"].max().reindex(np.arange(nk)).to_numpy(dtype=float)
    n_reports = last["cum_reports"].fillna(0).to_numpy(dtype=float).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        evidence_share = np.where(n_reports > 0, last["cum_evidence"].to_numpy(dtype=float) / n_reports, np.nan)

    slope, intercept = _forecast(g, nk, int(t["forecast_min_points"]))
    base = kpis["baseline_value"].to_numpy(dtype=float)
    target = kpis["target_value"].to_numpy(dtype=float)
    direction = kpis["direction"].to_numpy(dtype=object)
    forecast_value = slope * kpis["tidx"].to_numpy(dtype=float) + intercept
    forecast_ach = _achievement(forecast_value, base, target, direction)
    achievement = last["achievement"].to_numpy(dtype=float)
    likely = pd.array(np.round(forecast_ach, _DECIMALS) >= 1, dtype="boolean")
    likely[np.isnan(forecast_ach)] = pd.NA
    likely[np.round(achievement, _DECIMALS) >= 1] = True

    results = _frame(state, "Results").drop_duplicates(["unit_code", "result_id"], keep="first")
    res = kpis[["unit_code", "result_id"]].merge(
        results[["unit_code", "result_id", "level", "programme", "initiative", "theme"]],
        on=["unit_code", "result_id"], how="left", sort=False)

    out = pd.DataFrame({
        "unit_code": kpis["unit_code"], "kpi_id": kpis["kpi_id"], "result_id": kpis["result_id"],
        "level": res["level"].to_numpy(dtype=object), "programme": res["programme"].to_numpy(dtype=object),
        "initiative": res["initiative"].to_numpy(dtype=object), "theme": res["theme"].to_numpy(dtype=object),
        "name": kpis["name"], "measure": kpis["measure"], "direction": kpis["direction"],
        "aggregation": kpis["aggregation"], "baseline_value": base, "baseline_period": kpis["baseline_period"],
        "target_value": target, "target_period": kpis["target_period"],
        "current_value": last["current"].to_numpy(dtype=float),
        "achievement": achievement,
        "expected": last["expected"].to_numpy(dtype=float),
        "performance": last["performance"].to_numpy(dtype=float),
        "status": last["status"].to_numpy(dtype=object),
        "last_period": _period_text(last_pidx),
        "quarters_since_report": pd.array(np.where(np.isnan(last_pidx), np.nan, qidx - last_pidx), dtype="Float64").astype("Int64"),
        "n_reports": n_reports,
        "evidence_share": evidence_share,
        "forecast_value": forecast_value,
        "forecast_achievement": forecast_ach,
        "likely_to_meet": likely,
    }, columns=list(PROGRESS_COLUMNS))
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
    unknown = set(progress["status"].dropna()) - set(STATUS_ORDER)
    if unknown:
        log.warning("rollup: statuses %s are not in STATUS_ORDER; counted in n_kpis only", sorted(unknown))
    counts = pd.DataFrame({f"n_{s}": progress["status"].eq(s).astype(np.int64) for s in STATUS_ORDER},
                          index=progress.index)
    if keys:
        data = pd.concat([progress[keys], counts], axis=1)
        out = data.groupby(keys, dropna=False, sort=True).agg(
            n_kpis=(f"n_{STATUS_ORDER[0]}", "size"), **{c: (c, "sum") for c in counts.columns}).reset_index()
    else:
        out = pd.DataFrame({"n_kpis": [len(progress)], **{c: [int(counts[c].sum())] for c in counts.columns}})
    n = out["n_kpis"].to_numpy(dtype=float)
    for s in STATUS_ORDER:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"share_{s}"] = np.where(n > 0, out[f"n_{s}"].to_numpy(dtype=float) / n, np.nan)
    return out


def kpi_progress_by_region(state: Mapping[str, pd.DataFrame], quarter: str,
                           thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Progress per (KPI, region) from Actuals rows whose disaggregation is exactly
    ``region=XXX`` (columns :data:`REGION_COLUMNS`; rules in docs/rules.md).

    current_value applies the KPI's aggregation to the region's rows after the baseline
    period, with no regional baseline (NaN when the region reported nothing; for ``sum``
    KPIs the region's increments, also given as region_contribution). share_of_total:
    sum KPIs: region_contribution / the KPI's total increments; latest/max/mean KPIs of
    number or currency: current_value / the KPI's current value; NaN for percent and ratio.
    achievement/expected/performance/status only for percent and ratio KPIs (the KPI's
    baseline and target apply unchanged to a rate); NaN / None otherwise.

    >>> kpi_progress_by_region({}, "2026-Q1").shape
    (0, 16)
    """
    t = _thresholds(thresholds)
    qidx = schema.period_index(quarter)
    kpis = _kpi_table(state)
    kpis = kpis.assign(k=np.arange(len(kpis)))
    acts = _actual_rows(state, qidx)
    acts = acts.loc[acts["region"].ne("").to_numpy()].merge(kpis[_KEYS + ["k"]], on=_KEYS, how="inner")
    pairs = acts[["k", "region"]].drop_duplicates().sort_values(["k", "region"], kind="stable")
    ent = kpis.iloc[pairs["k"].to_numpy()].reset_index(drop=True).assign(
        k=pairs["k"].to_numpy(), region=pairs["region"].to_numpy(dtype=object))
    ent["e"] = np.arange(len(ent))
    ent["start"] = np.where(ent["aggregation"].eq("sum").to_numpy(), 0.0, np.nan)
    acts = acts.merge(ent[["k", "region", "e"]], on=["k", "region"], how="inner")
    g = _accumulate(ent, acts, qidx, int(t["no_data_quarters"]), before_baseline=True)
    g = _assess(g, ent, _milestones(state, kpis), t)
    last = g.loc[g["pidx"].to_numpy() == qidx].set_index("e").reindex(np.arange(len(ent)))
    rep = g.loc[g["reported"].to_numpy(dtype=bool)]
    last_pidx = rep.groupby("e", sort=False)["pidx"].max().reindex(np.arange(len(ent))).to_numpy(dtype=float)

    total = kpi_progress(state, quarter, t)
    tot_current = total["current_value"].to_numpy(dtype=float)[ent["k"].to_numpy()] if len(ent) else np.array([])
    tot_base = total["baseline_value"].to_numpy(dtype=float)[ent["k"].to_numpy()] if len(ent) else np.array([])
    current = last["current"].to_numpy(dtype=float)
    is_sum = ent["aggregation"].eq("sum").to_numpy()
    measure = ent["measure"].to_numpy(dtype=object)
    rate = np.isin(measure, REGION_STATUS_MEASURES)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_sum = np.where((tot_current - tot_base) != 0, current / (tot_current - tot_base), np.nan)
        share_level = np.where(tot_current != 0, current / tot_current, np.nan)
    share = np.where(rate, np.nan, np.where(is_sum, share_sum, share_level))
    status = last["status"].to_numpy(dtype=object).copy()
    status[~rate] = None
    out = pd.DataFrame({
        "unit_code": ent["unit_code"], "kpi_id": ent["kpi_id"], "region": ent["region"],
        "name": ent["name"], "measure": ent["measure"], "aggregation": ent["aggregation"],
        "n_reports": last["cum_reports"].fillna(0).to_numpy(dtype=float).astype(np.int64),
        "last_period": _period_text(last_pidx),
        "current_value": current,
        "kpi_current_value": tot_current,
        "region_contribution": np.where(is_sum, current, np.nan),
        "share_of_total": share,
        "achievement": np.where(rate, last["achievement"].to_numpy(dtype=float), np.nan),
        "expected": np.where(rate, last["expected"].to_numpy(dtype=float), np.nan),
        "performance": np.where(rate, last["performance"].to_numpy(dtype=float), np.nan),
        "status": status,
    }, columns=list(REGION_COLUMNS))
    return out.reset_index(drop=True)


def activities_by_region(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Number of activities per unit, region and status (tidy: unit_code, region, status,
    n_activities). Activities with no region are counted under region ``"unspecified"``.

    >>> from rbm_utils import schema
    >>> acts = schema.conform("Activities", pd.DataFrame({"unit_code": ["CYB", "CYB"],
    ...     "activity_id": ["A1", "A2"], "region": ["AFR", "AFR"], "status": ["ongoing", "ongoing"]}), with_unit=True)
    >>> activities_by_region({"Activities": acts}).values.tolist()
    [['CYB', 'AFR', 'ongoing', 2]]
    """
    a = _frame(state, "Activities")
    region = a["region"].astype(object).where(~_blank(a["region"]), "unspecified")
    status = a["status"].astype(object).where(~_blank(a["status"]), "unspecified")
    data = pd.DataFrame({"unit_code": a["unit_code"].astype(object), "region": region, "status": status})
    out = data.groupby(["unit_code", "region", "status"], dropna=False, sort=True).size()
    return out.rename("n_activities").reset_index().astype({"n_activities": np.int64})
