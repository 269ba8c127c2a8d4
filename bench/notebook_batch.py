"""Notebook batch benchmarks: ``rbm review --all`` against the naive papermill loop, the
kernel floor, the runner's per-unit overhead, and the Dask scale-out.

* :func:`prepare_sample` writes the sample bureau and ingests it into a fresh SQLite store.
* :func:`run_review` times ``rbm review --all`` (a fresh outputs folder; the command line,
  as an M&E officer runs it) and lists the notebooks it published.
* :func:`run_naive` runs the *same* notebooks (template and parameters read from each
  published ``inputs.json``, so the same frozen snapshot) with one ``papermill`` command
  per notebook, in sequence: what an officer would script without the batch runner.
* :func:`kernel_floor` is the least any runner pays per notebook: start a kernel, import
  what the reviews import (``from rbm_utils.present import charts, reports``), shut it down.
* :func:`runner_per_notebook` runs the floor notebook (bench/notebooks/floor.ipynb: that
  import and the sentinel) through :func:`rbm_utils.publish.runner.run_notebooks` one at a time;
  minus the floor, that is the runner's overhead per unit (process, papermill, parameter
  check, HTML copy, publish); divided by the floor, ``batch_runner_vs_floor``.
* :func:`run_scaleout` sends N floor notebooks as N synthetic units through a Dask
  ``LocalCluster`` with :func:`rbm_utils.publish.dask.run_notebooks_distributed`.

Example:
    >>> url = prepare_sample(Path("/tmp/rbm-bench"))                   # doctest: +SKIP
    >>> run_review(Path("/tmp/rbm-bench/batch"), url, "2026-Q3")["seconds"]  # doctest: +SKIP
    41.7
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
FLOOR_NOTEBOOK = BENCH / "notebooks" / "floor.ipynb"
FLOOR_IMPORT = "from rbm_utils.present import charts, reports"

log = logging.getLogger(__name__)


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished, waited-for descendants."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _bin(name: str) -> list[str]:
    """A console script of this environment (``papermill``, ``rbm``), else ``python -m``."""
    script = Path(sys.executable).parent / name
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", {"rbm": "rbm_utils.cli"}.get(name, name)]


def prepare_sample(work: Path) -> str:
    """Write the sample bureau's workbooks under ``work`` and ingest them into a new SQLite store."""
    from rbm_utils.core.config import load_config
    from rbm_utils.demo.sample import build_sample
    from rbm_utils.store.database import Store
    from rbm_utils.store.ingest import ingest_file

    cfg = load_config()
    paths = build_sample(work / "sample", cfg)
    url = f"sqlite:///{work / 'rbm.sqlite'}"
    with Store(url) as st:
        for p in paths:
            rep = ingest_file(p, st, cfg, by="bench")
            if rep.status not in ("stored", "unchanged"):
                raise RuntimeError(f"the sample did not ingest: {rep.message}")
    return url


def run_review(outputs: Path, store_url: str, quarter: str, jobs: int = 3) -> dict[str, Any]:
    """Time ``rbm review --all`` into a fresh ``outputs`` folder; what it published."""
    if outputs.exists():
        shutil.rmtree(outputs)
    cmd = [
        *_bin("rbm"),
        "review",
        "--all",
        "--quarter",
        quarter,
        "--store",
        store_url,
        "--outputs",
        str(outputs),
        "--jobs",
        str(jobs),
        "--quiet",
    ]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    report_path = outputs / quarter / "run_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    published = [
        Path(j["output_notebook"])
        for j in report.get("jobs", [])
        if j.get("status") == "ok" and j.get("output_notebook")
    ]
    durations = [float(j["duration_s"]) for j in report.get("jobs", []) if j.get("status") == "ok"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "exit_code": proc.returncode,
        "notebooks": len(published),
        "published": [str(p) for p in published],
        "totals": report.get("totals", {}),
        "job_seconds_median": statistics.median(durations) if durations else None,
        "stderr_tail": proc.stderr[-2000:] if proc.returncode else "",
    }


