"""Benchmarks: other organisations' IATI results beside the bureau's own KPIs on the same theme.

``rbm import iati FILE.xml --theme T`` keeps another organisation's published results in the
benchmarks folder (``iati.benchmarks_dir`` of the settings, one parquet file per import). The
bureau overview (notebook and dashboard) reads that folder here: one row per benchmark
indicator (its total, at its latest period with an actual, else its latest period), with the
bureau's KPIs on the same theme beside it. Nothing is recomputed: the figures are the other
organisation's as published.

Example:
    >>> bench = pd.DataFrame({"source_org": ["Org"], "activity_id": ["A"], "indicator_ref": [""],
    ...     "indicator": ["Schools online"], "theme": ["broadband"], "measure": ["percentage"],
    ...     "baseline_year": [2020], "baseline_value": [10.0], "period_start": ["2025-01-01"],
    ...     "period_end": ["2025-12-31"], "dimension": [""], "target": [40.0], "actual": [35.0], "warnings": [""]})
    >>> kpis = pd.DataFrame({"unit_code": ["NDI"], "kpi_id": ["K1"], "name": ["Schools connected"],
    ...     "theme": ["broadband"], "current_value": [120.0], "target_value": [300.0], "status": ["on_track"]})
    >>> benchmark_table(bench, kpis)[["indicator", "actual", "bureau_kpis"]].to_dict("records")
    [{'indicator': 'Schools online', 'actual': 35.0, 'bureau_kpis': 'NDI K1 Schools connected: 120 of 300 (On track)'}]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from rbm_utils.core.config import PROJECT_ROOT, Config
from rbm_utils.present.columns import BENCHMARKS
from rbm_utils.present.labels import STATUS_LABELS

log = logging.getLogger(__name__)

#: The line shown when no benchmark was imported.
NO_BENCHMARK = "No benchmark imported: no other organisation's published results to compare with yet."
#: How many of the bureau's KPIs are named beside one benchmark.
_KPIS_SHOWN = 4


def benchmarks_dir(config: Config) -> Path:
    """The benchmarks folder of the settings (relative paths: from the project root)."""
    p = Path(config.iati.benchmarks_dir)
    return p if p.is_absolute() else PROJECT_ROOT / p


def load_benchmarks(folder: str | Path) -> pd.DataFrame:
    """Every imported comparison table of ``folder``, one after the other (empty if none).

    A file that cannot be read is skipped with a logged warning (the overview still shows).
    """
    root = Path(folder)
    frames = []
    for path in sorted(root.glob("*.parquet")) if root.is_dir() else []:
        try:
            frames.append(pq.read_table(path).to_pandas().assign(benchmark=path.stem))
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not hide the others
            log.warning("benchmark %s skipped: %s", path, exc)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "-"
    f = float(v)  # type: ignore[arg-type]
    return f"{f:,.0f}" if f.is_integer() or abs(f) >= 1000 else f"{f:,.2f}"


def _kpis_on(theme: str, kpis: pd.DataFrame) -> str:
    if not theme or kpis.empty or "theme" not in kpis.columns:
        return "no KPI of the bureau on this theme"
    same = kpis[kpis["theme"].astype(str).str.casefold() == theme.casefold()]
    if same.empty:
        return "no KPI of the bureau on this theme"
    shown = [
        f"{r.unit_code} {r.kpi_id} {r.name}: {_fmt(r.current_value)} of {_fmt(r.target_value)} "
        f"({STATUS_LABELS.get(str(r.status), str(r.status))})"
        for r in same.head(_KPIS_SHOWN).itertuples()
    ]
    more = f"; and {len(same) - _KPIS_SHOWN} more" if len(same) > _KPIS_SHOWN else ""
    return "; ".join(shown) + more


def benchmark_table(benchmarks: pd.DataFrame, kpis: pd.DataFrame, themes: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per benchmark indicator (its total): baseline, latest period, target and actual,
    and the bureau's KPIs on the same theme (``kpis``: the published progress table).

    With ``themes``, only benchmarks of those themes.
    """
    cols = list(BENCHMARKS)  # the column set the notebook and the dashboard show
    if benchmarks is None or benchmarks.empty:
        return pd.DataFrame(columns=cols)
    b = benchmarks[benchmarks["dimension"].fillna("") == ""].copy()
    if themes is not None:
        b = b[b["theme"].isin(list(themes))]
    if b.empty:
        return pd.DataFrame(columns=cols)
    b["_has_actual"] = b["actual"].notna()
    b["_end"] = b["period_end"].fillna("")
    key = ["source_org", "activity_id", "indicator_ref", "indicator"]
    b = b.sort_values([*key, "_has_actual", "_end"], kind="stable")
    latest = b.groupby(key, sort=False, dropna=False).tail(1).copy()
    kp = kpis if kpis is not None else pd.DataFrame()
    latest["bureau_kpis"] = [_kpis_on(str(t or ""), kp) for t in latest["theme"]]
    latest["warnings"] = latest["warnings"].fillna("").map(lambda w: f"{w.count(';') + 1} warning(s)" if w else "")
    return latest.sort_values(["theme", "source_org", "indicator"], kind="stable")[cols].reset_index(drop=True)


def overview_benchmarks(config: Config, kpis: pd.DataFrame) -> pd.DataFrame:
    """:func:`benchmark_table` of the settings' benchmarks folder against the bureau's ``kpis``."""
    return benchmark_table(load_benchmarks(benchmarks_dir(config)), kpis)
