"""Tests for the quarterly notebook runner (rbm_utils.publish: runner, child, html, jobs, folders).

The batch tests run real kernels on tests/fixtures/notebooks/probe.ipynb (a parameters
cell, then a cell that raises / kills its kernel / loops / sleeps as told, optional
plotly figures, and the sentinel cell). The others are in-process and fast.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from factories import PLOTLYJS_HEADER, PROBE, tree_state  # noqa: E402
from factories import PROBE_ACTION_CELL as ACTION_CELL  # noqa: E402
from nbformat import v4

from rbm_utils.publish import child, jobs, processes
from rbm_utils.publish.html import PLOTLY_MIME, notebook_to_html
from rbm_utils.publish.jobs import SENTINEL, Job, JobResult
from rbm_utils.publish.runner import run_notebooks, write_run_report

# ---------------------------------------------------------------------------- helpers


def kernels_of_run(run_id: str) -> list[int]:
    """ipykernel processes whose environment carries this run's marker (psutil, independent of batch)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if "ipykernel_launcher" not in cmd:
                continue
            if proc.environ().get(processes.MARK_ENV, "").startswith(run_id + ":"):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def write_tidy(staging: Path, job: Job) -> None:
    (staging / "kpi_progress.csv").write_text("kpi_id,achievement\nAFR-K1,0.675\n", encoding="utf-8")


def without_plotlyjs(html: str) -> str:
    """The page minus the inlined plotly.js library (which itself mentions CDNs and MathJax)."""
    return re.sub(r"<script[^>]*>[^<]*?" + re.escape(PLOTLYJS_HEADER) + r".*?</script>", "", html, count=1, flags=re.S)