def naive_commands(published: list[str], out_dir: Path) -> list[list[str]]:
    """One ``papermill TEMPLATE OUT -k python3 -r/-p name value ...`` command per published notebook,
    from its ``inputs.json`` (strings with ``-r``: ``-p`` would turn ``004`` into 4)."""
    cmds = []
    for nb in published:
        inputs = json.loads((Path(nb).parent / "inputs.json").read_text(encoding="utf-8"))
        target = out_dir / f"{inputs['name']}.ipynb"
        cmd = [*_bin("papermill"), str(inputs["template"]), str(target), "-k", "python3", "--no-progress-bar"]
        for key, value in inputs["parameters"].items():
            cmd += ["-r", key, value] if isinstance(value, str) else ["-p", key, json.dumps(value)]
        cmds.append(cmd)
    return cmds


def run_naive(published: list[str], out_dir: Path) -> dict[str, Any]:
    """Run the naive loop (one papermill process per notebook, in sequence) and time it."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    cmds = naive_commands(published, out_dir)
    failures, each = 0, []
    cpu0, t0 = _children_cpu(), time.perf_counter()
    for cmd in cmds:
        t1 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        each.append(time.perf_counter() - t1)
        if proc.returncode != 0:
            failures += 1
            log.warning("naive papermill run failed (%s): %s", proc.returncode, proc.stderr[-500:])
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": _children_cpu() - cpu0,
        "notebooks": len(cmds),
        "failures": failures,
        "per_notebook_median": statistics.median(each) if each else None,
    }


def _own_and_children_cpu() -> float:
    """CPU seconds of this process plus its finished, waited-for descendants."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime + _children_cpu()


def kernel_floor(repeat: int = 5) -> dict[str, Any]:
    """Median seconds to start a python3 kernel, run :data:`FLOOR_IMPORT` in it, and shut it down
    (``cpu_seconds``: CPU per floor, this process's and the kernel's)."""
    from jupyter_client.manager import start_new_kernel

    runs = []
    cpu0 = _own_and_children_cpu()
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        try:
            reply = kc.execute_interactive(FLOOR_IMPORT, timeout=120, store_history=False)
            if reply["content"].get("status") != "ok":
                raise RuntimeError(f"the floor import failed in the kernel: {reply['content']}")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        runs.append(time.perf_counter() - t0)
    cpu = (_own_and_children_cpu() - cpu0) / max(1, repeat)
    return {"seconds": statistics.median(runs), "runs": runs, "cpu_seconds": cpu}


def _job_server_cpu() -> float:
    """CPU seconds so far of the runner's warm job server and the job processes it reaped (with
    their kernels), or 0 when it does not run."""
    import multiprocessing.forkserver

    import psutil

    pid = getattr(getattr(multiprocessing.forkserver, "_forkserver", None), "_forkserver_pid", None)
    if not pid:
        return 0.0
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def runner_per_notebook(work: Path, n: int = 6, workers: int = 1) -> dict[str, Any]:
    """Seconds per floor notebook through :func:`rbm_utils.publish.runner.run_notebooks` (``workers`` at once)
    in a running batch: inside one :func:`~rbm_utils.publish.runner.job_server` block, as in
    ``rbm review``, after one warm-up notebook that starts the warm job server (its start is
    paid once per batch: ``server_start_seconds``, and in CPU ``cpu_parts.job_imports_cold``).
    ``cpu_per_notebook``: CPU of this process, the job server, the job processes and their kernels."""
    from rbm_utils.publish.jobs import Job
    from rbm_utils.publish.runner import job_server, run_notebooks

    root = work / f"runner-{workers}"
    if root.exists():
        shutil.rmtree(root)

    def job(i: int) -> Job:
        return Job(f"U{i:04d}", FLOOR_NOTEBOOK, {"unit": f"U{i:04d}"}, root / "out" / f"U{i:04d}")

    with job_server():
        t0 = time.perf_counter()
        warmup = run_notebooks([job(n)], workers=1, staging_root=root / "staging", progress=False)
        server_start = time.perf_counter() - t0
        cpu0, t0 = _own_and_children_cpu() + _job_server_cpu(), time.perf_counter()
        results = run_notebooks(
            [job(i) for i in range(n)], workers=workers, staging_root=root / "staging", progress=False
        )
        seconds, cpu = time.perf_counter() - t0, _own_and_children_cpu() + _job_server_cpu() - cpu0
    bad = [r.status for r in results + warmup if r.status != "ok"]
    return {
        "seconds": seconds,
        "notebooks": n,
        "workers": workers,
        "per_notebook": seconds / n,
        "cpu_per_notebook": cpu / n,
        "server_start_seconds": server_start,
        "job_seconds_median": statistics.median(r.duration_s for r in results),
        "not_ok": bad,
    }


