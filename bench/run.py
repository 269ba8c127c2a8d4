"""``make bench``: every benchmark of the workbench in one run, side by side, as one table.

Writes ``bench/results.json`` (the headline numbers under fixed keys, the details of every
measurement, the targets with their verdicts, and the machine) and prints the table.
Benchmarks are measurements, not tests: a missed target is reported with its reason and
what bounds it, never an error. Ratios are taken between runs of the same invocation, so
they hold on a busy machine better than absolute times; medians where a run is repeated.

Usage:
    python -m bench.run [--quick] [--only analytics,ingest,batch,dashboard,scaleout]
                        [--work DIR] [--keep] [--out bench/results.json] [--sections-from FILE]

``--sections-from FILE``: the sections of an earlier results file that this run does not measure
are taken over as they are (``reused`` names each with its file, time and load), so the long
``scale`` section can run on its own and one results file still holds every section.

``--quick`` (a few minutes): the naive analytics loop on 2,000 KPIs of the 800,000-actuals
bureau, extrapolated by KPI count (flagged in the results); one ingest run; 3 page views;
40 scale-out units.

``scale`` (bench/scale.py, issue 17 item 5): 13 and ``--scale-units N`` units (default 200, 40 with
``--quick``) through the real review notebooks, locally and on a local Dask cluster; SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ratios, scale_report
from bench import refresh as refresh_bench

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECTIONS = ("analytics", "ingest", "batch", "dashboard", "scaleout", "scale")
#: The dashboard section's headline keys.
DASHBOARD_KEYS = (
    "dashboard_render_seconds",
    "dashboard_render_default_seconds",
    "dashboard_floor_seconds",
    "dashboard_first_chart_median_seconds_1",
    "dashboard_first_chart_p95_seconds_1",
    "dashboard_first_chart_median_seconds_10",
    "dashboard_first_chart_p95_seconds_10",
    "dashboard_first_chart_median_seconds_30",
    "dashboard_first_chart_p95_seconds_30",
    "dashboard_pages_arrived_30",
)
#: Headline keys of results.json (numbers, or null with a reason in ``why_null``).
KEYS = (  # then issue 17's ratios and their figures (bench.ratios)
    "batch_speedup_vs_naive",
    "batch_overhead_per_unit_seconds",
    "analytics_800k_seconds",
    "analytics_800k_peak_mb",
    "ingest_50k_rows_seconds",
    "ingest_50k_rows_peak_mb",
    *DASHBOARD_KEYS,
    "review_html_mb",
    "scaleout_units_per_minute",
    *refresh_bench.KEYS,  # issue 20: an AFR submission to its refreshed draft (bench.refresh)
)
#: Every headline key: :data:`KEYS`, then issue 17's ratios and the figures each divides.
ALL_KEYS = (*KEYS, *ratios.KEYS)
PACKAGES = (
    "pandas",
    "numpy",
    "pyarrow",
    "openpyxl",
    "python-calamine",
    "sqlalchemy",
    "plotly",
    "papermill",
    "nbclient",
    "nbconvert",
    "ipykernel",
    "jupyter_client",
    "jsonschema",
    "voila",
    "dask",
    "distributed",
    "playwright",
)
ANALYTICS_UNITS = (10, 100, 1000)  # x 20 KPIs x 40 quarters: 8,000 / 80,000 / 800,000 actuals


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """CPU, memory, OS, Python and key package versions, load average, code version."""
    from importlib.metadata import PackageNotFoundError, version

    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
            return out.stdout.strip() if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain")
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "load_average_start": list(os.getloadavg()),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


# ---------------------------------------------------------------------------- sections


def _child_json(module: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def section_analytics(quick: bool) -> dict[str, Any]:
    sizes = {}
    for units in ANALYTICS_UNITS:
        say(f"analytics: {units} units x 20 KPIs x 40 quarters")
        args = ["--units", str(units), "--repeat", "3" if units >= 1000 else "5"]
        if quick and units >= 1000:
            args += ["--naive-kpis", "2000"]
        sizes[str(units * 800)] = _child_json("bench.analytics", *args)
    return sizes


def section_ingest(work: Path, quick: bool) -> dict[str, Any]:
    say("ingest: a 50,000-row Actuals workbook, validated and stored")
    return _child_json(
        "bench.ingest", "--rows", "50000", "--repeat", "1" if quick else "3", "--work", str(work / "ingest")
    )


def section_batch(work: Path, quarter: str) -> dict[str, Any]:
    from bench import notebook_batch as nb

    say("batch: writing and ingesting the sample bureau")
    url = nb.prepare_sample(work)
    say("batch: rbm review --all (3 workers)")
    review = nb.run_review(work / "outputs", url, quarter)
    if review["exit_code"] != 0 or not review["published"]:
        raise RuntimeError(f"rbm review failed ({review['exit_code']}): {review['stderr_tail']}")
    say(f"batch: the naive loop, one papermill command per notebook ({review['notebooks']} in sequence)")
    naive = nb.run_naive(review["published"], work / "naive")
    say("batch: kernel floor (start a kernel, import rbm_utils charts and reports, stop)")
    floor = nb.kernel_floor(5)
    say("batch: runner overhead (floor notebook through run_notebooks, one at a time)")
    runner = nb.runner_per_notebook(work, n=6, workers=1)
    say("batch: CPU per part of a notebook (kernel start, imports, job imports, HTML export)")
    cpu_parts = nb.cpu_breakdown(review["published"])
    sizes = nb.html_sizes(review["published"])
    try:  # issue 20: an AFR submission to its refreshed draft, against rbm review --unit AFR
        refreshed: dict[str, Any] = refresh_bench.measure(work / "outputs", url, quarter, say)
    except Exception as exc:  # noqa: BLE001 - reported as the keys' reason, the batch figures stand
        refreshed = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "asset_mb": nb.asset_sizes(work / "outputs", quarter),
        "refresh": refreshed,
        "store_url": url,
        "review": {k: v for k, v in review.items() if k != "published"},
        "naive": naive,
        "floor": floor,
        "runner": runner,
        "cpu_parts": cpu_parts,
        "html_mb": sizes,
    }


def section_dashboard(outputs: Path, quarter: str, quick: bool, store_url: str) -> dict[str, Any]:
    from bench.dashboard import measure_all

    say("dashboard: rbm serve, plain Voila, the one-figure floor and 1/10/30 readers at once in headless Chromium")
    return measure_all(outputs, quarter, "AFR", repeat=3 if quick else 5, store_url=store_url)


def section_scaleout(work: Path, units: int) -> dict[str, Any]:
    from bench import notebook_batch as nb

    say(f"scale-out: {units} synthetic units on a local Dask cluster (2 workers x 1 thread)")
    return nb.run_scaleout(work, n=units)


def section_scale(work: Path, units: int) -> dict[str, Any]:
    """Issue 17 item 5: 13 and ``units`` units through the real review notebooks (bench/scale.py)."""
    say(f"scale: 13 and {units} units, real notebooks, local batch and Dask, SQLite and PostgreSQL")
    return _child_json("bench.scale", "--units", f"13,{units}", "--work", str(work / "scale"))


# ---------------------------------------------------------------------------- results and table


def _get(d: dict | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def headline(details: dict[str, Any], errors: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The numbers under :data:`ALL_KEYS`, and for each null the reason (a section not run included).

    >>> h, why = headline({}, {"ingest": "ValueError: no workbook"})
    >>> h["analytics_800k_vs_naive"], why["analytics_800k_vs_naive"]
    (None, 'section analytics was not run')
    >>> why["ingest_50k_vs_floor"]
    'ValueError: no workbook'
    """
    out: dict[str, Any] = {k: None for k in ALL_KEYS}
    why: dict[str, str] = {}
    b = details.get("batch")
    if b:
        out["batch_speedup_vs_naive"] = b["naive"]["seconds"] / b["review"]["seconds"]
        out["batch_overhead_per_unit_seconds"] = b["runner"]["per_notebook"] - b["floor"]["seconds"]
        units = {k: v for k, v in b["html_mb"].items() if k not in ("overview",) and not k.startswith("joint")}
        if units:
            out["review_html_mb"] = max(units.values())
    a = _get(details, "analytics", "800000")
    if a:
        out["analytics_800k_seconds"] = a["seconds"]
        out["analytics_800k_peak_mb"] = a["peak_rss_mb"]
    i = details.get("ingest")
    if i:
        out["ingest_50k_rows_seconds"] = i["seconds"]
        out["ingest_50k_rows_peak_mb"] = i["peak_rss_mb"]
    ratios.fill_figures(out, details)
    ratios.fill_ratios(out)
    refresh_bench.fill(out, details)
    refresh_error = _get(details, "batch", "refresh", "error")
    if refresh_error:
        why.update({k: refresh_error for k in refresh_bench.KEYS})
    d = details.get("dashboard") or {}
    for key, name in (
        ("dashboard_render_seconds", "ours"),
        ("dashboard_render_default_seconds", "default"),
        ("dashboard_floor_seconds", "floor"),
    ):
        if "seconds" in (d.get(name) or {}):
            out[key] = d[name]["seconds"]
        elif (d.get(name) or {}).get("error"):
            why[key] = d[name]["error"]
    c = d.get("concurrent") or {}
    for n in ("1", "10", "30"):
        level = c.get(n) or {}
        for stat in ("median", "p95"):
            key = f"dashboard_first_chart_{stat}_seconds_{n}"
            out[key] = level.get(f"{stat}_seconds")
            if out[key] is None and (c.get("error") or level):
                why[key] = c.get("error") or f"no page of {n} arrived: {level.get('errors')}"
    if "30" in c:
        out["dashboard_pages_arrived_30"] = c["30"]["arrived"] / c["30"]["viewers"]
    elif c.get("error"):
        why["dashboard_pages_arrived_30"] = c["error"]
    s = details.get("scaleout")
    if s:
        out["scaleout_units_per_minute"] = s["units_per_minute"]
    section_of = {
        "batch": (
            "batch_speedup_vs_naive",
            "batch_overhead_per_unit_seconds",
            "review_html_mb",
            *refresh_bench.KEYS,
            *ratios.SECTION_OF["batch"],
        ),
        "analytics": ("analytics_800k_seconds", "analytics_800k_peak_mb", *ratios.SECTION_OF["analytics"]),
        "ingest": ("ingest_50k_rows_seconds", "ingest_50k_rows_peak_mb", *ratios.SECTION_OF["ingest"]),
        "dashboard": DASHBOARD_KEYS,
        "scaleout": ("scaleout_units_per_minute",),
    }
    for section, keys in section_of.items():
        for k in keys:
            if out[k] is None and k not in why:
                why[k] = errors.get(section) or (
                    f"not measured by the {section} section" if section in details else f"section {section} was not run"
                )
    return out, why


