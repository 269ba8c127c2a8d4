"""Tests for rbm_utils.publish.dask: the quarterly batch on a Dask distributed cluster.

A ``LocalCluster`` of two worker processes (one thread each, loopback only) runs real
kernels on tests/fixtures/notebooks/probe.ipynb, then ``rbm review --scheduler`` runs a
unit, a joint review and the overview of the sample bureau through it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import psutil
import pytest

from rbm_utils.analytics import bureau as analysis
from rbm_utils.cli import main
from rbm_utils.publish import assets, folders, jobs, processes
from rbm_utils.publish import dask as scaleout
from rbm_utils.publish.dask import execute_on_worker, run_notebooks_distributed
from rbm_utils.publish.jobs import Job

distributed = pytest.importorskip("distributed")

from factories import PLOTLYJS_HEADER, PROBE, tree_state  # noqa: E402
from factories import PROBE_ACTION_CELL as ACTION_CELL  # noqa: E402


def write_tidy(staging: Path, job: Job) -> None:
    (staging / "kpi_progress.csv").write_text("kpi_id,achievement\nAFR-K1,0.675\n", encoding="utf-8")


def wait_until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, on 127.0.0.1; no dashboard."""
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def mixed(cluster, tmp_path_factory):
    """4 jobs on 2 workers: loop forever (job timeout 10 s), raise, kill own kernel, ok."""
    root = tmp_path_factory.mktemp("dask-batch")
    out = root / "outputs" / "2026-Q3"
    run_id = "d" + uuid.uuid4().hex[:10]
    jobs = [
        Job("LOOP", PROBE, {"mode": "loop"}, out / "LOOP"),
        Job("RAISE", PROBE, {"mode": "raise"}, out / "RAISE"),
        Job("KILL", PROBE, {"mode": "kill"}, out / "KILL"),
        Job("OK", PROBE, {"mode": "ok", "n_figures": 2}, out / "OK", write_tidy),
    ]
    t0 = time.monotonic()
    results = run_notebooks_distributed(
        jobs, cluster.scheduler_address, job_timeout=10, staging_root=root / "staging", progress=False, run_id=run_id
    )
    return {
        "root": root,
        "out": out,
        "jobs": jobs,
        "results": {r.name: r for r in results},
        "order": [r.name for r in results],
        "elapsed": time.monotonic() - t0,
        "leftover": processes.marked_pids(run_id + ":", prefix=True),
    }


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_statuses_match_the_local_runner(mixed):
    res = mixed["results"]
    assert mixed["order"] == ["LOOP", "RAISE", "KILL", "OK"]
    assert {n: r.status for n, r in res.items()} == {
        "LOOP": "timeout",
        "RAISE": "failed",
        "KILL": "dead_kernel",
        "OK": "ok",
    }
    assert res["RAISE"].error_name == "ValueError" and res["RAISE"].error_value == "probe failure"
    assert res["RAISE"].error_cell["index"] == 4 and res["RAISE"].error_cell["source"] == ACTION_CELL
    assert res["KILL"].error_name == "DeadKernelError"
    assert res["LOOP"].error_name == "JobTimeout" and res["LOOP"].error_cell["source"] == ACTION_CELL
    assert res["OK"].error_name is None and res["OK"].attempts == 1
    # bounded by the one job timeout (the loop was killed), and no process of the run is left
    assert mixed["leftover"] == []


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_only_the_ok_job_publishes_with_sentinel_html_and_content_key(mixed):
    out, res = mixed["out"], mixed["results"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["OK"]
    assert sorted(tree_state(out / "OK")) == ["inputs.json", "kpi_progress.csv", "probe.html", "probe.ipynb"]
    assert res["OK"].output_notebook == out / "OK" / "probe.ipynb"
    assert jobs.has_sentinel(nbformat.read(out / "OK" / "probe.ipynb", as_version=4))
    inputs = json.loads((out / "OK" / "inputs.json").read_text())
    assert inputs["parameters"] == {"mode": "ok", "n_figures": 2}
    assert inputs["content_key"] == jobs.content_key(mixed["jobs"][3])
    html = (out / "OK" / "probe.html").read_text(encoding="utf-8")
    assert html.count(PLOTLYJS_HEADER) == 1 and html.count("Plotly.newPlot(") == 2
    assert "PROBE-CODE-SOURCE" not in html and "probe mode: ok" in html
    # the failed run's notebook and every job's log come back to the client's staging folder
    failed_nb = res["RAISE"].output_notebook
    assert failed_nb == mixed["root"] / "staging" / "RAISE" / "probe.ipynb"
    assert "probe failure" in failed_nb.read_text()
    assert not (mixed["root"] / "staging" / "RAISE" / "probe.html").exists()
    assert all((mixed["root"] / "staging" / ".logs" / f"{n}.log").is_file() for n in res)
    assert not list(out.glob(".tmp-*"))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_rerun_skips_unchanged_and_force_archives(cluster, tmp_path):
    out = tmp_path / "outputs" / "2026-Q3"
    job = Job("AFR", PROBE, {"mode": "ok"}, out / "AFR", write_tidy)
    kw = dict(staging_root=tmp_path / "staging", progress=False, job_timeout=60)
    assert run_notebooks_distributed([job], cluster.scheduler_address, **kw)[0].status == "ok"
    before = tree_state(out / "AFR")
    again = run_notebooks_distributed([job], cluster.scheduler_address, **kw)[0]
    assert again.status == "skipped_unchanged"
    assert tree_state(out / "AFR") == before and not (out / "archive").exists()
    forced = run_notebooks_distributed([job], cluster.scheduler_address, force=True, **kw)[0]
    assert forced.status == "ok"
    archives = list((out / "archive").iterdir())
    assert len(archives) == 1 and archives[0].name.startswith("AFR-")
    assert tree_state(archives[0]) == before


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_job_whose_lock_is_held_is_not_submitted(cluster, tmp_path):
    out = tmp_path / "outputs" / "2026-Q3"
    job = Job("CYB", PROBE, {"mode": "ok"}, out / "CYB")
    lock = folders.acquire_lock(job)  # another runner publishing the same unit
    try:
        res = run_notebooks_distributed(
            [job], cluster.scheduler_address, staging_root=tmp_path / "staging", progress=False, job_timeout=60
        )
    finally:
        lock.release()
    assert res[0].status == "locked" and res[0].error_name == "Locked"
    assert not (out / "CYB").exists() and not (tmp_path / "staging" / "CYB").exists()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_worker_killed_mid_job_leaves_no_kernel_and_the_job_publishes_once(cluster, tmp_path):
    out = tmp_path / "outputs" / "2026-Q3"
    run_id = "w" + uuid.uuid4().hex[:10]
    job = Job("ASP", PROBE, {"mode": "sleep", "sleep_s": 5}, out / "ASP")
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        import threading

        results: list = []
        thread = threading.Thread(
            target=lambda: results.extend(
                run_notebooks_distributed(
                    [job], client, staging_root=tmp_path / "staging", progress=False, job_timeout=120, run_id=run_id
                )
            )
        )
        thread.start()

        def first_kernel():
            for pid in processes.marked_pids(f"{run_id}:ASP:", prefix=True):
                try:
                    p = psutil.Process(pid)
                    if "ipykernel_launcher" in " ".join(p.cmdline()):
                        return p
                except psutil.Error:
                    continue
            return None

        kernel = wait_until(first_kernel, 60, "the job's kernel")
        child = kernel.parent()
        while child is not None and "rbm_utils.publish.dask" not in " ".join(child.cmdline()):
            child = child.parent()
        assert child is not None, "the kernel does not descend from the worker's child process"
        worker = child.parent()
        os.kill(worker.pid, signal.SIGKILL)  # the Dask worker process this test's cluster started
        wait_until(
            lambda: not kernel.is_running() or kernel.status() == psutil.STATUS_ZOMBIE,
            15,
            "the orphaned kernel to stop",
        )
        thread.join(180)
    finally:
        client.close()
    assert results and results[0].status == "ok"  # Dask ran it again on a live worker
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["ASP"]
    assert not (out / "archive").exists()
    wait_until(lambda: processes.marked_pids(run_id + ":", prefix=True) == [], 15, "every process of the run to end")


# ---------------------------------------------------------------------------- rbm review --scheduler


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_rbm_review_with_scheduler_publishes_like_the_local_batch(cluster, sample_bureau, tmp_path, capsys):
    q = sample_bureau["quarter"]
    code = main(
        [
            "review",
            "--unit",
            "AFR",
            "--joint",
            "CYB-AFR",
            "--quarter",
            q,
            "--store",
            sample_bureau["store_url"],
            "--outputs",
            str(tmp_path),
            "--scheduler",
            cluster.scheduler_address,
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / q / "run_report.json").read_text())
    assert report["ok"] is True and report["totals"]["ok"] == 3
    assert [j["name"] for j in report["jobs"]] == ["AFR", "joint-CYB-AFR", "overview"]
    for folder, stem in (
        (tmp_path / q / "AFR", "quarterly_review"),
        (tmp_path / q / "joint" / "CYB-AFR", "joint_review"),
        (tmp_path / q / "overview", "bdt_overview"),
    ):
        assert jobs.has_sentinel(nbformat.read(folder / f"{stem}.ipynb", as_version=4))
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
        figures = html.count("Plotly.newPlot(")
        assert PLOTLYJS_HEADER not in html and "from rbm_utils import" not in html
        assert figures > 0 or stem == "joint_review"  # the unit review and the overview have charts
        # plotly.js: the quarter's asset, by the path from the published folder (the worker never sees it)
        refs = assets.page_asset_refs(html)
        assert refs == ([assets.asset_src(folder, tmp_path / q / assets.ASSETS_DIR)] if figures else [])
        assert all((folder / ref).resolve().is_file() for ref in refs)
    # the tidy tables are written by the client from the same frozen snapshot
    from rbm_utils.core.config import load_config
    from rbm_utils.present.reports import split_previous
    from rbm_utils.store.snapshot import load_snapshot

    state, previous = split_previous(load_snapshot(tmp_path / q / "snapshot"))
    expected = analysis.unit_view(analysis.analyse(state, q, load_config(), previous_state=previous or None), "AFR")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / q / "AFR" / "kpi_progress.parquet"),
        expected["progress"].reset_index(drop=True),
        check_dtype=False,
    )


# ---------------------------------------------------------------------------- fast


@pytest.mark.timeout(60)
def test_unknown_parameter_fails_on_the_worker_and_its_temp_folder_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = {
        "name": "X",
        "template_name": "probe.ipynb",
        "parameters": {"mode": "ok", "colour": "red"},
        "cell_timeout": 30,
        "marker": "fast:X",
        "title": "X",
    }
    outcome = execute_on_worker(spec, PROBE.read_bytes(), 30)
    assert outcome["result"]["status"] == "failed"
    assert outcome["result"]["error_name"] == "UnknownParameter" and "colour" in outcome["result"]["error_value"]
    assert outcome["files"] == {} and outcome["worker"] is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(60)
def test_unreachable_scheduler_raises_before_any_job_is_locked(tmp_path, monkeypatch):
    monkeypatch.setattr(scaleout, "CONNECT_TIMEOUT_S", 1.0)
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = Job("AFR", PROBE, {"mode": "ok"}, tmp_path / "out" / "AFR")
    with pytest.raises(OSError):
        run_notebooks_distributed([job], f"tcp://127.0.0.1:{port}", staging_root=tmp_path / "staging", progress=False)
    assert not (tmp_path / "out").exists()
