"""The KPI engine: one row per (entity, quarter), where an entity is a KPI or a (KPI, region)
pair, from its baseline quarter to the reviewed quarter, with the current value, reporting
counts and the figures of :mod:`rbm_utils.analytics.kpi_rules` (docs/rules.md, "KPI progress").

Group-wise vectorised pandas/numpy code: the whole bureau at once, no Python loop per KPI.
:mod:`rbm_utils.analytics.kpi` and :mod:`rbm_utils.analytics.kpi_regions` build their tables
from it.

Example:
    >>> period_text(np.array([Quarter(2026, 3).index, np.nan])).tolist()
    ['2026-Q3', None]
    >>> g, kpis = kpi_grid({}, Quarter(2026, 3), {"no_data_quarters": 2}, before_baseline=True)
    >>> len(g), len(kpis)
    (0, 0)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import conformed_sheet
from rbm_utils.analytics.kpi_rules import achievement, expected, status_codes
from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter, index_of, text_of
from rbm_utils.core.text import SPACE_LIKE, blank_mask

log = logging.getLogger(__name__)

#: A KPI's key in a bureau state.
KPI_KEYS = ["unit_code", "kpi_id"]
#: Quarters between two expected reports, by KPI frequency (blank = quarterly).
REPORT_INTERVAL_QUARTERS: dict[str, int] = {"quarterly": 1, "semi-annual": 2, "annual": 4}
#: An Actuals disaggregation that breaks a KPI down by region: exactly ``region=XXX``.
REGION_RE = re.compile(r"^\s*region\s*=\s*([^;=]+?)\s*$")
_SPACE_LIKE = dict.fromkeys(map(ord, SPACE_LIKE), " ")


def period_text(idx: np.ndarray) -> np.ndarray:
    """``YYYY-Qn`` text of each quarter index, None where NaN (as the published tables hold it)."""
    idx = np.asarray(idx, dtype=float)
    out = np.full(idx.shape, None, dtype=object)
    ok = np.isfinite(idx)
    out[ok] = text_of(idx[ok])
    return out


def kpi_table(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Sheet KPIs (first row of a duplicated key kept) with the quarter indexes of its baseline
    (``bidx``) and target (``tidx``) periods."""
    k = conformed_sheet(state, "KPIs")
    dup = k.duplicated(KPI_KEYS, keep="first")
    if dup.any():
        log.warning("%d duplicate KPI rows ignored (same unit_code and kpi_id)", int(dup.sum()))
        k = k.loc[~dup].reset_index(drop=True)
    k["bidx"] = index_of(k["baseline_period"]).to_numpy(dtype=float)
    k["tidx"] = index_of(k["target_period"]).to_numpy(dtype=float)
    return k


def _actual_columns(state: Mapping[str, pd.DataFrame], qidx: int) -> dict[str, np.ndarray]:
    """The Actuals columns the engine reads, each read once into numpy, with ``keep`` (up to the
    quarter, a total or a ``region=XXX`` row) and ``total`` (a blank breakdown). The texts are
    tested once per distinct value (disaggregation, evidence, period)."""
    a = state.get("Actuals")
    if a is None or a.empty:
        a = schema.empty_frame("Actuals", with_unit=True)

    def col(name: str) -> pd.Series:
        return a[name] if name in a.columns else pd.Series([None] * len(a), index=a.index, dtype=object)

    pidx = index_of(col("period")).to_numpy(dtype=float)
    codes, uniques = pd.factorize(col("disaggregation").to_numpy(dtype=object), use_na_sentinel=True)
    region_of = [m.group(1) if isinstance(u, str) and (m := REGION_RE.match(u)) else None for u in uniques]
    blank_of = [isinstance(u, str) and not u.translate(_SPACE_LIKE).strip() for u in uniques]
    total = np.array([*blank_of, True], dtype=bool)[codes]  # code -1 (missing) takes the last
    region = np.array([*region_of, None], dtype=object)[codes]
    keep = (pidx <= qidx) & (total | pd.notna(region))
    return {
        "keep": keep,
        "total": total,
        "region": region,
        "unit_code": col("unit_code").to_numpy(dtype=object),
        "kpi_id": col("kpi_id").to_numpy(dtype=object),
        "pidx": pidx,
        **{c: pd.to_numeric(col(c)).to_numpy(dtype=float) for c in ("value", "numerator", "denominator")},
        "has_evidence": ~blank_mask(col("evidence")),
    }


