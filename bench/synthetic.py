"""Synthetic bureaus for the benchmarks: many units, many KPIs, a long history.

Deterministic (seeded). Every KPI reports a total every quarter from its baseline period
to the quarter under review, so ``n_units x kpis_per_unit x quarters`` actuals exactly.
Aggregations, measures and directions rotate over the KPIs so that every branch of the
KPI rules is exercised (sum, latest, max, mean; number and pooled percent; increase and
decrease; milestones on a quarter of the KPIs).

Example:
    >>> state = synthetic_state(2, 3, 4, quarter="2026-Q3")
    >>> len(state["Actuals"]), len(state["KPIs"])
    (24, 6)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter

LEVELS = ("output", "reach", "capacity", "behaviour", "impact")
#: (measure, aggregation, direction) cycled over each unit's KPIs.
KINDS = (
    ("number", "sum", "increase"),
    ("percent", "mean", "increase"),
    ("number", "latest", "increase"),
    ("percent", "latest", "increase"),
    ("number", "max", "increase"),
    ("number", "latest", "decrease"),
    ("currency", "sum", "increase"),
    ("ratio", "mean", "increase"),
)


def unit_codes(n_units: int) -> list[str]:
    """``U0001`` ... (valid unit codes).

    >>> unit_codes(2)
    ['U0001', 'U0002']
    """
    return [f"U{i + 1:04d}" for i in range(n_units)]


def synthetic_state(
    n_units: int, kpis_per_unit: int, quarters: int, quarter: str = "2026-Q3", seed: int = 7
) -> dict[str, pd.DataFrame]:
    """A bureau state (sheet name -> frame with unit_code) of ``n_units`` units.

    Each unit has one result per level and ``kpis_per_unit`` KPIs, each reporting one total
    per quarter for ``quarters`` quarters ending at ``quarter`` (the first is the baseline
    period), so ``n_units * kpis_per_unit * quarters`` actuals.
    """
    rng = np.random.default_rng(seed)
    qidx = Quarter.parse(quarter).index
    first = qidx - quarters + 1
    periods = np.array([str(Quarter.from_index(i)) for i in range(first, qidx + 1)], dtype=object)
    units = np.array(unit_codes(n_units), dtype=object)
    k_ids = np.array([f"K{j + 1:02d}" for j in range(kpis_per_unit)], dtype=object)
    n_k = n_units * kpis_per_unit
    kind = np.arange(n_k) % len(KINDS)
    measure = np.array([KINDS[i][0] for i in kind], dtype=object)
    aggregation = np.array([KINDS[i][1] for i in kind], dtype=object)
    direction = np.array([KINDS[i][2] for i in kind], dtype=object)
    pct = measure == "percent"
    baseline = np.where(pct, rng.uniform(20, 50, n_k).round(1), np.where(direction == "decrease", 100.0, 0.0))
    target_gain = np.where(pct, rng.uniform(10, 40, n_k), rng.uniform(50, 500, n_k)).round(0)
    target = np.where(direction == "decrease", baseline - np.minimum(target_gain, 90), baseline + target_gain)
    target_period = str(Quarter.from_index(qidx + 4))
    level_of = np.arange(n_k) % len(LEVELS)
    kpis = pd.DataFrame(
        {
            "unit_code": np.repeat(units, kpis_per_unit),
            "kpi_id": np.tile(k_ids, n_units),
            "result_id": np.array([f"R-{LEVELS[i]}" for i in level_of], dtype=object),
            "name": np.array([f"Synthetic KPI {j % kpis_per_unit + 1}" for j in range(n_k)], dtype=object),
            "definition": "Synthetic",
            "measure": measure,
            "direction": direction,
            "aggregation": aggregation,
            "baseline_value": baseline,
            "baseline_period": periods[0],
            "target_value": target,
            "target_period": target_period,
            "data_source": "bench",
            "frequency": "quarterly",
            "responsible": "bench",
        }
    )
    results = pd.DataFrame(
        {
            "unit_code": np.repeat(units, len(LEVELS)),
            "result_id": np.tile(np.array([f"R-{lv}" for lv in LEVELS], dtype=object), n_units),
            "level": np.tile(np.array(LEVELS, dtype=object), n_units),
            "title": "Synthetic result",
            "programme": "Synthetic programme",
            "initiative": np.repeat(np.array([f"INI{i % 7}" for i in range(n_units)], dtype=object), len(LEVELS)),
            "theme": np.repeat(np.array([f"theme{i % 5}" for i in range(n_units)], dtype=object), len(LEVELS)),
        }
    )
    # actuals: one total per KPI and quarter; pace around the linear path, varied per KPI
    n_q = quarters
    pace = rng.uniform(0.4, 1.3, n_k)
    step = np.arange(n_q, dtype=float)
    span = quarters + 4 - 1  # baseline period to target period
    frac = np.clip(np.outer(pace, step / span), 0, None)  # share of the way, per KPI and quarter
    noise = rng.normal(1.0, 0.08, (n_k, n_q))
    level_value = baseline[:, None] + (target - baseline)[:, None] * frac * noise
    incr = np.diff(np.concatenate([np.zeros((n_k, 1)), (target - baseline)[:, None] * frac * noise], axis=1), axis=1)
    is_sum = aggregation == "sum"
    value = np.where(is_sum[:, None], np.abs(incr), level_value).round(2)
    den = rng.integers(50, 500, (n_k, n_q)).astype(float)
    num = np.round(den * np.clip(level_value, 0, 100) / 100.0)
    actuals = pd.DataFrame(
        {
            "unit_code": np.repeat(kpis["unit_code"].to_numpy(), n_q),
            "kpi_id": np.repeat(kpis["kpi_id"].to_numpy(), n_q),
            "period": np.tile(periods, n_k),
            "value": np.where(pct[:, None], np.round(100 * num / den, 4), value).ravel(),
            "numerator": np.where(pct[:, None], num, np.nan).ravel(),
            "denominator": np.where(pct[:, None], den, np.nan).ravel(),
            "disaggregation": "",
            "evidence": np.where(rng.random(n_k * n_q) < 0.8, "doc", ""),
            "comment": "",
        }
    )
    # milestones on every 4th KPI, at the quarter under review
    mk = kpis.iloc[::4]
    gain = (mk["target_value"] - mk["baseline_value"]).to_numpy() * (n_q - 1) / span
    milestones = pd.DataFrame(
        {
            "unit_code": mk["unit_code"].to_numpy(),
            "kpi_id": mk["kpi_id"].to_numpy(),
            "period": quarter,
            "target_value": (mk["baseline_value"].to_numpy() + gain).round(2),
        }
    )
    return {
        "Results": schema.conform("Results", results, with_unit=True),
        "KPIs": schema.conform("KPIs", kpis, with_unit=True),
        "Milestones": schema.conform("Milestones", milestones, with_unit=True),
        "Actuals": schema.conform("Actuals", actuals, with_unit=True),
    }