def plotly_figure_calls(html: str) -> list:
    """Run the page's figure scripts in node against a stub Plotly (and DOM); return newPlot's arguments."""
    scripts = [
        s for s in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S) if "newPlot(" in s and len(s) < 1_000_000
    ]
    js = (
        "var calls = []; var Plotly = {newPlot: function (id, data, layout) {"
        " calls.push([id, data[0].y, layout.title.text]); }};"
        " var window = {Plotly: Plotly}; var document = {getElementById: function (id) { return {id: id}; }};\n"
        + "\n".join(scripts)
        + "\nconsole.log(JSON.stringify(calls));"
    )
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------- one real batch


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory):
    """4 jobs, 3 workers: ok (two figures, tidy file), raise, kill own kernel, loop forever."""
    root = tmp_path_factory.mktemp("batch")
    out = root / "outputs" / "2026-Q3"
    run_id = "t" + uuid.uuid4().hex[:10]
    jobs = [  # the looping job first, so the batch is bounded by one job_timeout
        Job("LOOP", PROBE, {"mode": "loop"}, out / "LOOP"),
        Job("RAISE", PROBE, {"mode": "raise"}, out / "RAISE"),
        Job("KILL", PROBE, {"mode": "kill"}, out / "KILL"),
        Job("OK", PROBE, {"mode": "ok", "n_figures": 2}, out / "OK", write_tidy),
    ]
    t0 = time.monotonic()
    results = run_notebooks(
        jobs, workers=3, cell_timeout=600, job_timeout=15, staging_root=root / "staging", progress=False, run_id=run_id
    )
    elapsed = time.monotonic() - t0
    leftover = kernels_of_run(run_id)
    return {
        "root": root,
        "out": out,
        "results": {r.name: r for r in results},
        "order": [r.name for r in results],
        "elapsed": elapsed,
        "leftover": leftover,
        "run_id": run_id,
    }


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_batch_statuses(mixed_batch):
    res = mixed_batch["results"]
    assert mixed_batch["order"] == ["LOOP", "RAISE", "KILL", "OK"]
    assert {n: r.status for n, r in res.items()} == {
        "LOOP": "timeout",
        "RAISE": "failed",
        "KILL": "dead_kernel",
        "OK": "ok",
    }
    raised = res["RAISE"]
    assert raised.error_name == "ValueError" and raised.error_value == "probe failure"
    # executed notebook: 0 markdown, 1 parameters, 2 injected parameters, 3 setup, 4 action
    assert raised.error_cell["index"] == 4 and raised.error_cell["source"] == ACTION_CELL
    assert res["KILL"].error_name == "DeadKernelError" and res["KILL"].error_cell["index"] == 4
    assert res["LOOP"].error_name == "JobTimeout" and res["LOOP"].error_cell["source"] == ACTION_CELL
    assert res["OK"].error_name is None and res["OK"].attempts == 1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_batch_is_bounded_and_leaves_no_kernel(mixed_batch):
    # bounded: the looping job was killed at its job timeout (the batch returned), nothing of the run survives
    assert mixed_batch["results"]["LOOP"].status == "timeout"
    assert mixed_batch["leftover"] == []
    assert processes.marked_pids(mixed_batch["run_id"] + ":", prefix=True) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_only_the_ok_job_publishes(mixed_batch):
    out, res = mixed_batch["out"], mixed_batch["results"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["OK"]
    assert sorted(tree_state(out / "OK")) == ["inputs.json", "kpi_progress.csv", "probe.html", "probe.ipynb"]
    assert res["OK"].output_notebook == out / "OK" / "probe.ipynb"
    nb = nbformat.read(out / "OK" / "probe.ipynb", as_version=4)
    assert jobs.has_sentinel(nb)
    inputs = json.loads((out / "OK" / "inputs.json").read_text())
    assert inputs["parameters"] == {"mode": "ok", "n_figures": 2}
    assert inputs["content_key"] == jobs.content_key(Job("OK", PROBE, {"mode": "ok", "n_figures": 2}, out / "OK"))
    # the failed run's notebook stays in staging, with papermill's error banner
    failed_nb = res["RAISE"].output_notebook
    assert failed_nb == mixed_batch["root"] / "staging" / "RAISE" / "probe.ipynb"
    assert "ValueError" in failed_nb.read_text()
    assert not (out / ".tmp-OK").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_published_html_has_no_code_and_plotlyjs_once(mixed_batch):
    html = (mixed_batch["out"] / "OK" / "probe.html").read_text(encoding="utf-8")
    assert "PROBE-CODE-SOURCE" not in html and "import plotly.graph_objects" not in html
    assert "mode = " not in html  # neither the parameters cell nor the injected one
    assert html.count(PLOTLYJS_HEADER) == 1
    assert html.count("Plotly.newPlot(") == 2
    page = without_plotlyjs(html)
    assert PLOTLYJS_HEADER not in page and len(page) < len(html) - 1_000_000
    assert re.search(r"<script[^>]*\bsrc=", html) is None and "cdn" not in page.lower()
    assert "probe mode: ok" in html  # outputs are kept
    if shutil.which("node"):
        assert plotly_figure_calls(html) == [
            ["rbm-plotly-0", [1, 2], "probe figure 0"],
            ["rbm-plotly-1", [2, 3], "probe figure 1"],
        ]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_run_report(mixed_batch, tmp_path):
    order = mixed_batch["order"]
    results = [mixed_batch["results"][n] for n in order]
    path = write_run_report(results, tmp_path / "run_report.json")
    report = json.loads(path.read_text())
    assert report["totals"] == {
        "jobs": 4,
        "ok": 1,
        "failed": 1,
        "dead_kernel": 1,
        "timeout": 1,
        "skipped_unchanged": 0,
        "locked": 0,
    }
    assert report["all_ok"] is False
    by_name = {j["name"]: j for j in report["jobs"]}
    assert [j["name"] for j in report["jobs"]] == order
    assert by_name["RAISE"]["status"] == "failed" and by_name["RAISE"]["error_name"] == "ValueError"
    assert by_name["RAISE"]["error_cell"]["source"] == ACTION_CELL
    assert by_name["OK"]["error_name"] is None and by_name["OK"]["error_cell"] is None
    assert by_name["LOOP"]["duration_s"] == round(mixed_batch["results"]["LOOP"].duration_s, 3)


# ---------------------------------------------------------------------------- rerun, force, lock


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_rerun_is_skipped_byte_identical_and_force_archives(tmp_path):
    out = tmp_path / "outputs" / "2026-Q3"
    job = Job("AFR", PROBE, {"mode": "ok"}, out / "AFR", write_tidy)
    kw = dict(staging_root=tmp_path / "staging", progress=False, job_timeout=60)
    assert run_notebooks([job], **kw)[0].status == "ok"
    before = tree_state(out / "AFR")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "AFR").iterdir()}

    again = run_notebooks([job], **kw)[0]
    assert again.status == "skipped_unchanged" and again.attempts == 0  # no kernel was started
    assert tree_state(out / "AFR") == before
    assert {p.name: p.stat().st_mtime_ns for p in (out / "AFR").iterdir()} == mtimes
    assert not (out / "archive").exists()

    forced = run_notebooks([job], force=True, **kw)[0]
    assert forced.status == "ok"
    archives = list((out / "archive").iterdir())
    assert len(archives) == 1 and archives[0].name.startswith("AFR-") and archives[0].name.endswith("Z")
    assert tree_state(archives[0]) == before  # the previous version, intact
    assert sorted(tree_state(out / "AFR")) == sorted(before)
    assert (
        json.loads((out / "AFR" / "inputs.json").read_text())["content_key"]
        == json.loads((archives[0] / "inputs.json").read_text())["content_key"]
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_concurrent_runs_of_one_job_one_is_locked(tmp_path):
    out = tmp_path / "outputs" / "2026-Q3"
    job = Job("CYB", PROBE, {"mode": "sleep", "sleep_s": 4}, out / "CYB")
    run_id = "t" + uuid.uuid4().hex[:10]
    first: list[JobResult] = []
    thread = threading.Thread(
        target=lambda: first.extend(
            run_notebooks([job], staging_root=tmp_path / "staging-a", progress=False, job_timeout=60, run_id=run_id)
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not kernels_of_run(run_id):  # the first run holds the lock and its kernel is up
        if time.monotonic() > deadline:
            pytest.fail("the first run never started a kernel")
        time.sleep(0.1)
    second = run_notebooks([job], staging_root=tmp_path / "staging-b", progress=False, job_timeout=60)
    # refused at once, not queued: it returned while the first run still held the lock
    assert second[0].status == "locked" and thread.is_alive()
    assert not (tmp_path / "staging-b" / "CYB").exists()
    thread.join(60)
    assert first[0].status == "ok"
    assert kernels_of_run(run_id) == []


# ---------------------------------------------------------------------------- fast, in-process


def _figure(title: str, y: list) -> dict:
    return {"data": [{"type": "bar", "x": ["a", "b"], "y": y}], "layout": {"title": {"text": title}}}


def _executed_notebook(fig_titles=("first", "second")) -> nbformat.NotebookNode:
    cells = [
        v4.new_markdown_cell("# Unit review"),
        v4.new_code_cell(
            "secret_code_marker = 1\nprint('hello manager')",
            outputs=[
                v4.new_output("stream", name="stdout", text="hello manager\n"),
                v4.new_output("stream", name="stderr", text="STDERR-NOISE-4711: noise\n"),
            ],
        ),
    ]
    for i, title in enumerate(fig_titles):
        cells.append(
            v4.new_code_cell(
                f"fig{i}.show()",
                outputs=[v4.new_output("display_data", data={PLOTLY_MIME: _figure(title, [i + 1, i + 2])})],
            )
        )
    cells.append(
        v4.new_code_cell(f'print("{SENTINEL}")', outputs=[v4.new_output("stream", name="stdout", text=SENTINEL + "\n")])
    )
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.timeout(60)
def test_notebook_to_html_embeds_plotlyjs_once_and_no_code():
    nb = _executed_notebook(("first", "x</script><script>alert(1)</script>"))
    original = json.dumps(nb, sort_keys=True)
    html = notebook_to_html(nb, title="AFR")
    assert json.dumps(nb, sort_keys=True) == original  # input not mutated
    assert html.count(PLOTLYJS_HEADER) == 1 and html.count("Plotly.newPlot(") == 2
    assert "secret_code_marker" not in html and "fig0.show" not in html
    assert "hello manager" in html and "STDERR-NOISE-4711" not in html and SENTINEL not in html
    assert "<script>alert(1)</script>" not in html  # figure JSON cannot close its script element
    assert re.search(r"<script[^>]*\bsrc=", html) is None
    page = without_plotlyjs(html)
    assert PLOTLYJS_HEADER not in page
    assert "cdn" not in page.lower() and "TeX-AMS" not in page and "require" not in page  # no CDN scripts
    assert html.index(PLOTLYJS_HEADER) < html.index("rbm-plotly-0")
    if shutil.which("node"):
        calls = plotly_figure_calls(html)
        assert calls == [
            ["rbm-plotly-0", [1, 2], "first"],
            ["rbm-plotly-1", [2, 3], "x</script><script>alert(1)</script>"],
        ]


def test_notebook_to_html_without_figures_has_no_plotlyjs():
    html = notebook_to_html(_executed_notebook(()))
    assert PLOTLYJS_HEADER not in html and "hello manager" in html


def test_has_sentinel_only_in_last_code_cell():
    nb = _executed_notebook(())
    assert jobs.has_sentinel(nb)
    nb.cells.append(v4.new_code_cell("x = 1"))  # the sentinel is no longer in the last code cell
    assert not jobs.has_sentinel(nb)
    nb.cells[-1] = v4.new_code_cell(
        "x", outputs=[v4.new_output("execute_result", data={"text/plain": f"'{SENTINEL}'"}, execution_count=3)]
    )
    assert jobs.has_sentinel(nb)
    assert not jobs.has_sentinel(v4.new_notebook())


def test_content_key_covers_template_parameters_and_snapshot(tmp_path):
    tpl = tmp_path / "t.ipynb"
    shutil.copy(PROBE, tpl)
    snap = tmp_path / "snapshot"
    snap.mkdir()
    manifest = {"tables": {}, "content_sha256": "a" * 64}
    (snap / "manifest.json").write_text(json.dumps(manifest))
    params = {"mode": "ok", "snapshot_dir": str(snap)}
    key = jobs.content_key(Job("AFR", tpl, params, tmp_path / "AFR"))
    assert key == jobs.content_key(Job("AFR", tpl, dict(reversed(list(params.items()))), tmp_path / "other"))
    assert key != jobs.content_key(Job("AFR", tpl, {**params, "mode": "raise"}, tmp_path / "AFR"))
    (snap / "manifest.json").write_text(json.dumps({**manifest, "content_sha256": "b" * 64}))
    key_b = jobs.content_key(Job("AFR", tpl, params, tmp_path / "AFR"))
    assert key_b != key
    tpl.write_bytes(tpl.read_bytes() + b"\n")
    assert jobs.content_key(Job("AFR", tpl, params, tmp_path / "AFR")) not in (key, key_b)


def test_write_run_report_totals(tmp_path):
    results = [
        JobResult("AFR", "ok", 2.3456),
        JobResult("CYB", "skipped_unchanged", 0.01),
        JobResult("AMS", "failed", 1.0, "KeyError", "'x'", {"index": 5, "source": "kpi.progress(df)"}),
        JobResult("EUR", "locked", 0.0, "Locked", "busy"),
    ]
    report = json.loads(write_run_report(results, tmp_path / "r" / "run_report.json").read_text())
    assert report["totals"] == {
        "jobs": 4,
        "ok": 1,
        "failed": 1,
        "dead_kernel": 0,
        "timeout": 0,
        "skipped_unchanged": 1,
        "locked": 1,
    }
    assert report["jobs"][0] == {
        "name": "AFR",
        "status": "ok",
        "duration_s": 2.346,
        "error_name": None,
        "error_value": None,
        "error_cell": None,
        "attempts": 0,
        "output_notebook": None,
    }
    assert report["jobs"][2]["error_cell"] == {"index": 5, "source": "kpi.progress(df)"}
    assert report["all_ok"] is False
    assert not [p for p in (tmp_path / "r").iterdir() if p.name != "run_report.json"]  # no temp file left


@pytest.mark.parametrize("name", ["", "../AFR", "a/b", ".hidden", "x" * 81])
def test_bad_job_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="not allowed"):
        run_notebooks([Job(name, PROBE, {}, tmp_path / "x")], staging_root=tmp_path / "s", progress=False)


def test_duplicate_publish_targets_are_refused(tmp_path):
    jobs = [Job("A", PROBE, {}, tmp_path / "x"), Job("B", PROBE, {}, tmp_path / "x")]
    with pytest.raises(ValueError, match="publish to"):
        run_notebooks(jobs, staging_root=tmp_path / "s", progress=False)


# ---------------------------------------------------------------------------- retry policy (no kernel)


def _spec(tmp_path: Path, **params) -> dict:
    out = tmp_path / "staging" / "probe.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    return {
        "name": "AFR",
        "template": str(PROBE),
        "output_notebook": str(out),
        "html": str(out.with_suffix(".html")),
        "parameters": params,
        "cell_timeout": 600,
        "marker": "x:AFR",
        "log_file": str(tmp_path / "log"),
        "title": "AFR",
    }


class FakeExecute:
    """Stands in for papermill.execute_notebook: raises the given exceptions in turn, then succeeds."""

    def __init__(self, *failures, start_cell_before=()):
        self.failures = list(failures)
        self.start_cell_before = set(start_cell_before)  # call numbers that start a code cell before failing
        self.calls = 0

    def __call__(self, template, output, **kw):
        self.calls += 1
        assert kw["kernel_name"] == "python3" and kw["shutdown_kernel"] == "immediate"
        assert kw["request_save_on_cell_execute"] is False and kw["cwd"] is None
        if self.calls in self.start_cell_before:
            kw["on_cell_start"](cell=v4.new_code_cell("print(1)\nx = 2"), cell_index=3)
        if self.failures:
            raise self.failures.pop(0)
        return _executed_notebook(())


def test_kernel_start_failures_are_retried_twice(tmp_path):
    import zmq

    fake = FakeExecute(zmq.ZMQError(errno.EADDRINUSE), RuntimeError("Kernel died before replying to kernel_info"))
    out = child.run_job_in_process(_spec(tmp_path, mode="ok"), execute=fake)
    assert out == {"status": "ok", "attempts": 3} and fake.calls == 3
    assert (tmp_path / "staging" / "probe.html").is_file()


def test_kernel_start_failures_give_up_after_two_retries(tmp_path):
    fake = FakeExecute(*[TimeoutError("Kernel didn't respond in 60 seconds") for _ in range(5)])
    out = child.run_job_in_process(_spec(tmp_path), execute=fake)
    assert fake.calls == 3
    assert out["status"] == "failed" and out["error_name"] == "TimeoutError" and out["attempts"] == 3


def test_failures_after_a_cell_started_are_not_retried(tmp_path):
    from nbclient.exceptions import DeadKernelError

    fake = FakeExecute(DeadKernelError("Kernel died"), start_cell_before={1})
    out = child.run_job_in_process(_spec(tmp_path), execute=fake)
    assert fake.calls == 1
    assert out["status"] == "dead_kernel" and out["error_cell"] == {"index": 3, "source": "print(1)"}
    fake = FakeExecute(RuntimeError("Kernel died before replying to kernel_info"), start_cell_before={1})
    assert child.run_job_in_process(_spec(tmp_path), execute=fake)["status"] == "failed" and fake.calls == 1


def test_other_errors_are_not_retried(tmp_path):
    fake = FakeExecute(KeyError("python3"))
    out = child.run_job_in_process(_spec(tmp_path), execute=fake)
    assert fake.calls == 1 and out["status"] == "failed" and out["error_name"] == "KeyError"


def test_missing_sentinel_fails(tmp_path):
    class NoSentinel(FakeExecute):
        def __call__(self, template, output, **kw):
            super().__call__(template, output, **kw)
            return v4.new_notebook(cells=[v4.new_code_cell("x = 1")])

    out = child.run_job_in_process(_spec(tmp_path), execute=NoSentinel())
    assert out["status"] == "failed" and out["error_name"] == "MissingSentinel"
    assert not (tmp_path / "staging" / "probe.html").exists()


def test_unknown_parameters_fail_before_execution(tmp_path):
    fake = FakeExecute()
    out = child.run_job_in_process(_spec(tmp_path, mode="ok", unti="AFR"), execute=fake)
    assert fake.calls == 0
    assert out["status"] == "failed" and out["error_name"] == "UnknownParameter" and "unti" in out["error_value"]


def test_is_start_failure_classification():
    from nbclient.exceptions import CellTimeoutError

    assert child.is_start_failure(OSError(errno.EADDRINUSE, "Address already in use"), False)
    assert not child.is_start_failure(OSError(errno.ENOENT, "No such file"), False)
    assert not child.is_start_failure(CellTimeoutError("cell timed out"), False)
    assert not child.is_start_failure(ValueError("kernel"), False)
    assert not child.is_start_failure(TimeoutError("Kernel didn't respond"), True)