def actual_rows(state: Mapping[str, pd.DataFrame], qidx: int) -> pd.DataFrame:
    """Actuals up to the quarter with their period index and a region ("" for totals,
    NaN-free string for ``region=XXX`` rows; other breakdowns are dropped).

    Columns: unit_code, kpi_id, pidx, value, numerator, denominator, region, has_evidence. Only these columns are read and each is filtered once (numpy arrays): the
    texts are tested once per distinct value (disaggregation, evidence, period).

    >>> a = pd.DataFrame({"unit_code": ["AFR"] * 3, "kpi_id": ["K1"] * 3, "period": ["2026-Q1"] * 3,
    ...                   "value": [1.0, 2.0, 3.0], "disaggregation": ["", "region=ARB", "sex=f"]})
    >>> actual_rows({"Actuals": a}, Quarter(2026, 1).index)[["value", "region", "has_evidence"]].values.tolist()
    [[1.0, '', False], [2.0, 'ARB', False]]
    """
    c = _actual_columns(state, qidx)
    keep = c["keep"]
    return pd.DataFrame(
        {  # object columns stay object: pandas would otherwise convert the texts to its str dtype
            "unit_code": pd.Series(c["unit_code"][keep], dtype=object),
            "kpi_id": pd.Series(c["kpi_id"][keep], dtype=object),
            "pidx": c["pidx"][keep],
            **{n: c[n][keep] for n in ("value", "numerator", "denominator")},
            "region": pd.Series(np.where(c["total"], "", c["region"])[keep], dtype=object),
            "has_evidence": c["has_evidence"][keep],
        }
    )


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64) and distinct values of a column, every missing value one code (NaN), last."""
    codes, uniques = pd.factorize(values)  # the sentinel (-1) pass is twice as fast as use_na_sentinel=False
    codes = codes.astype(np.int64)
    codes[codes < 0] = len(uniques)
    return codes, np.append(np.asarray(uniques, dtype=object), np.nan)


def key_rows(units: np.ndarray, ids: np.ndarray, kpis: pd.DataFrame) -> np.ndarray:
    """The row of ``kpis`` (unique KPI_KEYS) of each (unit_code, kpi_id) pair, -1 for none.

    Each key column is hashed once; only the distinct pairs are looked up (as a MultiIndex
    would match them: a missing value matches a missing value).

    >>> k = pd.DataFrame({"unit_code": ["AFR", "AFR"], "kpi_id": ["K1", "K2"]})
    >>> key_rows(np.array(["AFR", "AFR", "CYB", "AFR"], dtype=object), np.array(["K2", "K1", "K1", "K2"], dtype=object), k).tolist()
    [1, 0, -1, 1]
    >>> key_rows(np.array([None, np.nan], dtype=object), np.array(["K1", "K1"], dtype=object),
    ...          pd.DataFrame({"unit_code": [np.nan], "kpi_id": ["K1"]})).tolist()
    [0, 0]
    """
    if not len(units):
        return np.zeros(0, dtype=np.int64)
    uc, uu = _codes(units)
    kc, ku = _codes(ids)
    nk = len(ku)
    pair, pu = pd.factorize(uc * nk + kc)
    distinct = pd.MultiIndex.from_arrays([uu[pu // nk], ku[pu % nk]])
    return pd.MultiIndex.from_frame(kpis[KPI_KEYS]).get_indexer(distinct)[pair]


def kpi_actuals(state: Mapping[str, pd.DataFrame], qidx: int, kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI totals of :func:`actual_rows` (blank breakdown) whose KPI is a row of ``kpis``,
    with that row as ``e``: pidx, value, numerator, denominator, has_evidence, e.

    >>> a = pd.DataFrame({"unit_code": ["AFR"] * 3, "kpi_id": ["K1", "K9", "K1"], "period": ["2026-Q1"] * 3,
    ...                   "value": [1.0, 2.0, 3.0], "disaggregation": ["", "", "region=ARB"]})
    >>> k = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"]})
    >>> kpi_actuals({"Actuals": a}, Quarter(2026, 1).index, k)[["e", "value"]].values.tolist()
    [[0.0, 1.0]]
    """
    c = _actual_columns(state, qidx)
    e = key_rows(c["unit_code"], c["kpi_id"], kpis)  # on the whole columns: no copy of the texts
    rows = np.flatnonzero(c["keep"] & c["total"] & (e >= 0))
    return pd.DataFrame(
        {
            "pidx": c["pidx"][rows],
            **{n: c[n][rows] for n in ("value", "numerator", "denominator", "has_evidence")},
            "e": e[rows],
        },
        copy=False,  # fresh arrays: no consolidated copy (pandas would copy every column once more)
    )


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
    return pd.DataFrame({"e": e, "pidx": pidx.astype(float)}, copy=False)