def run_scaleout(work: Path, n: int = 200, n_workers: int = 2, threads_per_worker: int = 1) -> dict[str, Any]:
    """``n`` synthetic units (the floor notebook each) through a local Dask cluster; units per minute."""
    from distributed import LocalCluster

    from rbm_utils.publish.dask import run_notebooks_distributed
    from rbm_utils.publish.jobs import Job

    root = work / "scaleout"
    if root.exists():
        shutil.rmtree(root)
    jobs = [Job(f"U{i:04d}", FLOOR_NOTEBOOK, {"unit": f"U{i:04d}"}, root / "out" / f"U{i:04d}") for i in range(n)]
    t_cluster = time.perf_counter()
    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        cluster_s = time.perf_counter() - t_cluster
        t0 = time.perf_counter()
        results = run_notebooks_distributed(
            jobs, cluster.scheduler_address, staging_root=root / "staging", progress=False
        )
        seconds = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "units": n,
        "seconds": seconds,
        "units_per_minute": 60.0 * statuses.get("ok", 0) / seconds,
        "statuses": statuses,
        "workers": n_workers,
        "threads_per_worker": threads_per_worker,
        "cluster_start_seconds": cluster_s,
        "job_seconds_median": statistics.median(r.duration_s for r in results if r.status == "ok")
        if statuses.get("ok")
        else None,
    }


def asset_sizes(outputs: Path, quarter: str) -> dict[str, float]:
    """Size in MB (10^6 bytes) of each shared asset of the published quarter (plotly.js, once
    per quarter, loaded by every static page): not part of any page's own size."""
    folder = Path(outputs) / quarter / "assets"
    return {p.name: p.stat().st_size / 1e6 for p in sorted(folder.glob("*.js"))} if folder.is_dir() else {}


def html_sizes(published: list[str]) -> dict[str, float]:
    """Size in MB (10^6 bytes) of each published static review page, by job folder (the page
    alone: plotly.js is the quarter's asset, :func:`asset_sizes`)."""
    sizes = {}
    for nb in published:
        html = Path(nb).with_suffix(".html")
        if html.is_file():
            sizes[Path(nb).parent.name] = html.stat().st_size / 1e6
    return sizes


def _cpu_of(fn: Any, repeat: int = 3) -> float:
    """Median CPU seconds (this process and its waited-for descendants) of ``fn()``."""
    runs = []
    for _ in range(max(1, repeat)):
        cpu0 = _own_and_children_cpu()
        fn()
        runs.append(_own_and_children_cpu() - cpu0)
    return statistics.median(runs)


def cpu_breakdown(published: list[str], repeat: int = 3) -> dict[str, Any]:
    """CPU seconds of the parts of one notebook's run, to see what bounds the batch on few cores:
    a bare kernel start and stop (``kernel_start``), the reviews' imports in it (``imports``:
    the floor minus the bare start), a job process's own imports as a fresh interpreter pays them
    (``job_imports_cold``: ``python -c 'import rbm_utils.publish.warm'``, what the warm job
    server now pays once per batch), and the HTML export of each published page (``html_export``,
    median over the pages, in a process that has the exporter loaded)."""
    from jupyter_client.manager import start_new_kernel

    from rbm_utils.publish.html import notebook_to_html, warm

    def bare() -> None:
        km, kc = start_new_kernel(kernel_name="python3")
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    kernel_start = _cpu_of(bare, repeat)
    floor = kernel_floor(repeat)["cpu_seconds"]
    cold = [sys.executable, "-c", "import rbm_utils.publish.warm"]
    job_imports = _cpu_of(lambda: subprocess.run(cold, check=True, capture_output=True), repeat)
    warm()
    import nbformat

    exports = []
    for nb in published:
        node = nbformat.read(nb, as_version=4)
        exports.append(_cpu_of(lambda node=node: notebook_to_html(node, plotly_js="plotly.min.js"), 1))
    return {
        "kernel_start": kernel_start,
        "floor": floor,
        "imports": floor - kernel_start,
        "job_imports_cold": job_imports,
        "html_export": statistics.median(exports) if exports else None,
        "html_export_max": max(exports) if exports else None,
        "pages": len(exports),
    }
