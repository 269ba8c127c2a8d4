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
from rbm_utils.analytics.kpi_segments import Segments
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
    distinct, at = np.unique(idx[ok], return_inverse=True)  # each quarter written once
    out[ok] = text_of(distinct)[at]
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


def _actual_columns(state: Mapping[str, pd.DataFrame], qidx: int, regions: bool = True) -> dict[str, np.ndarray]:
    """The Actuals columns the engine reads, each read once into numpy, with ``keep`` (up to the
    quarter, a total or a ``region=XXX`` row) and ``total`` (a blank breakdown); without
    ``regions``, no ``region`` and ``keep`` holds for the totals only. The texts are tested once
    per distinct value (disaggregation, evidence, period)."""
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
    region = np.array([*region_of, None], dtype=object)[codes] if regions else None
    keep = (pidx <= qidx) & (total | pd.notna(region)) if regions else (pidx <= qidx) & total
    return {
        "keep": keep,
        "total": total,
        **({"region": region} if regions else {}),
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
    would match them: a missing value matches a missing value), found in a table of every
    (unit, id) combination when it is small (else by hashing the pairs).

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
    nu, nk = len(uu), len(ku)
    pair = uc * nk + kc
    dense = nu * nk <= 4 * len(pair) + 65_536  # a table of every (unit, id) combination fits
    if dense:  # the pairs present marked in it: no hashing
        present = np.zeros(nu * nk, dtype=bool)
        present[pair] = True
        pu = np.flatnonzero(present)
    else:
        pair, pu = pd.factorize(pair)
    distinct = pd.MultiIndex.from_arrays([uu[pu // nk], ku[pu % nk]])
    found = pd.MultiIndex.from_frame(kpis[KPI_KEYS]).get_indexer(distinct)
    if not dense:
        return found[pair]
    row = np.full(nu * nk, -1, dtype=np.int64)
    row[pu] = found
    return row[pair]


def kpi_actuals(state: Mapping[str, pd.DataFrame], qidx: int, kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI totals of :func:`actual_rows` (blank breakdown) whose KPI is a row of ``kpis``,
    with that row as ``e``: pidx, value, numerator, denominator, has_evidence, e.

    >>> a = pd.DataFrame({"unit_code": ["AFR"] * 3, "kpi_id": ["K1", "K9", "K1"], "period": ["2026-Q1"] * 3,
    ...                   "value": [1.0, 2.0, 3.0], "disaggregation": ["", "", "region=ARB"]})
    >>> k = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"]})
    >>> kpi_actuals({"Actuals": a}, Quarter(2026, 1).index, k)[["e", "value"]].values.tolist()
    [[0.0, 1.0]]
    """
    c = _actual_columns(state, qidx, regions=False)
    e = key_rows(c["unit_code"], c["kpi_id"], kpis)  # on the whole columns: no copy of the texts
    ok = c["keep"] & (e >= 0)
    rows = slice(None) if ok.all() else np.flatnonzero(ok)  # every row: no copy
    return pd.DataFrame(
        {
            "pidx": c["pidx"][rows],
            **{n: c[n][rows] for n in ("value", "numerator", "denominator", "has_evidence")},
            "e": e[rows],
        },
        copy=False,  # no consolidated copy (pandas would copy every column once more); read only
    )


def _runs(entities: pd.DataFrame, qidx: int, before_baseline: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each entity's first quarter on the grid and its number of rows there."""
    b = entities["bidx"].to_numpy(dtype=float)
    start = np.where(np.isnan(b), qidx, np.minimum(b, qidx)) if before_baseline else b
    n = np.where(np.isnan(start), 0, qidx - start + 1)
    return start, np.clip(n, 0, None).astype(np.int64)


def _grid(entities: pd.DataFrame, qidx: int, before_baseline: bool) -> pd.DataFrame:
    """One row per entity and period from its baseline period (or the quarter, if the
    baseline is later and ``before_baseline``) to the quarter. Sorted by entity, period."""
    start, n = _runs(entities, qidx, before_baseline)
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
    start, n = _runs(entities, qidx, before_baseline)
    first = np.cumsum(n) - n
    e = acts["e"].to_numpy(dtype=np.int64)
    step = acts["pidx"].to_numpy(dtype=float) - start[e]
    ok = ~np.isnan(step) & (step >= 0) & (step < n[e])
    every = bool(ok.all())  # every actual on the grid: no selection to copy
    pos = first[e] + step.astype(np.int64) if every else first[e[ok]] + step[ok].astype(np.int64)
    src: np.ndarray | slice = slice(None) if every else np.flatnonzero(ok)
    if not (pos[1:] > pos[:-1]).all():  # rows out of order or a period reported twice (else: one each)
        rev_pos = pos[::-1]
        _, last = np.unique(rev_pos, return_index=True)  # first in reverse = last in order
        pos, src = rev_pos[last], np.arange(len(e))[src][::-1][last]
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


def _current(
    seg: Segments, ent: pd.DataFrame, used: np.ndarray, value: np.ndarray, num: np.ndarray, den: np.ndarray
) -> np.ndarray:
    """The current value on each grid row (``used``: a report after the baseline period; ``value``
    NaN elsewhere).
    Each aggregation's running figure is computed on its own KPIs' rows only; a percent KPI with
    every numerator and denominator so far pools them (docs/rules.md, "KPI progress")."""
    start = ent["start"].to_numpy(dtype=float)
    agg = ent["aggregation"].to_numpy(dtype=object)
    is_agg = {a: agg == a for a in ("sum", "latest", "max", "mean")}
    pct = ent["measure"].to_numpy(dtype=object) == "percent"
    current = np.full(len(value), np.nan)  # an unknown aggregation: NaN
    if (summed := is_agg["sum"] | is_agg["mean"]).any():
        rows, sub = seg.subset(summed)
        v = value[rows]
        (cum_v,) = sub.cumsum_float(np.nan_to_num(v))
        st = sub.per_row(start[summed])
        is_sum = sub.per_row(is_agg["sum"][summed])
        cnt_v = sub.cumsum_int(~np.isnan(v))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_v = np.where(cnt_v > 0, cum_v / np.maximum(cnt_v, 1), st)
        current[rows] = np.where(is_sum, st + cum_v, mean_v)
    if (latest := is_agg["latest"]).any():
        rows, sub = seg.subset(latest)
        last_v = sub.ffill(value[rows])
        current[rows] = np.where(np.isnan(last_v), sub.per_row(start[latest]), last_v)
    if (most := is_agg["max"]).any():
        rows, sub = seg.subset(most)
        max_v = sub.running_max(value[rows])
        current[rows] = np.where(np.isnan(max_v), sub.per_row(start[most]), max_v)
    if pct.any():  # pooled percent: the rate of the numerators and denominators so far
        rows, sub = seg.subset(pct)
        u = used[rows]
        n, d = num[rows], den[rows]
        nd_ok = u & ~np.isnan(n) & ~np.isnan(d) & (d > 0)
        pooled = (sub.cumsum_int(u) > 0) & (sub.cumsum_int(u & ~nd_ok) == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(nd_ok, 100.0 * n / d, np.nan)
            cum_num, cum_den = sub.cumsum_float(np.where(nd_ok, n, 0.0), np.where(nd_ok, d, 0.0))
            rates = {"sum": 100.0 * cum_num / cum_den, "mean": 100.0 * cum_num / cum_den}
        for a in ("latest", "max"):
            if is_agg[a][pct].any():  # only these KPIs' rows
                r, s = sub.subset(is_agg[a][pct])
                rates[a] = np.full(len(rows), np.nan)
                rates[a][r] = s.ffill(rate[r]) if a == "latest" else s.running_max(rate[r])
        for a, pooled_rate in rates.items():
            on = pooled & sub.per_row(is_agg[a][pct])
            current[rows[on]] = pooled_rate[on]
    return current


def _running(g: pd.DataFrame, ent: pd.DataFrame, seg: Segments) -> dict[str, np.ndarray]:
    """What both the whole grid and its latest rows need: row, pidx, reported, value, current."""
    row = g["_row"].to_numpy(dtype=bool)
    pidx = g["pidx"].to_numpy()
    bidx = seg.per_row(ent["bidx"].to_numpy(dtype=float))
    value = g["value"].to_numpy(dtype=float)
    used = row & (pidx > bidx)
    num, den = g["numerator"].to_numpy(dtype=float), g["denominator"].to_numpy(dtype=float)
    current = _current(seg, ent, used, np.where(used, value, np.nan), num, den)
    return {"row": row, "pidx": pidx, "reported": row & (pidx >= bidx), "value": value, "current": current}


def _window(ent: pd.DataFrame, no_data_quarters: int) -> np.ndarray:
    """Quarters without a report before "no data", per entity: ``no_data_quarters`` reporting
    intervals of the KPI's frequency (quarterly 1, semi-annual 2, annual 4 quarters)."""
    freq = ent["frequency"] if "frequency" in ent.columns else pd.Series([None] * len(ent))
    return no_data_quarters * freq.map(REPORT_INTERVAL_QUARTERS).fillna(1).to_numpy(dtype=float)


def accumulate(
    entities: pd.DataFrame, acts: pd.DataFrame, qidx: int, no_data_quarters: int, before_baseline: bool
) -> pd.DataFrame:
    """Cumulative current value and reporting counts on the (entity, period) grid.

    ``entities`` carries e (0..n-1), bidx, start (value before any report), aggregation,
    measure. ``acts`` carries e, pidx, value, numerator, denominator, has_evidence. Besides the
    figures, each row carries ``last_reported``: the latest quarter reported up to it.
    """
    g = _place(_grid(entities, qidx, before_baseline), entities, acts, qidx, before_baseline)
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    seg = Segments(e, len(ent), _runs(ent, qidx, before_baseline)[1])
    r = _running(g, ent, seg)
    row, pidx, reported = r["row"], r["pidx"], r["reported"]
    evidence = g["has_evidence"].to_numpy(dtype=bool)
    last_rep = seg.ffill(np.where(reported, pidx, np.nan))
    return pd.DataFrame(
        {
            "e": e,
            "pidx": pidx,
            "value": np.where(row, r["value"], np.nan),
            "numerator": g["numerator"].to_numpy(dtype=float),
            "denominator": g["denominator"].to_numpy(dtype=float),
            "has_evidence": evidence,
            "_row": row,
            "reported": reported,
            "current": r["current"],
            "recent": ~np.isnan(last_rep) & ((pidx - last_rep) < seg.per_row(_window(ent, no_data_quarters))),
            "last_reported": last_rep,
            "cum_reports": seg.cumsum_int(reported),
            "cum_evidence": seg.cumsum_int(reported & evidence),
        },
        copy=False,  # the grid's columns as computed: no consolidated copy of a dozen grid-long columns
    )


def accumulate_latest(
    entities: pd.DataFrame, acts: pd.DataFrame, qidx: int, no_data_quarters: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`accumulate` from each entity's baseline (or ``qidx`` if that comes first) to ``qidx``,
    kept to what one quarter's progress reads: the grid's e, pidx, reported and current, and each
    entity's row at ``qidx`` (its last) with the columns of :func:`accumulate` that describe it
    (e, pidx, current, recent, last_reported, cum_reports, cum_evidence), the same figures as
    :func:`accumulate` gives on that row; the reporting counts are counted at that row only."""
    g = _place(_grid(entities, qidx, True), entities, acts, qidx, True)
    e = g["e"].to_numpy()
    ent = entities.reset_index(drop=True)
    seg = Segments(e, len(ent), _runs(ent, qidx, True)[1])
    r = _running(g, ent, seg)
    reported, pidx = r["reported"], r["pidx"]
    n = len(ent)
    rep = np.flatnonzero(reported)
    rep_e = e[rep]
    ends = np.ones(len(rep), dtype=bool)
    ends[:-1] = rep_e[1:] != rep_e[:-1]  # the last reported row of each entity
    last_rep = np.full(n, np.nan)
    last_rep[rep_e[ends]] = pidx[rep[ends]]
    ev = reported & g["has_evidence"].to_numpy(dtype=bool)
    at = seg.last  # every entity has a row at qidx (its last)
    latest = pd.DataFrame(
        {
            "e": e[at],
            "pidx": pidx[at],
            "current": r["current"][at],
            "recent": ~np.isnan(last_rep) & ((pidx[at] - last_rep) < _window(ent, no_data_quarters)),
            "last_reported": last_rep,
            "cum_reports": np.bincount(rep_e, minlength=n).astype(np.int64),
            "cum_evidence": np.bincount(e[ev], minlength=n).astype(np.int64),
        },
        index=at,
    )
    grid = pd.DataFrame({"e": e, "pidx": pidx, "reported": reported, "current": r["current"]}, copy=False)
    return grid, latest


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


def _entities(state: Mapping[str, pd.DataFrame], quarter: Quarter) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The KPI table, its entities (one per KPI) and their totals in Actuals."""
    kpis = kpi_table(state)
    ent = kpis.assign(e=np.arange(len(kpis)), k=np.arange(len(kpis)), start=kpis["baseline_value"])
    return kpis, ent, kpi_actuals(state, quarter.index, ent)  # each KPI once (kpi_table)


def kpi_grid(
    state: Mapping[str, pd.DataFrame], quarter: Quarter, thresholds: dict[str, float], before_baseline: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The assessed (KPI, period) grid for the whole state, and the KPI table."""
    kpis, ent, acts = _entities(state, quarter)
    g = accumulate(ent, acts, quarter.index, int(thresholds["no_data_quarters"]), before_baseline)
    return assess(g, ent, milestones(state, kpis), thresholds), kpis


def kpi_latest(
    state: Mapping[str, pd.DataFrame], quarter: Quarter, thresholds: dict[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The accumulated grid (every KPI from its baseline, or from ``quarter`` if that comes
    first: e, pidx, reported, current), its rows at ``quarter`` assessed (achievement, expected,
    performance, status), and the KPI table: what one quarter's progress needs, without
    assessing every past quarter.

    >>> g, latest, kpis = kpi_latest({}, Quarter(2026, 3), {"no_data_quarters": 2})
    >>> len(g), len(latest), len(kpis)
    (0, 0, 0)
    """
    kpis, ent, acts = _entities(state, quarter)
    g, latest = accumulate_latest(ent, acts, quarter.index, int(thresholds["no_data_quarters"]))
    return g, assess(latest, ent, milestones(state, kpis), thresholds), kpis