def _place(
    g: pd.DataFrame, entities: pd.DataFrame, acts: pd.DataFrame, qidx: int, before_baseline: bool
) -> pd.DataFrame:
    """The grid with each actual put on its (entity, period) row: value, numerator,
    denominator, has_evidence and ``_row`` (a row was reported). The grid is sorted by entity
    then period with no gap, so an actual's row is its entity's first row plus the quarters
    since the entity's start: no merge. Of several actuals of one (entity, period), the last."""
    b = entities["bidx"].to_numpy(dtype=float)
    start = np.where(np.isnan(b), qidx, np.minimum(b, qidx)) if before_baseline else b
    n = np.bincount(g["e"].to_numpy(), minlength=len(entities))
    first = np.cumsum(n) - n
    e = acts["e"].to_numpy(dtype=np.int64)
    step = acts["pidx"].to_numpy(dtype=float) - start[e]
    ok = ~np.isnan(step) & (step >= 0) & (step < n[e])
    pos = first[e[ok]] + step[ok].astype(np.int64)
    src = np.flatnonzero(ok)
    rev_pos = pos[::-1]
    _, last = np.unique(rev_pos, return_index=True)  # first in reverse = last in order
    pos, src = rev_pos[last], src[::-1][last]
    size = len(g)
    out = {"e": g["e"].to_numpy(), "pidx": g["pidx"].to_numpy()}
    for c in ("value", "numerator", "denominator"):
        arr = np.full(size, np.nan)
        arr[pos] = acts[c].to_numpy(dtype=float)[src]
        out[c] = arr
    evidence = np.zeros(size, dtype=bool)
    evidence[pos] = acts["has_evidence"].to_numpy(dtype=bool)[src]
    row = np.zeros(size, dtype=bool)
    row[pos] = True
    return pd.DataFrame({**out, "has_evidence": evidence, "_row": row}, copy=False)


class _Segments:
    """The grid's entities as contiguous runs of rows (the grid is sorted by entity, then
    period): running sums, forward fills and running maxima within each entity, in numpy.
    Integer sums, fills and maxima are exact; float sums are pandas' own (compensated).

    >>> seg = _Segments(np.array([0, 0, 1, 1, 1]), 2)
    >>> seg.cumsum_int(np.array([1, 1, 1, 0, 1])).tolist(), seg.ffill(np.array([1.0, np.nan, np.nan, 2.0, np.nan])).tolist()
    ([1, 2, 1, 1, 2], [1.0, 1.0, nan, 2.0, 2.0])
    >>> seg.running_max(np.array([3.0, 1.0, np.nan, 2.0, 1.0])).tolist()
    [3.0, 3.0, nan, 2.0, 2.0]
    """

    def __init__(self, e: np.ndarray, n_entities: int) -> None:
        self.e = e
        self.counts = np.bincount(e, minlength=n_entities) if len(e) else np.zeros(n_entities, dtype=np.int64)
        first = np.cumsum(self.counts) - self.counts
        self.row_first = first[e]  # the first row of each row's entity
        self.pos = np.arange(len(e)) - self.row_first  # the row's place in its entity's run

    def cumsum_int(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.int64)
        c = np.cumsum(x)
        return c - (c[self.row_first] - x[self.row_first]) if len(x) else c

    def cumsum_float(self, *arrays: np.ndarray) -> list[np.ndarray]:
        df = pd.DataFrame({i: a for i, a in enumerate(arrays)})
        out = df.groupby(self.e, sort=False).cumsum()
        return [out[i].to_numpy(dtype=float) for i in range(len(arrays))]

    def ffill(self, x: np.ndarray) -> np.ndarray:
        """Each NaN takes the last value before it in its entity (NaN before the first)."""
        last = np.where(np.isnan(x), -1, np.arange(len(x)))
        np.maximum.accumulate(last, out=last)
        return np.where(last >= self.row_first, x[np.maximum(last, 0)], np.nan) if len(x) else x.copy()

    def running_max(self, x: np.ndarray) -> np.ndarray:
        """The largest value so far in its entity, NaN skipped (NaN before the first value)."""
        width = int(self.counts.max()) if len(self.counts) else 0
        if not len(x) or np.isneginf(x).any() or width * len(self.counts) > 4 * len(x) + 100_000:
            key = pd.Series(self.e)  # ragged runs: pandas, as before
            cm = pd.Series(x).groupby(key, sort=False).cummax().to_numpy()
            return pd.Series(cm).groupby(key, sort=False).ffill().to_numpy()
        wide = np.full((len(self.counts), width), -np.inf)
        wide[self.e, self.pos] = np.where(np.isnan(x), -np.inf, x)
        np.maximum.accumulate(wide, axis=1, out=wide)
        out = wide[self.e, self.pos]
        out[np.isneginf(out)] = np.nan
        return out


