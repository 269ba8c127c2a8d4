"""An independent oracle for the sample's self-check: the default rules of docs/rules.md written
a second time, plainly, one KPI at a time, without the analytics modules.

It lives in the tests on purpose: the package holds one copy of each rule (rbm_utils.analytics);
this copy only checks that the real analytics and the sample agree. It covers the default rules
the sample aims at: KPI status (:func:`kpi_status`), assumption verdicts
(:func:`assumption_check`) and spending against budget (:func:`budget_check`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import blank_mask, is_missing

#: A total row of a KPI: (quarter index, value, numerator, denominator).
Row = tuple[int, float, float | None, float | None]


def _index(quarter: QuarterLike) -> int:
    return Quarter.parse(quarter).index


def _achievement(current: float, baseline: float, target: float, direction: str) -> float:
    span = target - baseline
    if span == 0:
        beyond = current <= target if direction == "decrease" else current >= target
        return 1.0 if beyond else 0.0
    return (current - baseline) / span


def assess_one(
    kpi: Mapping[str, Any],
    rows: Sequence[Row],
    milestones: Mapping[int, float],
    qidx: int,
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """Status of one KPI at quarter index ``qidx`` from its total rows."""
    b, t = float(kpi["baseline_value"]), float(kpi["target_value"])
    bidx, tidx = _index(kpi["baseline_period"]), _index(kpi["target_period"])
    rows = sorted((r for r in rows if r[0] <= qidx), key=lambda r: r[0])
    reported = [r for r in rows if r[0] >= bidx]
    used = [r for r in rows if r[0] > bidx]
    agg = kpi["aggregation"]
    pooled = (
        kpi["measure"] == "percent" and used and all(r[2] is not None and r[3] is not None and r[3] > 0 for r in used)
    )
    if not used:
        current = b
    elif pooled and agg == "latest":
        current = 100.0 * used[-1][2] / used[-1][3]
    elif pooled and agg in ("sum", "mean"):
        current = 100.0 * sum(r[2] for r in used) / sum(r[3] for r in used)
    elif pooled and agg == "max":
        current = max(100.0 * r[2] / r[3] for r in used)
    elif agg == "sum":
        current = b + sum(r[1] for r in used)
    elif agg == "latest":
        current = used[-1][1]
    elif agg == "max":
        current = max(r[1] for r in used)
    else:
        current = sum(r[1] for r in used) / len(used)
    ach = _achievement(current, b, t, kpi["direction"])
    if qidx in milestones:
        expected = _achievement(milestones[qidx], b, t, kpi["direction"])
    elif tidx > bidx:
        expected = min(max((qidx - bidx) / (tidx - bidx), 0.0), 1.0)
    else:
        expected = 1.0 if qidx >= tidx else 0.0
    perf = ach / expected if expected > 0 else float("nan")
    interval = {"semi-annual": 2, "annual": 4}.get(kpi.get("frequency") or "quarterly", 1)
    window = int(thresholds["no_data_quarters"]) * interval
    recent = any(qidx - window < r[0] <= qidx for r in reported)
    a, p = round(ach, 9), round(perf, 9)
    if a >= 1:
        status = "target_met"
    elif not recent and expected > 0:
        status = "no_data"
    elif expected <= 0:
        status = "not_started"
    elif math.isnan(p):
        status = "no_data"
    elif p >= thresholds["on_track"]:
        status = "on_track"
    elif p >= thresholds["at_risk"]:
        status = "at_risk"
    else:
        status = "off_track"
    last = str(Quarter.from_index(reported[-1][0])) if reported else None
    return {
        "current": current,
        "achievement": ach,
        "expected": expected,
        "performance": perf,
        "status": status,
        "last_period": last,
    }


def _num(v: Any) -> float | None:
    return None if is_missing(v) else float(v)


def _total_rows(actuals: pd.DataFrame) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in actuals.loc[blank_mask(actuals["disaggregation"])].itertuples(index=False):
        out.setdefault(r.kpi_id, []).append((_index(r.period), float(r.value), _num(r.numerator), _num(r.denominator)))
    return out


def _milestone_map(milestones: pd.DataFrame) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in milestones.itertuples(index=False):
        out.setdefault(r.kpi_id, {})[_index(r.period)] = float(r.target_value)
    return out


def kpi_status(
    frames: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Status of every KPI at ``quarter`` by the default rules.

    Current value by aggregation (sum: baseline + increments after the baseline period;
    latest: last value; percent rows with numerator/denominator pooled), achievement,
    expected (milestone of the quarter, else linear), performance = achievement / expected,
    status: target_met, no_data (nothing in the last 2 reporting intervals), not_started,
    on_track (>= 0.9), at_risk (>= 0.7), off_track. Only total rows (blank disaggregation) count.
    """
    t = {**DEFAULT_THRESHOLDS, **(dict(thresholds) if thresholds else {})}
    qidx = _index(quarter)
    rows = _total_rows(frames["Actuals"])
    ms = _milestone_map(frames.get("Milestones", schema.empty_frame("Milestones")))
    out = []
    for k in frames["KPIs"].to_dict("records"):
        res = assess_one(k, rows.get(k["kpi_id"], []), ms.get(k["kpi_id"], {}), qidx, t)
        out.append({"kpi_id": k["kpi_id"], "result_id": k["result_id"], **res})
    return pd.DataFrame(
        out,
        columns=["kpi_id", "result_id", "current", "achievement", "expected", "performance", "status", "last_period"],
    )


