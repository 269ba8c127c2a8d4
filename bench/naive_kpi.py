"""The naive baseline for the analytics benchmark: one Python pass per KPI.

What a notebook author would write without vectorising: group the actuals by KPI once,
then for each KPI walk its rows in period order, keep the running current value, assess
the quarter under review, fit the forecast line with ``numpy.polyfit``, and count statuses
for the roll-ups with a ``Counter``. Same default rules as :mod:`rbm_utils.analytics.kpi` (totals
only, quarterly frequency, milestones, pooled percent); the benchmark checks that both
agree on the synthetic bureau before it compares their times.

Example:
    >>> from bench.synthetic import synthetic_state
    >>> out, roll = naive_progress(synthetic_state(1, 2, 4), "2026-Q3")
    >>> len(out), sum(roll["bureau"].values())
    (2, 2)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.core.config import DEFAULT_THRESHOLDS
from rbm_utils.core.quarters import Quarter

FORECAST_MAX_POINTS = 8


def _achievement(current: float, baseline: float, target: float, direction: str) -> float:
    span = target - baseline
    if span == 0:
        return float(current <= target if direction == "decrease" else current >= target)
    return (current - baseline) / span


def _status(ach: float, exp: float, perf: float, recent: bool, t: Mapping[str, float]) -> str:
    a, p = round(ach, 9), round(perf, 9)
    if a >= 1:
        return "target_met"
    if not recent and exp > 0:
        return "no_data"
    if exp <= 0:
        return "not_started"
    if math.isnan(p):
        return "no_data"
    if p >= t["on_track"]:
        return "on_track"
    if p >= t["at_risk"]:
        return "at_risk"
    return "off_track"


def _one_kpi(k: Mapping, rows: pd.DataFrame, milestone: float | None, qidx: int, t: Mapping[str, float]) -> dict:
    """Progress of one KPI from its own rows (a small DataFrame), the slow obvious way."""
    b, tv = float(k["baseline_value"]), float(k["target_value"])
    bidx, tidx = Quarter.parse(k["baseline_period"]).index, Quarter.parse(k["target_period"]).index
    rows = rows.assign(pidx=[Quarter.parse(p).index for p in rows["period"]]).sort_values("pidx")
    rows = rows[rows["pidx"] <= qidx]
    agg, pct = k["aggregation"], k["measure"] == "percent"
    used_v: list[float] = []
    used_num: list[float] = []
    used_den: list[float] = []
    all_ok = True
    points: list[tuple[int, float]] = []
    current, last_rep, n_rep = b, None, 0
    for r in rows.itertuples(index=False):
        if r.pidx < bidx:
            continue
        n_rep += 1
        last_rep = r.pidx
        if r.pidx > bidx:
            used_v.append(float(r.value))
            ok = not (pd.isna(r.numerator) or pd.isna(r.denominator)) and r.denominator > 0
            all_ok = all_ok and ok
            used_num.append(float(r.numerator) if ok else 0.0)
            used_den.append(float(r.denominator) if ok else 0.0)
        if pct and used_v and all_ok:
            rates = [100.0 * n / d for n, d in zip(used_num, used_den)]
            current = {"latest": rates[-1], "max": max(rates)}.get(agg, 100.0 * sum(used_num) / sum(used_den))
        elif not used_v:
            current = b
        elif agg == "sum":
            current = b + sum(used_v)
        elif agg == "latest":
            current = used_v[-1]
        elif agg == "max":
            current = max(used_v)
        else:
            current = sum(used_v) / len(used_v)
        points.append((r.pidx, current))
    ach = _achievement(current, b, tv, k["direction"])
    if milestone is not None:
        exp = _achievement(milestone, b, tv, k["direction"])
    elif tidx > bidx:
        exp = min(max((qidx - bidx) / (tidx - bidx), 0.0), 1.0)
    else:
        exp = 1.0 if qidx >= tidx else 0.0
    perf = ach / exp if exp > 0 else float("nan")
    recent = last_rep is not None and qidx - last_rep < t["no_data_quarters"]
    status = _status(ach, exp, perf, recent, t)
    pts = points[-FORECAST_MAX_POINTS:]
    forecast = float("nan")
    if len(pts) >= max(int(t["forecast_min_points"]), 2) and len({p for p, _ in pts}) > 1:
        slope, intercept = np.polyfit([p for p, _ in pts], [c for _, c in pts], 1)
        forecast = slope * tidx + intercept
    f_ach = _achievement(forecast, b, tv, k["direction"]) if not math.isnan(forecast) else float("nan")
    likely = True if round(ach, 9) >= 1 else (None if math.isnan(f_ach) else round(f_ach, 9) >= 1)
    return {
        "unit_code": k["unit_code"],
        "kpi_id": k["kpi_id"],
        "current_value": current,
        "achievement": ach,
        "expected": exp,
        "performance": perf,
        "status": status,
        "n_reports": n_rep,
        "forecast_value": forecast,
        "likely_to_meet": likely,
    }


def naive_progress(
    state: Mapping[str, pd.DataFrame],
    quarter: str,
    thresholds: Mapping[str, float] | None = None,
    kpi_limit: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Counter]]:
    """Progress of every KPI (or the first ``kpi_limit``) and status counts by unit, level
    and bureau, one KPI at a time. Returns (progress frame, {"unit": ..., "level": ..., "bureau": ...})."""
    t = {**DEFAULT_THRESHOLDS, **(dict(thresholds) if thresholds else {})}
    qidx = Quarter.parse(quarter).index
    acts = state["Actuals"]
    acts = acts[acts["disaggregation"].fillna("").astype(str).str.strip() == ""]
    groups = dict(tuple(acts.groupby(["unit_code", "kpi_id"], sort=False)))
    ms = {
        (r.unit_code, r.kpi_id): float(r.target_value)
        for r in state["Milestones"].itertuples(index=False)
        if r.period == quarter
    }
    levels = {(r.unit_code, r.result_id): r.level for r in state["Results"].itertuples(index=False)}
    empty = acts.iloc[:0]
    out, by_unit, by_level, bureau = [], Counter(), Counter(), Counter()
    kpis = state["KPIs"].to_dict("records")
    for k in kpis[:kpi_limit] if kpi_limit is not None else kpis:
        key = (k["unit_code"], k["kpi_id"])
        rec = _one_kpi(k, groups.get(key, empty), ms.get(key), qidx, t)
        out.append(rec)
        by_unit[(k["unit_code"], rec["status"])] += 1
        by_level[(k["unit_code"], levels.get((k["unit_code"], k["result_id"])), rec["status"])] += 1
        bureau[rec["status"]] += 1
    return pd.DataFrame(out), {"unit": by_unit, "level": by_level, "bureau": bureau}