def targets(h: dict[str, Any], details: dict[str, Any], cores: int) -> list[dict[str, Any]]:
    """Each target of the issue with its measured value, verdict and, where missed, why and what bounds it."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, met: bool | None, note: str) -> None:
        rows.append({"target": name, "value": value, "met": met, "note": note})

    b = details.get("batch") or {}
    sp = h["batch_speedup_vs_naive"]
    if sp is not None:
        n = b["review"]["notebooks"]
        naive_nb = b["naive"]["seconds"] / max(1, b["naive"]["notebooks"])
        batch_nb = b["review"]["seconds"] / max(1, n)
        note = (
            f"{n} notebooks: naive {b['naive']['seconds']:.0f} s ({naive_nb:.2f} s each), batch "
            f"{b['review']['seconds']:.0f} s ({batch_nb:.2f} s each, incl. snapshot, HTML and tidy tables)"
        )
        cpu_b, cpu_n = b["review"].get("cpu_seconds"), b["naive"].get("cpu_seconds")
        if cpu_b and cpu_n:
            bound = b["naive"]["seconds"] / (cpu_b / cores)
            note += (
                f"; CPU: naive {cpu_n:.0f} s, batch {cpu_b:.0f} s, so on {cores} core(s) the batch needs at least "
                f"{cpu_b / cores:.0f} s and the speedup is bounded by ~{bound:.1f}x in this run (~{cpu_n / (cpu_b / cores):.1f}x "
                "where the naive loop's wall time is its CPU time, on an idle machine)"
            )
        if sp < 3.5:
            note += (
                ". Both pay a kernel start and the imports per notebook (floor "
                f"{b['floor']['seconds']:.1f} s) and the same cell work; parallel workers can only divide "
                "that CPU time by the number of cores"
            )
        add(">= 3.5x faster than the naive papermill loop", round(sp, 2), sp >= 3.5, note)
    ov = h["batch_overhead_per_unit_seconds"]
    if ov is not None:
        r, f = b["runner"], b["floor"]
        note = (
            f"floor notebook through the runner {r['per_notebook']:.2f} s each (one at a time) vs kernel floor "
            f"{f['seconds']:.2f} s"
        )
        if ov >= 0.5:
            note += (
                "; the gap is the warm job server's start (imports of papermill/nbconvert, once per batch), "
                "papermill's notebook I/O, the parameters check, the HTML export and the publish"
            )
        add("per-unit overhead < 0.5 s", round(ov, 2), ov < 0.5, note)
        rf = h["batch_runner_vs_floor"]
        cpu_r, cpu_f = r.get("cpu_per_notebook"), f.get("cpu_seconds")
        add(
            "a notebook through the runner <= 1.25x the kernel floor",
            round(rf, 2),
            rf <= 1.25,
            f"{r['per_notebook']:.2f} s / {f['seconds']:.2f} s"
            + (f"; in CPU-seconds {cpu_r:.2f} / {cpu_f:.2f} = {cpu_r / cpu_f:.2f}x" if cpu_r and cpu_f else "")
            + ". Above the floor: the job's fork, papermill's notebook I/O and parameter check, the HTML export, "
            f"the publish; the warm job server's start, once per batch, apart: {r.get('server_start_seconds') or 0:.1f} s",
        )
    a = details.get("analytics") or {}
    t800 = h["analytics_800k_seconds"]
    if t800 is not None:
        t80 = _get(a, "80000", "seconds")
        growth = t800 / t80 if t80 else None
        linear = growth is not None and growth <= 12.0
        note = (
            f"10x more data: {growth:.1f}x the time" if growth else ""
        ) + f"; peak memory {h['analytics_800k_peak_mb']:.0f} MB"
        add("800,000 actuals analysed < 2 s", round(t800, 2), t800 < 2, note)
        add(
            "... and growing linearly (10x data <= ~10x time)",
            round(growth, 2) if growth else None,
            linear if growth else None,
            "time per 100,000 actuals: "
            + ", ".join(f"{int(k):,}: {v['seconds'] / int(k) * 1e5:.3f} s" for k, v in a.items()),
        )
    ratios.ratio_targets(h, details, add)
    refresh_bench.targets(h, details, add)
    d = details.get("dashboard") or {}
    ours, dflt, floor = (
        h["dashboard_render_seconds"],
        h["dashboard_render_default_seconds"],
        h["dashboard_floor_seconds"],
    )
    if ours is not None and floor is not None:
        ratio = ours / floor
        note = (
            f"{ours:.2f} s vs floor {floor:.2f} s ({_get(d, 'ours', 'charts')} charts drawn as the page opens; "
            "the evidence's charts are drawn as the reader scrolls to them)"
        )
        if ratio > 1.25:
            note += (
                "; the page re-executes its notebook in a new kernel on every view (kernel start + "
                "imports + reading the published tables) before the charts draw"
            )
        add("every chart within 1.25x the floor", round(ratio, 2), ratio <= 1.25, note)
    else:
        add(
            "every chart within 1.25x the floor",
            None,
            None,
            "not measured: " + (_get(d, "ours", "error") or _get(d, "floor", "error") or "dashboard not run"),
        )
    if ours is not None and dflt is not None:
        note = f"{ours:.2f} s vs plain Voila {dflt:.2f} s"
        aborted = _get(d, "default", "aborted_requests")
        if aborted:
            note += (
                f"; plain Voila's {aborted} CDN request(s) were aborted at once here: behind a firewall that "
                "drops packets they hang until timeout (~20 s, shared STACK_NOTES)"
            )
        add("faster than plain Voila", round(dflt / ours, 2), ours < dflt, note)
    else:
        add(
            "faster than plain Voila",
            None,
            None,
            "not measured: " + (_get(d, "default", "error") or _get(d, "ours", "error") or "dashboard not run"),
        )
    c = d.get("concurrent") or {}
    if "30" in c:
        levels = "; ".join(
            f"{n} at once: median {c[n]['median_seconds'] or float('nan'):.1f} s, "
            f"p95 {c[n]['p95_seconds'] or float('nan'):.1f} s, {c[n]['arrived']}/{c[n]['viewers']} arrived"
            for n in ("1", "10", "30")
            if n in c
        )
        arrived = c["30"]["arrived"] == c["30"]["viewers"]
        add(
            "every page served to 30 readers at once",
            f"{c['30']['arrived']}/{c['30']['viewers']}",
            arrived,
            f"time to first chart: {levels}; kernel cap {c.get('max_kernels')}"
            + ("" if arrived else f"; statuses {c['30'].get('statuses')}, {c['30'].get('errors')}"),
        )
    else:
        add(
            "every page served to 30 readers at once",
            None,
            None,
            "not measured: " + (c.get("error") or "dashboard not run"),
        )
    html = h["review_html_mb"]
    if html is not None:
        add(
            "unit review page <= 1.5 MB",
            round(html, 2),
            html <= 1.5,
            f"largest unit review page; plotly.js loaded from the quarter's asset ({_asset_words(details)})",
        )
    return rows


def _asset_words(details: dict[str, Any]) -> str:
    """The quarter's shared plotly.js asset in words (its size, counted once per quarter)."""
    sizes = _get(details, "batch", "asset_mb") or {}
    if not sizes:
        return "no shared asset: plotly.js inlined in each page"
    return "; ".join(f"{name} {mb:.2f} MB once per quarter" for name, mb in sizes.items())