def assumption_check(frames: Mapping[str, pd.DataFrame], quarter: QuarterLike, margin: float = 0.10) -> pd.DataFrame:
    """Verdict of every assumption at ``quarter``.

    min_ratio: current(kpi) / current(reference) >= threshold; min_value: current >= threshold;
    min_achievement: achievement >= threshold (below: broken; less than ``margin`` above:
    weakening; else holds); non_decreasing: the value reported at the quarter against the
    previous report, a move against the KPI's direction by more than ``margin`` x previous is
    broken, a smaller one weakening, none holds; manual: the officer's verdict; no data
    (no report at the quarter for non_decreasing): untested.
    """
    qidx = _index(quarter)
    st = kpi_status(frames, quarter).set_index("kpi_id")
    rows = _total_rows(frames["Actuals"])
    kpis_dir = dict(zip(frames["KPIs"]["kpi_id"], frames["KPIs"]["direction"]))
    out = []
    for a in frames["Assumptions"].to_dict("records"):
        test, thr = a["test"], _num(a.get("threshold"))
        value: float | None = None
        verdict = "untested"
        if test == "manual":
            verdict = a.get("verdict") or "untested"
        elif test == "non_decreasing":
            reps = sorted((r for r in rows.get(a["kpi_id"], []) if r[0] <= qidx), key=lambda r: r[0])
            if len(reps) >= 2 and reps[-1][0] == qidx:
                prev, cur = reps[-2][1], reps[-1][1]
                value = cur - prev
                sign = -1.0 if kpis_dir.get(a["kpi_id"]) == "decrease" else 1.0
                against = -sign * value  # movement against the KPI's direction
                verdict = "broken" if against > margin * abs(prev) else "weakening" if against > 0 else "holds"
        elif a["kpi_id"] in st.index and st.loc[a["kpi_id"], "last_period"] is not None and thr is not None:
            s = st.loc[a["kpi_id"]]
            if test == "min_value":
                value = float(s["current"])
            elif test == "min_achievement":
                value = float(s["achievement"])
            elif test == "min_ratio" and a.get("reference_kpi_id") in st.index:
                ref = float(st.loc[a["reference_kpi_id"], "current"])
                value = float(s["current"]) / ref if ref else None
            if value is not None:
                verdict = "broken" if value < thr else "weakening" if value < thr * (1 + margin) else "holds"
        out.append(
            {
                "assumption_id": a["assumption_id"],
                "test": test,
                "kpi_id": a.get("kpi_id"),
                "value": value,
                "threshold": thr,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(out, columns=["assumption_id", "test", "kpi_id", "value", "threshold", "verdict"])


def budget_check(frames: Mapping[str, pd.DataFrame], quarter: QuarterLike, gap: float = 0.15) -> pd.DataFrame:
    """Spending against the budget elapsed by ``quarter``, per output.

    Budget to date = full budgets of past years + the current year's budget x quarters
    elapsed / 4. ``ratio`` = spent / budget to date; ``flag`` under (< 1 - gap), over
    (> 1 + gap) or on_plan.
    """
    q = Quarter.parse(quarter)
    b = frames["Budget"]
    year = b["year"].astype(float)
    share = np.where(year < q.year, 1.0, np.where(year == q.year, q.q / 4, 0.0))
    budget = (b["amount"].astype(float) * share).groupby(b["result_id"]).sum()
    e = frames["Expenditure"]
    e = e.loc[[Quarter.parse(p) <= q for p in e["period"]]]
    spent = e["amount"].astype(float).groupby(e["result_id"]).sum()
    out = pd.DataFrame({"budget_to_date": budget, "spent": spent.reindex(budget.index).fillna(0.0)})
    out["ratio"] = out["spent"] / out["budget_to_date"]
    out["flag"] = np.where(out["ratio"] < 1 - gap, "under", np.where(out["ratio"] > 1 + gap, "over", "on_plan"))
    return out.rename_axis("result_id").reset_index()
