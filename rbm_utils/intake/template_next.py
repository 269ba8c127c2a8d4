"""The next quarter's rows of a pre-filled template: what the officer has to fill in, ready.

``rbm template UNIT --from-store --quarter Q`` starts from the unit's stored state and adds,
for the reporting quarter ``Q``:

- **Actuals**: one row per KPI due in ``Q`` by its ``frequency`` (quarterly or blank: every
  quarter; semi-annual: Q2 and Q4; annual: Q4), with ``kpi_id`` and ``period`` filled and the
  ``value`` empty. A KPI reported with breakdowns in its latest quarter gets one row per breakdown.
- **Expenditure**: one row per budget line (``result_id``, ``funding_source``, ``region``) of the
  quarter's year (or the latest budget year), with ``period`` filled and the ``amount`` empty.

Rows the state already holds for ``Q`` are kept as they are and never added twice.
:func:`risks_to_review` lists the risks whose review is due by the quarter's end.

Example:
    >>> kpis = pd.DataFrame({"kpi_id": ["K1", "K2", "K3"], "frequency": ["quarterly", "annual", None]})
    >>> out = next_quarter_frames({"KPIs": kpis}, "2026-Q3")
    >>> out["Actuals"][["kpi_id", "period"]].values.tolist()
    [['K1', '2026-Q3'], ['K3', '2026-Q3']]
    >>> bool(out["Actuals"]["value"].isna().all())
    True
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter, QuarterLike

__all__ = ["DUE_IN", "due_kpis", "next_quarter_frames", "risks_to_review"]

#: Quarter numbers in which a KPI of each frequency is due (blank frequency: quarterly); the same
#: rule as ``analytics.data_health.DUE_IN`` (a test keeps them equal: intake may not import analytics).
DUE_IN: dict[str, tuple[int, ...]] = {"quarterly": (1, 2, 3, 4), "semi-annual": (2, 4), "annual": (4,)}


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _order(period: str) -> int:
    q = Quarter.parse_or_none(period)
    return q.index if q is not None else -1


def due_kpis(kpis: pd.DataFrame | None, quarter: QuarterLike) -> list[str]:
    """The ``kpi_id`` of every KPI due in ``quarter`` by its frequency, in the sheet's order.

    >>> due_kpis(pd.DataFrame({"kpi_id": ["A", "B"], "frequency": ["semi-annual", "annual"]}), "2026-Q2")
    ['A']
    """
    if kpis is None or kpis.empty:
        return []
    q = Quarter.parse(quarter).q
    freq = _text(kpis["frequency"]) if "frequency" in kpis.columns else pd.Series("", index=kpis.index)
    due = freq.map(lambda f: q in DUE_IN.get(f or "quarterly", DUE_IN["quarterly"]))
    return [str(k) for k in kpis.loc[due, "kpi_id"]]


def _actuals_rows(state: Mapping[str, pd.DataFrame], quarter: str) -> pd.DataFrame:
    acts = state.get("Actuals")
    acts = schema.empty_frame("Actuals") if acts is None else schema.conform("Actuals", acts)
    have = set(zip(_text(acts["kpi_id"]), _text(acts["period"]), _text(acts["disaggregation"])))
    rows = []
    for kpi in due_kpis(state.get("KPIs"), quarter):
        mine = acts[_text(acts["kpi_id"]) == kpi]
        breakdowns = [""]
        if not mine.empty:
            periods = _text(mine["period"])
            latest = max(periods, key=_order)
            breakdowns = sorted(set(_text(mine.loc[periods == latest, "disaggregation"]))) or [""]
        rows += [
            {"kpi_id": kpi, "period": quarter, "disaggregation": d or None}
            for d in breakdowns
            if (kpi, quarter, d) not in have
        ]
    return pd.DataFrame(rows, columns=["kpi_id", "period", "disaggregation"])


def _expenditure_rows(state: Mapping[str, pd.DataFrame], quarter: Quarter) -> pd.DataFrame:
    budget = state.get("Budget")
    cols = ["result_id", "period", "funding_source", "region"]
    if budget is None or budget.empty:
        return pd.DataFrame(columns=cols)
    budget = schema.conform("Budget", budget)
    years = pd.to_numeric(budget["year"], errors="coerce")
    year = quarter.year if (years == quarter.year).any() else years.max()
    lines = budget.loc[years == year, ["result_id", "funding_source", "region"]]
    spent = state.get("Expenditure")
    spent = schema.empty_frame("Expenditure") if spent is None else schema.conform("Expenditure", spent)
    have = set(
        zip(_text(spent["result_id"]), _text(spent["period"]), _text(spent["funding_source"]), _text(spent["region"]))
    )
    rows, seen = [], set()
    for r, f, g in zip(_text(lines["result_id"]), _text(lines["funding_source"]), _text(lines["region"])):
        key = (r, str(quarter), f, g)
        if key in have or key in seen:
            continue
        seen.add(key)
        rows.append({"result_id": r, "period": str(quarter), "funding_source": f, "region": g or None})
    return pd.DataFrame(rows, columns=cols)


def next_quarter_frames(state: Mapping[str, pd.DataFrame] | None, quarter: QuarterLike) -> dict[str, pd.DataFrame]:
    """``state``'s Actuals and Expenditure with the rows ``quarter`` needs added at the end (values
    empty), conformed to the contract; the other sheets as they are. Never mutates ``state``."""
    q = Quarter.parse(quarter)
    state = dict(state or {})
    out = {k: v for k, v in state.items() if k != "Unit"}
    for name, new in (("Actuals", _actuals_rows(state, str(q))), ("Expenditure", _expenditure_rows(state, q))):
        old = state.get(name)
        old = schema.empty_frame(name) if old is None else schema.conform(name, old)
        if not new.empty:
            old = pd.concat([old, schema.conform(name, new)], ignore_index=True) if not old.empty else new
        out[name] = schema.conform(name, old)
    return out


def risks_to_review(risks: pd.DataFrame | None, quarter: QuarterLike) -> list[str]:
    """The risks still open or monitored whose review date is empty or falls by ``quarter``'s end,
    as ``"R1 (review due 2026-09-30)"``.

    >>> r = pd.DataFrame({"risk_id": ["R1", "R2", "R3"], "status": ["open", "closed", "monitoring"],
    ...                   "review_on": ["2026-08-01", "2026-08-01", "2027-06-30"]})
    >>> risks_to_review(r, "2026-Q3")
    ['R1 (review due 2026-08-01)']
    """
    if risks is None or risks.empty:
        return []
    end = Quarter.parse(quarter).end
    out = []
    for rid, status, on in zip(risks["risk_id"], _text(risks["status"]), risks["review_on"]):
        if status == "closed":
            continue
        day = pd.to_datetime(on, errors="coerce")
        if pd.isna(day):
            out.append(f"{rid} (no review date)")
        elif day.date() <= end:
            out.append(f"{rid} (review due {day.date().isoformat()})")
    return out