def accumulate(
    entities: pd.DataFrame, acts: pd.DataFrame, qidx: int, no_data_quarters: int, before_baseline: bool
) -> pd.DataFrame:
    """Cumulative current value and reporting counts on the (entity, period) grid.

    ``entities`` carries e (0..n-1), bidx, start (value before any report), aggregation,
    measure. ``acts`` carries e, pidx, value, numerator, denominator, has_evidence. Besides the
    figures, each row carries ``last_reported``: the latest quarter reported up to it.
    """
    g = _grid(entities, qidx, before_baseline)
    g = _place(g, entities, acts, qidx, before_baseline)
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    seg = _Segments(e, len(ent))
    bidx = ent["bidx"].to_numpy(dtype=float)[e]
    start = ent["start"].to_numpy(dtype=float)[e]
    agg_e = ent["aggregation"].to_numpy(dtype=object)
    agg = {a: (agg_e == a)[e] for a in ("sum", "latest", "max", "mean")}  # per entity, then per row
    pct = (ent["measure"].to_numpy(dtype=object) == "percent")[e]

    row = g["_row"].to_numpy(dtype=bool)
    pidx = g["pidx"].to_numpy()
    reported = row & (pidx >= bidx)
    used = row & (pidx > bidx)
    value = np.where(used, g["value"].to_numpy(dtype=float), np.nan)
    num = g["numerator"].to_numpy(dtype=float)
    den = g["denominator"].to_numpy(dtype=float)
    nd_ok = used & ~np.isnan(num) & ~np.isnan(den) & (den > 0)

    cum_used = seg.cumsum_int(used)
    cum_bad = seg.cumsum_int(used & ~nd_ok)
    pooled = pct & (cum_used > 0) & (cum_bad == 0)
    cnt_v = seg.cumsum_int(~np.isnan(value))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(nd_ok, 100.0 * num / den, np.nan)
        cum_v, cum_num, cum_den = seg.cumsum_float(
            np.nan_to_num(value), np.where(nd_ok, num, 0.0), np.where(nd_ok, den, 0.0)
        )
        pooled_rate = 100.0 * cum_num / cum_den
        mean_v = np.where(cnt_v > 0, cum_v / np.maximum(cnt_v, 1), start)
    last_v = seg.ffill(value)
    max_v = seg.running_max(value)
    current = np.select(
        [
            pooled & (agg["sum"] | agg["mean"]),
            pooled & agg["latest"],
            pooled & agg["max"],
            agg["sum"],
            agg["latest"],
            agg["max"],
            agg["mean"],
        ],
        [
            pooled_rate,
            seg.ffill(rate),
            seg.running_max(rate),
            start + cum_v,
            np.where(np.isnan(last_v), start, last_v),
            np.where(np.isnan(max_v), start, max_v),
            mean_v,
        ],
        default=np.nan,
    )
    cum_rep = seg.cumsum_int(reported)
    # "no data" = two expected reports missed: the window is no_data_quarters reporting
    # intervals of the KPI's frequency (quarterly 1, semi-annual 2, annual 4 quarters).
    freq = ent["frequency"] if "frequency" in ent.columns else pd.Series([None] * len(ent))
    interval = freq.map(REPORT_INTERVAL_QUARTERS).fillna(1).to_numpy(dtype=float)[e]
    window = no_data_quarters * interval
    last_rep = seg.ffill(np.where(reported, pidx, np.nan))
    recent = ~np.isnan(last_rep) & ((pidx - last_rep) < window)
    return pd.DataFrame(
        {
            "e": e,
            "pidx": pidx,
            "value": np.where(row, g["value"].to_numpy(dtype=float), np.nan),
            "numerator": num,
            "denominator": den,
            "has_evidence": g["has_evidence"].to_numpy(dtype=bool),
            "_row": row,
            "reported": reported,
            "current": current,
            "recent": recent,
            "last_reported": last_rep,
            "cum_reports": cum_rep,
            "cum_evidence": seg.cumsum_int(reported & g["has_evidence"].to_numpy(dtype=bool)),
        },
        copy=False,  # the grid's columns as computed: no consolidated copy of a dozen grid-long columns
    )


