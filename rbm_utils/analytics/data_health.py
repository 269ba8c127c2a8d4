"""Data health per unit and quarter: what was expected against what arrived (docs/rules.md).

Expected in quarter ``q`` of a unit:

- **KPIs due** by their ``frequency``: quarterly (or blank) every quarter, semi-annual in Q2
  and Q4, annual in Q4; only KPIs whose ``baseline_period`` is before ``q``. A KPI counts as
  reported when it has a total value (blank ``disaggregation``) for ``q``.
- **Expenditure** for every output the unit budgeted in ``q``'s year (a Budget line with an
  amount above 0): reported when the output has an Expenditure row for ``q``.
- **Risk reviews** due by ``review_on``: a risk not closed whose ``review_on`` (as the previous
  quarter's register had it, and as the register has it now) is on or before ``q``'s last day,
  or is blank. It is done when the risk is now closed or its ``review_on`` now lies after the
  quarter (reviewed and rescheduled).

Arrived: ``submitted_at`` is when the unit's FIRST workbook for ``q`` came in, the
``first_received_at`` of the state's ``Unit`` frame (the store and the frozen snapshot carry it;
a re-submission to correct a workbook does not make it late). ``on_time``: that day (UTC) is on
or before the deadline, ``report_due_days`` after ``q``'s last day (calendar settings); False
when the unit has no workbook for ``q`` at all; unknown (``<NA>``) when the Unit frame carries
no time.
``evidence_share`` is the share of the quarter's total actuals with evidence; ``outliers``
counts the quarter's total actuals whose modified z-score against the KPI's own series
exceeds ``outlier_z`` (with at least ``outlier_min_points`` values): the rule intake warns by.

``score`` (0-100) is the weighted mean of the rates in :data:`WEIGHTS`; a part with nothing
expected (or unknown, like on_time without a time) is left out and the other weights rescaled.

Example:
    >>> state = {"KPIs": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "frequency": ["quarterly"],
    ...                                "baseline_period": ["2025-Q1"]}),
    ...          "Actuals": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "period": ["2026-Q3"],
    ...                                   "value": [4.0], "disaggregation": [None], "evidence": [None]}),
    ...          "Unit": pd.DataFrame({"unit_code": ["AFR"], "quarter": ["2026-Q3"]})}
    >>> row = data_health(state, "2026-Q3").iloc[0]
    >>> int(row["kpis_due"]), int(row["kpis_reported"]), float(row["score"]), row["missing"]
    (1, 1, 81.8, 'no evidence: K1')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd

from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import is_missing
from rbm_utils.intake.history import modified_z

State = Mapping[str, pd.DataFrame]

COLUMNS: list[str] = [
    "unit_code",
    "quarter",
    "kpis_due",
    "kpis_reported",
    "expenditure_expected",
    "expenditure_reported",
    "risk_reviews_due",
    "risk_reviews_done",
    "submitted_at",
    "on_time",
    "evidence_share",
    "outliers",
    "score",
    "missing",
]

#: Weight of each rate in the score (sum 100): KPIs reported, expenditure reported, risk
#: reviews done, evidence share, on time, and the share of reported values that are not outliers.
WEIGHTS: dict[str, float] = {
    "kpis": 35.0,
    "expenditure": 20.0,
    "risk_reviews": 15.0,
    "evidence": 10.0,
    "on_time": 10.0,
    "no_outliers": 10.0,
}

#: Quarter numbers in which a KPI of each frequency is due (blank frequency: quarterly).
DUE_IN: dict[str, tuple[int, ...]] = {"quarterly": (1, 2, 3, 4), "semi-annual": (2, 4), "annual": (4,)}


#: Columns read from each frame of the state (absent frames or columns read as empty).
NEEDS: dict[str, list[str]] = {
    "Unit": ["unit_code", "quarter"],
    "KPIs": ["unit_code", "kpi_id", "frequency", "baseline_period"],
    "Actuals": ["unit_code", "kpi_id", "period", "value", "disaggregation", "evidence"],
    "Budget": ["unit_code", "result_id", "year", "amount"],
    "Expenditure": ["unit_code", "result_id", "period"],
    "Risks": ["unit_code", "risk_id", "status", "review_on"],
}


def _frame(state: State, name: str) -> pd.DataFrame:
    df = state.get(name)
    if df is None:
        return pd.DataFrame(columns=NEEDS[name])
    absent = [c for c in NEEDS[name] if c not in df.columns]
    return df.assign(**dict.fromkeys(absent)) if absent else df


def _text(value: object) -> str:
    return "" if is_missing(value) else str(value).strip()


def deadline(quarter: QuarterLike, report_due_days: int) -> dt.date:
    """The last day a quarter's workbook is on time.

    >>> deadline("2026-Q3", 20)
    datetime.date(2026, 10, 20)
    """
    return Quarter.parse(quarter).end + dt.timedelta(days=report_due_days)


def score(rates: Mapping[str, float | None]) -> float:
    """0-100: the :data:`WEIGHTS`-weighted mean of the known rates (None: left out); 100 if none.

    >>> score({"kpis": 0.5, "expenditure": 1.0, "on_time": None})
    68.2
    """
    known = {k: float(v) for k, v in rates.items() if v is not None}
    total = sum(WEIGHTS[k] for k in known)
    if total == 0:
        return 100.0
    return round(100.0 * sum(WEIGHTS[k] * v for k, v in known.items()) / total, 1)


def _rate(done: int, due: int) -> float | None:
    return done / due if due else None


def kpis_due(kpis: pd.DataFrame, quarter: QuarterLike) -> list[str]:
    """kpi_ids of ``kpis`` due in ``quarter`` by their frequency (blank: quarterly), baseline before it.

    >>> k = pd.DataFrame({"kpi_id": ["A", "B", "C"], "frequency": ["annual", "semi-annual", None],
    ...                   "baseline_period": ["2025-Q1", "2025-Q1", "2026-Q3"]})
    >>> kpis_due(k, "2026-Q2"), kpis_due(k, "2026-Q4")
    (['B'], ['A', 'B', 'C'])
    """
    q = Quarter.parse(quarter)
    out = []
    for r in kpis.to_dict("records"):
        freq = _text(r.get("frequency")) or "quarterly"
        base = Quarter.parse_or_none(_text(r.get("baseline_period")))
        if q.q in DUE_IN.get(freq, DUE_IN["quarterly"]) and (base is None or base < q):
            out.append(str(r["kpi_id"]))
    return out


def _totals(actuals: pd.DataFrame) -> pd.DataFrame:
    """Total rows (blank disaggregation) with a value."""
    if actuals.empty:
        return actuals
    blank = actuals["disaggregation"].map(lambda v: _text(v) == "") if "disaggregation" in actuals else True
    return actuals[blank & actuals["value"].notna()]


def outlier_kpis(totals: pd.DataFrame, quarter: QuarterLike, z_max: float, min_points: int) -> list[str]:
    """kpi_ids whose total value for ``quarter`` is an outlier of the KPI's series up to it.

    >>> t = pd.DataFrame({"kpi_id": ["K"] * 5, "period": ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"],
    ...                   "value": [10.0, 11.0, 10.0, 12.0, 90.0]})
    >>> outlier_kpis(t, "2026-Q3", 3.5, 5), outlier_kpis(t, "2026-Q3", 3.5, 6)
    (['K'], [])
    """
    q = Quarter.parse(quarter)
    out = []
    for kid, g in totals.groupby("kpi_id", sort=True):
        upto = [(p := Quarter.parse_or_none(t)) is not None and p <= q for t in g["period"]]
        g = g[upto].drop_duplicates("period")
        now = g[g["period"] == str(q)]
        values = [float(v) for v in g["value"]]
        if now.empty or len(values) < min_points:
            continue
        z = modified_z(values)
        if z is not None and abs(z(float(now["value"].iloc[0]))) > z_max:
            out.append(str(kid))
    return out


def _review_dates(risks: pd.DataFrame) -> dict[str, tuple[bool, dt.date | None]]:
    """risk_id -> (not closed, review_on or None)."""
    if risks.empty:
        return {}
    days = pd.to_datetime(risks["review_on"], errors="coerce", format="ISO8601")
    return {
        str(rid): (_text(st) != "closed", None if pd.isna(d) else d.date())
        for rid, st, d in zip(risks["risk_id"], risks["status"], days, strict=True)
    }


def risk_reviews(
    risks: pd.DataFrame, previous: pd.DataFrame | None, quarter: QuarterLike
) -> tuple[list[str], list[str]]:
    """(risk_ids whose review was due in or by ``quarter``, those of them done); see the module.

    >>> now = pd.DataFrame({"risk_id": ["R1", "R2", "R3"], "status": ["open", "open", "closed"],
    ...                     "review_on": ["2026-12-01", "2026-09-01", "2026-08-01"]})
    >>> before = now.assign(review_on=["2026-08-15", "2026-09-01", "2026-08-01"], status="open")
    >>> risk_reviews(now, before, "2026-Q3")
    (['R1', 'R2', 'R3'], ['R1', 'R3'])
    """
    end = Quarter.parse(quarter).end
    cur = _review_dates(risks)
    prev = _review_dates(previous) if previous is not None else {}
    due = set()
    for dates in (prev, cur):
        due |= {rid for rid, (live, day) in dates.items() if live and (day is None or day <= end)}
    done = set()
    for rid in due:
        live, day = cur.get(rid, (True, None))
        if rid in cur and (not live or (day is not None and day > end)):
            done.add(rid)
    return sorted(due), sorted(done)


#: Columns of the ``Unit`` frame read for the time the quarter's first workbook arrived, in order.
RECEIVED_COLUMNS = ("first_received_at", "submitted_at")


def _submission(units: pd.DataFrame, unit: str, q: Quarter) -> tuple[bool, str | None]:
    """(a workbook for q arrived, when the first one did as ISO text, when the Unit frame carries it)."""
    rows = units[(units["unit_code"] == unit) & (units["quarter"].astype(str) == str(q))]
    if rows.empty:
        return False, None
    at = next((t for c in RECEIVED_COLUMNS if c in rows and (t := _text(rows[c].iloc[0]))), "")
    return True, at or None


def unit_health(
    state: State,
    unit: str,
    quarter: QuarterLike,
    thresholds: Mapping[str, float] | None = None,
    previous_state: State | None = None,
    report_due_days: int = 20,
) -> dict[str, object]:
    """One row of :func:`data_health` (a dict keyed by :data:`COLUMNS`)."""
    th = thresholds or {}
    q = Quarter.parse(quarter)

    def mine(name: str, st: State = state) -> pd.DataFrame:
        df = _frame(st, name)
        return df[df["unit_code"] == unit]

    missing: list[str] = []
    arrived, submitted_at = _submission(_frame(state, "Unit"), unit, q)
    if not arrived:
        missing.append(f"no workbook for {q}")
    due = kpis_due(mine("KPIs"), q)
    totals = _totals(mine("Actuals"))
    now = totals[totals["period"].astype(str) == str(q)] if not totals.empty else totals
    reported = [k for k in due if k in set(now["kpi_id"].astype(str))] if not now.empty else []
    if len(reported) < len(due):
        missing.append("KPIs not reported: " + ", ".join(k for k in due if k not in reported))
    budget = mine("Budget")
    if not budget.empty:
        budget = budget[
            (pd.to_numeric(budget["year"], errors="coerce") == q.year) & (budget["amount"].astype(float) > 0)
        ]
    expected = sorted(set(budget["result_id"].astype(str))) if not budget.empty else []
    spend = mine("Expenditure")
    spent = set(spend.loc[spend["period"].astype(str) == str(q), "result_id"].astype(str)) if not spend.empty else set()
    exp_reported = [r for r in expected if r in spent]
    if len(exp_reported) < len(expected):
        missing.append("expenditure not reported: " + ", ".join(r for r in expected if r not in spent))
    prev_risks = mine("Risks", previous_state) if previous_state is not None else None
    rev_due, rev_done = risk_reviews(mine("Risks"), prev_risks, q)
    if len(rev_done) < len(rev_due):
        missing.append("risk reviews overdue: " + ", ".join(r for r in rev_due if r not in rev_done))
    has_ev = now["evidence"].map(lambda v: _text(v) != "") if "evidence" in now and not now.empty else None
    evidence_share = float(has_ev.mean()) if has_ev is not None else None
    if has_ev is not None and not has_ev.all():
        missing.append("no evidence: " + ", ".join(sorted(set(now.loc[~has_ev, "kpi_id"].astype(str)))))
    outl = outlier_kpis(totals, q, float(th.get("outlier_z", 3.5)), int(th.get("outlier_min_points", 5)))
    if outl:
        missing.append("outliers to check: " + ", ".join(outl))
    on_time: bool | None = None
    if not arrived:
        on_time = False
    elif submitted_at is not None:
        day = pd.Timestamp(submitted_at).date()
        on_time = day <= deadline(q, report_due_days)
        if not on_time:
            missing.append(f"submitted late ({day.isoformat()}, due {deadline(q, report_due_days).isoformat()})")
    n_now = int(now["kpi_id"].nunique()) if not now.empty else 0
    rates: dict[str, float | None] = {
        "kpis": _rate(len(reported), len(due)),
        "expenditure": _rate(len(exp_reported), len(expected)),
        "risk_reviews": _rate(len(rev_done), len(rev_due)),
        "evidence": evidence_share,
        "on_time": None if on_time is None else float(on_time),
        "no_outliers": _rate(n_now - len(outl), n_now),
    }
    return {
        "unit_code": unit,
        "quarter": str(q),
        "kpis_due": len(due),
        "kpis_reported": len(reported),
        "expenditure_expected": len(expected),
        "expenditure_reported": len(exp_reported),
        "risk_reviews_due": len(rev_due),
        "risk_reviews_done": len(rev_done),
        "submitted_at": submitted_at,
        "on_time": on_time,
        "evidence_share": evidence_share,
        "outliers": len(outl),
        "score": score(rates),
        "missing": "; ".join(missing),
    }


def data_health(
    state: State,
    quarter: QuarterLike,
    thresholds: Mapping[str, float] | None = None,
    previous_state: State | None = None,
    report_due_days: int = 20,
    units: Iterable[str] = (),
) -> pd.DataFrame:
    """Data health of every unit of ``state`` (and of ``units``, even without data) in ``quarter``."""
    codes = set(units)
    for name in ("Unit", "KPIs"):
        codes |= set(_frame(state, name)["unit_code"].dropna().astype(str))
    rows = [unit_health(state, u, quarter, thresholds, previous_state, report_due_days) for u in sorted(codes)]
    out = pd.DataFrame(rows, columns=COLUMNS)
    out = out.astype({c: "int64" for c in COLUMNS[2:8] + ["outliers"]})
    out["on_time"] = out["on_time"].astype("boolean")
    out["submitted_at"] = out["submitted_at"].astype(object)
    out["evidence_share"] = out["evidence_share"].astype("float64")
    out["score"] = out["score"].astype("float64")
    return out