def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(h: dict[str, Any], why: dict[str, str], details: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The printed table: headline numbers, analytics by size, targets."""
    lines = ["", "RBM workbench benchmarks", "=" * 24, "", f"{'metric':<44} {'value':>12}  note"]
    a = details.get("analytics") or {}
    notes = {
        "analytics_800k_seconds": (
            f"naive per-KPI loop {_get(a, '800000', 'naive_seconds'):.1f} s"
            + (" (extrapolated from 2,000 KPIs)" if _get(a, "800000", "naive_extrapolated") else "")
            + f", {_get(a, '800000', 'naive_seconds') / _get(a, '800000', 'seconds'):.0f}x slower"
            if _get(a, "800000", "naive_seconds")
            else ""
        ),
        "analytics_800k_peak_mb": (
            f"process peak RSS; {_get(a, '800000', 'added_mb'):.0f} MB above the loaded state"
            if a.get("800000")
            else ""
        ),
        "ingest_50k_rows_seconds": (
            f"read {_get(details, 'ingest', 'read_seconds'):.2f} s, validate "
            f"{_get(details, 'ingest', 'validate_seconds'):.2f} s, store {_get(details, 'ingest', 'store_seconds'):.2f} s"
            if details.get("ingest")
            else ""
        ),
        "ingest_50k_floor_seconds": (
            f"bare read {_get(details, 'ingest', 'floor_read_seconds'):.2f} s + bulk insert "
            f"{_get(details, 'ingest', 'floor_insert_seconds'):.2f} s"
            if details.get("ingest")
            else ""
        ),
        "scaleout_units_per_minute": (
            f"{_get(details, 'scaleout', 'units')} floor notebooks (import + sentinel), "
            f"2 local workers; statuses {_get(details, 'scaleout', 'statuses')}"
            if details.get("scaleout")
            else ""
        ),
        "review_html_mb": f"largest published unit review page (.html); {_asset_words(details)}"
        if h.get("review_html_mb")
        else "",
    }
    for k in ALL_KEYS:
        note = why.get(k, "") if h[k] is None else notes.get(k, "")
        lines.append(f"{k:<44} {_fmt(h[k]):>12}  {note}"[:220])
    if a:
        lines += [
            "",
            f"{'analytics: actuals':<22} {'KPIs':>7} {'vectorised s':>13} {'naive s':>9} {'ratio':>6} "
            f"{'peak MB':>8} {'agree':>6}",
        ]
        for k, v in a.items():
            lines.append(
                f"{int(k):>22,} {v['kpis']:>7,} {v['seconds']:>13.3f} {v['naive_seconds']:>9.2f} "
                f"{v['naive_seconds'] / v['seconds']:>6.0f} {v['peak_rss_mb']:>8.0f} {str(v['agree']):>6}"
                + ("  naive extrapolated" if v.get("naive_extrapolated") else "")
            )
    lines += ["", f"{'target':<50} {'value':>8} {'met':>5}  why / what bounds it"]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append(f"{r['target']:<50} {_fmt(r['value']):>8} {met:>5}  {r['note']}")
    return "\n".join(lines) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------------------- main


def reuse_sections(
    path: Path, measured: list[str], details: dict[str, Any], errors: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Take over into ``details`` / ``errors`` the sections of the results file ``path`` that this
    run did not measure; returns, per section taken, where it came from (file, time, load).

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "r.json"
    >>> _ = f.write_text(json.dumps({"sections": ["scale", "ingest"], "details": {"scale": {"a": 1},
    ...     "ingest": {"b": 2}}, "errors": {}, "created_at": "T", "seconds": 9, "machine": {}}))
    >>> d: dict = {"ingest": {"b": 3}}
    >>> list(reuse_sections(f, ["ingest"], d, {})), d
    (['scale'], {'ingest': {'b': 3}, 'scale': {'a': 1}})
    """
    old = json.loads(path.read_text(encoding="utf-8"))
    machine_then = old.get("machine") or {}
    taken: dict[str, dict[str, Any]] = {}
    for name in old.get("sections") or []:
        if name in measured or name not in SECTIONS:
            continue
        if name in (old.get("details") or {}):
            details[name] = old["details"][name]
        elif name in (old.get("errors") or {}):
            errors[name] = old["errors"][name]
        else:
            continue
        earlier = (old.get("reused") or {}).get(name)
        taken[name] = earlier or {  # a section the earlier file took over itself keeps its origin
            "from": path.name,
            "created_at": old.get("created_at"),
            "run_seconds": old.get("seconds"),
            "load_average_start": machine_then.get("load_average_start"),
            "load_average_end": machine_then.get("load_average_end"),
        }
    return taken


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a shorter run (naive loops extrapolated, fewer repeats)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--work", help="working folder (default: a new temporary folder, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--out", default=str(BENCH / "results.json"), help="results file (default bench/results.json)")
    ap.add_argument("--scaleout-units", type=int, default=None, help="units through Dask (default 200, --quick 40)")
    ap.add_argument(
        "--scale-units", type=int, default=None, help="units of the scale section's bureau (default 200, --quick 40)"
    )
    ap.add_argument("--sections-from", help="an earlier results file whose other sections are taken over")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if "dashboard" in only and "batch" not in only:
        ap.error("the dashboard section serves what the batch section publishes: add batch")
    from rbm_utils.core.config import load_config

    quarter = load_config().current_quarter
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="rbm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    info = machine()
    details: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        if name not in only:
            return
        t0 = time.time()
        try:
            details[name] = fn()
        except Exception as exc:  # noqa: BLE001 - a section that cannot run is reported, the others go on
            errors[name] = f"{type(exc).__name__}: {exc}"[:800]
            say(f"{name} failed: {errors[name]}")
            traceback.print_exc(file=sys.stderr)
        say(f"{name}: {time.time() - t0:.0f} s")

    try:
        run("analytics", lambda: section_analytics(args.quick))
        run("ingest", lambda: section_ingest(work, args.quick))
        run("batch", lambda: section_batch(work, quarter))
        if "batch" in details:
            run(
                "dashboard",
                lambda: section_dashboard(work / "outputs", quarter, args.quick, details["batch"]["store_url"]),
            )
        elif "dashboard" in only:
            errors["dashboard"] = "no published outputs: the batch section failed"
        run("scaleout", lambda: section_scaleout(work, args.scaleout_units or (40 if args.quick else 200)))
        run("scale", lambda: section_scale(work, args.scale_units or (40 if args.quick else 200)))
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    info["load_average_end"] = list(os.getloadavg())
    reused = reuse_sections(Path(args.sections_from), only, details, errors) if args.sections_from else {}
    h, why = headline(details, errors)
    rows = targets(h, details, info.get("cpus_usable") or info.get("cpu_count") or 1)
    scale_report.fill(h, why, details, errors)
    rows += scale_report.targets(h, details)
    result = {
        **h,
        "ratios": {**ratios.ratios_json(h), **scale_report.ratios_json(h)},
        "why_null": why,
        "targets": rows,
        "machine": info,
        "details": details,
        "errors": errors,
        "quick": args.quick,
        "sections": only + list(reused),
        "reused": reused,
        "quarter": quarter,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
    }
    write_json_atomic(Path(args.out), result)
    sys.stdout.write(table(h, why, details, rows) + scale_report.table(h, why))
    print(
        f"\nMachine: {info['cpu_model']} x{info['cpus_usable']}, {info['memory_gb']} GB, Python {info['python']}; "
        f"load average {info['load_average_start'][0]:.1f} -> {info['load_average_end'][0]:.1f} "
        f"(other work on the machine inflates absolute times; ratios are same-run)."
    )
    for name, src in reused.items():
        print(f"Section {name}: taken over from {src['from']} ({src['created_at']}, {src['run_seconds']} s)")
    print(
        f"Results: {args.out} ({result['seconds']:.0f} s)"
        + (f"; work folder kept: {work}" if args.keep or args.work else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