def assess(
    g: pd.DataFrame, entities: pd.DataFrame, milestones: pd.DataFrame, thresholds: dict[str, float]
) -> pd.DataFrame:
    """Add achievement, expected, performance and status to an accumulated grid."""
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    base = ent["baseline_value"].to_numpy(dtype=float)[e]
    target = ent["target_value"].to_numpy(dtype=float)[e]
    direction = ent["direction"].to_numpy(dtype=object)[e]
    m = g[["e", "pidx"]].assign(k=ent["k"].to_numpy()[e]).merge(milestones, on=["k", "pidx"], how="left", sort=False)
    ach = achievement(g["current"].to_numpy(dtype=float), base, target, direction)
    exp = expected(
        g["pidx"],
        ent["bidx"].to_numpy(dtype=float)[e],
        ent["tidx"].to_numpy(dtype=float)[e],
        m["milestone"].to_numpy(dtype=float),
        base,
        target,
        direction,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        perf = np.where(exp > 0, ach / exp, np.nan)
    status = status_codes(ach, exp, perf, g["recent"].to_numpy(dtype=bool), thresholds)
    return g.assign(achievement=ach, expected=exp, performance=perf, status=status)


def milestones(state: Mapping[str, pd.DataFrame], kpis: pd.DataFrame) -> pd.DataFrame:
    """Milestone value of each KPI (``k``: row of ``kpis``) and quarter index (``pidx``)."""
    ms = conformed_sheet(state, "Milestones")
    ms["pidx"] = index_of(ms["period"]).to_numpy(dtype=float)
    ms = ms.merge(kpis[KPI_KEYS].assign(k=np.arange(len(kpis))), on=KPI_KEYS, how="inner")
    ms = ms.loc[~np.isnan(ms["pidx"].to_numpy(dtype=float))].drop_duplicates(["k", "pidx"], keep="last")
    return ms[["k", "pidx"]].assign(milestone=ms["target_value"].to_numpy(dtype=float))


def _accumulated(
    state: Mapping[str, pd.DataFrame], quarter: Quarter, thresholds: dict[str, float], before_baseline: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The accumulated (KPI, period) grid (not yet assessed), the entities and the KPI table."""
    qidx = quarter.index
    kpis = kpi_table(state)
    ent = kpis.assign(e=np.arange(len(kpis)), k=np.arange(len(kpis)), start=kpis["baseline_value"])
    acts = kpi_actuals(state, qidx, ent)  # each KPI once (kpi_table)
    return accumulate(ent, acts, qidx, int(thresholds["no_data_quarters"]), before_baseline), ent, kpis


def kpi_grid(
    state: Mapping[str, pd.DataFrame], quarter: Quarter, thresholds: dict[str, float], before_baseline: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The assessed (KPI, period) grid for the whole state, and the KPI table."""
    g, ent, kpis = _accumulated(state, quarter, thresholds, before_baseline)
    return assess(g, ent, milestones(state, kpis), thresholds), kpis


def kpi_latest(
    state: Mapping[str, pd.DataFrame], quarter: Quarter, thresholds: dict[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The accumulated grid (every KPI from its baseline, or from ``quarter`` if that comes
    first), its rows at ``quarter`` assessed (achievement, expected, performance, status), and
    the KPI table: what one quarter's progress needs, without assessing every past quarter.

    >>> g, latest, kpis = kpi_latest({}, Quarter(2026, 3), {"no_data_quarters": 2})
    >>> len(g), len(latest), len(kpis)
    (0, 0, 0)
    """
    g, ent, kpis = _accumulated(state, quarter, thresholds, before_baseline=True)
    latest = g.loc[g["pidx"].to_numpy() == quarter.index]
    return g, assess(latest, ent, milestones(state, kpis), thresholds), kpis
