"""Ingest at scale, in its own process: ``python -m bench.ingest --rows 50000 --work DIR``.

Takes the sample bureau's AFR workbook content, adds disaggregated Actuals rows
(``country=Cnnn`` for the reported KPI quarters) up to ``--rows`` rows, writes it with the
template writer, then times :func:`rbm_utils.store.ingest.ingest_file` (read, validate, store as a
new submission with its change log) into a fresh SQLite store per run, and reading plus
validating alone (ingest_file's own call, timed in place). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.measure import PeakRSS, timed
from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.demo.sample import sample_unit
from rbm_utils.intake.template import write_workbook
from rbm_utils.intake.validate import parse_source
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import ingest_file

UNIT = "AFR"


def big_actuals(actuals: pd.DataFrame, n_rows: int, seed: int = 1, percent_kpis: tuple[str, ...] = ()) -> pd.DataFrame:
    """The unit's total rows plus ``country=Cnnn`` rows for the same KPI quarters, ``n_rows`` in
    all. The country values of a quarter are random shares of its total, so that they add up
    to it (the validator checks this for ``sum`` KPIs); those of ``percent_kpis`` are rates
    near the total's (0-100), as a country's rate would be.

    >>> a = pd.DataFrame({"kpi_id": ["K1"], "period": ["2026-Q1"], "value": [10.0], "numerator": [None],
    ...                   "denominator": [None], "disaggregation": [""], "evidence": ["e"], "comment": [None]})
    >>> b = big_actuals(a, 3)
    >>> b["disaggregation"].tolist(), round(float(b["value"].iloc[1:].sum()), 9)
    (['', 'country=C000', 'country=C001'], 10.0)
    """
    tot = actuals.reset_index(drop=True)
    need = n_rows - len(tot)
    if need <= 0:
        return tot.iloc[:n_rows]
    per = -(-need // len(tot))
    idx = np.repeat(np.arange(len(tot)), per)[:need]
    country = np.tile(np.arange(per), len(tot))[:need]
    rng = np.random.default_rng(seed)
    weight = pd.Series(rng.uniform(0.2, 1.0, need))
    share = (weight / weight.groupby(idx).transform("sum")).to_numpy()
    value = tot["value"].to_numpy(dtype=float)[idx] * share
    last = np.r_[idx[1:] != idx[:-1], True]  # the last country of each quarter takes the rounding rest
    value[last] += tot["value"].to_numpy(dtype=float)[idx[last]] - pd.Series(value).groupby(idx).sum().to_numpy()
    pct = tot["kpi_id"].isin(percent_kpis).to_numpy()[idx]
    rate = np.clip(tot["value"].to_numpy(dtype=float)[idx] * rng.uniform(0.8, 1.2, need), 0, 100).round(1)
    value = np.where(pct, rate, value)
    extra = (
        tot.iloc[idx]
        .reset_index(drop=True)
        .assign(
            disaggregation=[f"country=C{c:03d}" for c in country],
            value=value,
            numerator=np.nan,
            denominator=np.nan,
            evidence="bench",
            comment=None,
        )
    )
    return pd.concat([tot, extra], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", required=True, help="folder for the workbook and the stores")
    args = ap.parse_args(argv)
    cfg = load_config()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    unit, frames = sample_unit(cfg, UNIT)
    percent = tuple(frames["KPIs"].loc[frames["KPIs"]["measure"] == "percent", "kpi_id"])
    frames = {
        **frames,
        "Actuals": schema.conform("Actuals", big_actuals(frames["Actuals"], args.rows, percent_kpis=percent)),
    }
    path = write_workbook(work / f"{UNIT}.xlsx", unit, frames)
    import rbm_utils.store.ingest as ingest_module

    parse_times: list[float] = []

    def timed_parse(*a, **kw):  # ingest_file's own call, timed: the read + validate share of a run
        seconds, parsed = timed(lambda: parse_source(*a, **kw))
        parse_times.append(seconds)
        return parsed

    ingest_module.parse_source = timed_parse
    runs: list[float] = []
    peaks: list[PeakRSS] = []
    rep = None
    for i in range(max(1, args.repeat)):
        with Store(f"sqlite:///{work / f'store-{i}.sqlite'}") as st, PeakRSS() as mem:
            seconds, rep = timed(lambda: ingest_file(path, st, cfg, by="bench"))
        runs.append(seconds)
        peaks.append(mem)
        if rep.status != "stored":
            raise SystemExit(f"the bench workbook was not stored: {rep.message}")
    seconds = statistics.median(runs)
    parse_s = statistics.median(parse_times)
    worst = max(peaks, key=lambda m: m.peak_mb)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "actuals_rows": len(frames["Actuals"]),
                "file_mb": path.stat().st_size / 1e6,
                "seconds": seconds,
                "runs": runs,
                "parse_seconds": parse_s,
                "store_seconds": max(0.0, seconds - parse_s),
                "peak_rss_mb": worst.peak_mb,
                "added_mb": worst.added_mb,
                "status": rep.status,
                "errors": rep.n_errors,
                "warnings": rep.n_warnings,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
