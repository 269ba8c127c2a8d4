"""Analytics at scale, one size per process: ``python -m bench.analytics --units N``.

Times :func:`rbm_utils.analytics.kpi.kpi_progress` (current value, achievement, expected, status and
the forecast of every KPI) plus the status roll-ups by unit, by unit and level, and for the
bureau, on a synthetic bureau of N units x 20 KPIs x 40 quarters; then the naive per-KPI
loop of :mod:`bench.naive_kpi` on the same data (or on its first ``--naive-kpis`` KPIs,
scaled up by the KPI count and flagged as extrapolated), and checks that both agree.
Prints one JSON object. Memory is the resident set of this process, sampled every 5 ms:
``added_rss_mb`` is its rise during one analysis, ``traced_peak_mb`` the peak of the memory
allocated during another (tracemalloc: allocator reuse cannot hide it), ``added_mb`` the larger
of the two; ``input_mb`` is the input frames' own size (``memory_usage(deep=True)``: values,
object pointers and the texts they point to).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc

import numpy as np

from bench.measure import PeakRSS, median_of, rss_mb
from bench.naive_kpi import naive_progress
from bench.synthetic import synthetic_state
from rbm_utils.analytics import kpi

QUARTER = "2026-Q3"


def analyse(state: dict) -> dict:
    progress = kpi.kpi_progress(state, QUARTER)
    return {
        "progress": progress,
        "by_unit": kpi.rollup(progress, "unit_code"),
        "by_level": kpi.rollup(progress, ["unit_code", "level"]),
        "bureau": kpi.rollup(progress, None),
    }


def agree(vec: dict, naive, roll) -> bool:
    """Same current value, achievement, expected, status, forecast and roll-up counts."""
    p = vec["progress"].merge(naive, on=["unit_code", "kpi_id"], suffixes=("", "_naive"), how="inner")
    if len(p) != len(naive):
        return False
    for col in ("current_value", "achievement", "expected", "forecast_value"):
        if not np.allclose(
            p[col].to_numpy(float), p[col + "_naive"].to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True
        ):
            return False
    if not (p["status"].astype(str) == p["status_naive"].astype(str)).all():
        return False
    if len(naive) == len(vec["progress"]):
        bureau = vec["bureau"].iloc[0]
        return all(int(bureau[f"n_{s}"]) == roll["bureau"].get(s, 0) for s in kpi.STATUS_ORDER)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, required=True)
    ap.add_argument("--kpis", type=int, default=20)
    ap.add_argument("--quarters", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--naive-kpis", type=int, default=None, help="run the naive loop on this many KPIs only")
    args = ap.parse_args(argv)
    state = synthetic_state(args.units, args.kpis, args.quarters, quarter=QUARTER)
    n_actuals, n_kpis = len(state["Actuals"]), len(state["KPIs"])
    input_mb = sum(int(df.memory_usage(deep=True).sum()) for df in state.values()) / 1e6  # the frames' own size
    analyse(state)  # warm-up: imports, caches
    gc.collect()
    cpu0 = time.process_time()
    seconds, runs, vec = median_of(lambda: analyse(state), args.repeat)
    cpu = (time.process_time() - cpu0) / max(1, args.repeat)  # CPU-seconds: what other work cannot inflate
    del vec
    gc.collect()
    with PeakRSS() as mem:
        vec = analyse(state)
    del vec
    gc.collect()
    tracemalloc.start()  # the same, counted by allocation (numpy's buffers too): no allocator reuse hides it
    vec = analyse(state)
    traced_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    added_mb = max(mem.added_mb, traced_mb)
    limit = args.naive_kpis if args.naive_kpis and args.naive_kpis < n_kpis else None
    cpu0 = time.process_time()
    naive_s, naive_runs, (naive, roll) = median_of(lambda: naive_progress(state, QUARTER, kpi_limit=limit), 1)
    naive_cpu = time.process_time() - cpu0
    scale = n_kpis / limit if limit else 1.0
    print(
        json.dumps(
            {
                "units": args.units,
                "kpis": n_kpis,
                "actuals": n_actuals,
                "seconds": seconds,
                "runs": runs,
                "peak_rss_mb": mem.peak_mb,
                "added_mb": added_mb,
                "added_rss_mb": mem.added_mb,
                "traced_peak_mb": traced_mb,
                "state_rss_mb": mem.start_mb,
                "input_mb": input_mb,
                "added_vs_input": added_mb / input_mb,
                "cpu_seconds": cpu,
                "naive_seconds": naive_s * scale,
                "naive_cpu_seconds": naive_cpu * scale,
                "cpu_ratio": naive_cpu * scale / cpu,
                "naive_measured_seconds": naive_s,
                "naive_kpis_run": limit or n_kpis,
                "naive_extrapolated": bool(limit),
                "agree": agree(vec, naive, roll),
                "statuses": vec["progress"]["status"].value_counts().to_dict(),
                "final_rss_mb": rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
