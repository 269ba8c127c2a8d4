"""KPIs and activities by region: what a cluster achieves in each regional office's area.

KPI values broken down by region are the Actuals rows whose disaggregation is exactly
``region=XXX``; they run through the same engine as the totals
(:mod:`rbm_utils.analytics.kpi_grid`), rules in docs/rules.md ("By region").

Example:
    >>> kpi_progress_by_region({}, "2026-Q3").columns.tolist()[:3]
    ['unit_code', 'kpi_id', 'region']
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import conformed_sheet
from rbm_utils.analytics.frames import thresholds as thresholds_with
from rbm_utils.analytics.kpi import kpi_progress
from rbm_utils.analytics.kpi_grid import (
    KPI_KEYS,
    accumulate,
    actual_rows,
    assess,
    kpi_table,
    milestones,
    period_text,
)
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import blank_mask

#: Columns of :func:`kpi_progress_by_region`.
REGION_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "kpi_id",
    "region",
    "name",
    "measure",
    "aggregation",
    "n_reports",
    "last_period",
    "current_value",
    "kpi_current_value",
    "region_contribution",
    "share_of_total",
    "achievement",
    "expected",
    "performance",
    "status",
)

#: Measures for which a regional status is computed (a rate: the same target applies).
REGION_STATUS_MEASURES: tuple[str, ...] = ("percent", "ratio")


def kpi_progress_by_region(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
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
    q = Quarter.parse(quarter)
    t = thresholds_with(thresholds)
    qidx = q.index
    kpis = kpi_table(state)
    kpis = kpis.assign(k=np.arange(len(kpis)))
    acts = actual_rows(state, qidx)
    acts = acts.loc[acts["region"].ne("").to_numpy()].merge(kpis[KPI_KEYS + ["k"]], on=KPI_KEYS, how="inner")
    pairs = acts[["k", "region"]].drop_duplicates().sort_values(["k", "region"], kind="stable")
    ent = (
        kpis.iloc[pairs["k"].to_numpy()]
        .reset_index(drop=True)
        .assign(k=pairs["k"].to_numpy(), region=pairs["region"].to_numpy(dtype=object))
    )
    ent["e"] = np.arange(len(ent))
    ent["start"] = np.where(ent["aggregation"].eq("sum").to_numpy(), 0.0, np.nan)
    acts = acts.merge(ent[["k", "region", "e"]], on=["k", "region"], how="inner")
    g = accumulate(ent, acts, qidx, int(t["no_data_quarters"]), before_baseline=True)
    g = assess(g, ent, milestones(state, kpis), t)
    last = g.loc[g["pidx"].to_numpy() == qidx].set_index("e").reindex(np.arange(len(ent)))
    rep = g.loc[g["reported"].to_numpy(dtype=bool)]
    last_pidx = rep.groupby("e", sort=False)["pidx"].max().reindex(np.arange(len(ent))).to_numpy(dtype=float)

    total = kpi_progress(state, q, t)
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
    out = pd.DataFrame(
        {
            "unit_code": ent["unit_code"],
            "kpi_id": ent["kpi_id"],
            "region": ent["region"],
            "name": ent["name"],
            "measure": ent["measure"],
            "aggregation": ent["aggregation"],
            "n_reports": last["cum_reports"].fillna(0).to_numpy(dtype=float).astype(np.int64),
            "last_period": period_text(last_pidx),
            "current_value": current,
            "kpi_current_value": tot_current,
            "region_contribution": np.where(is_sum, current, np.nan),
            "share_of_total": share,
            "achievement": np.where(rate, last["achievement"].to_numpy(dtype=float), np.nan),
            "expected": np.where(rate, last["expected"].to_numpy(dtype=float), np.nan),
            "performance": np.where(rate, last["performance"].to_numpy(dtype=float), np.nan),
            "status": status,
        },
        columns=list(REGION_COLUMNS),
    )
    return out.reset_index(drop=True)


def activities_by_region(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Number of activities per unit, region and status (tidy: unit_code, region, status,
    n_activities). Activities with no region are counted under region ``"unspecified"``.

    >>> from rbm_utils.core import schema
    >>> acts = schema.conform("Activities", pd.DataFrame({"unit_code": ["CYB", "CYB"],
    ...     "activity_id": ["A1", "A2"], "region": ["AFR", "AFR"], "status": ["ongoing", "ongoing"]}), with_unit=True)
    >>> activities_by_region({"Activities": acts}).values.tolist()
    [['CYB', 'AFR', 'ongoing', 2]]
    """
    a = conformed_sheet(state, "Activities")
    region = a["region"].astype(object).where(~blank_mask(a["region"]), "unspecified")
    status = a["status"].astype(object).where(~blank_mask(a["status"]), "unspecified")
    data = pd.DataFrame({"unit_code": a["unit_code"].astype(object), "region": region, "status": status})
    out = data.groupby(["unit_code", "region", "status"], dropna=False, sort=True).size()
    return out.rename("n_activities").reset_index().astype({"n_activities": np.int64})
