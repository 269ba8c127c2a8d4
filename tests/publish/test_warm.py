"""The warm job server (``rbm_utils.publish.warm`` preloaded by the runner's forkserver): a job
forked from it runs with the runner's environment and working folder of the moment, not the
server's, and no server outlives the batch."""

from __future__ import annotations

import json
import multiprocessing.forkserver
import os
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from rbm_utils.publish.jobs import SENTINEL, Job
from rbm_utils.publish.runner import job_context, job_server, run_notebooks

pytestmark = pytest.mark.skipif(job_context().get_start_method() != "forkserver", reason="no forkserver here")


def where_template(path: Path) -> Path:
    """A template printing the job's environment value, working folder and marker as JSON."""
    params = v4.new_code_cell('unit = ""')
    params.metadata["tags"] = ["parameters"]
    probe = v4.new_code_cell(
        "import json, os\n"
        "print(json.dumps({'value': os.environ.get('RBM_WARM_TEST'), 'cwd': os.getcwd(),"
        " 'marked': 'RBM_BATCH_JOB' in os.environ}))"
    )
    nb = v4.new_notebook(cells=[params, probe, v4.new_code_cell(f"print({SENTINEL!r})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def seen(out: Path) -> dict:
    nb = nbformat.read(out / "where.ipynb", as_version=4)
    (probe,) = [c for c in nb.cells if "RBM_WARM_TEST" in c.source]  # papermill added a parameters cell
    return json.loads(probe.outputs[0]["text"])


def server_pid() -> int | None:
    return getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)


def test_a_job_takes_the_runners_environment_and_folder_of_the_moment(tmp_path, monkeypatch):
    template = where_template(tmp_path / "where.ipynb")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("RBM_WARM_TEST", "before")
    monkeypatch.chdir(first)
    with job_server(start=True):  # the server starts now, with "before" and the first folder
        pid = server_pid()
        assert pid is not None
        monkeypatch.setenv("RBM_WARM_TEST", "after")
        monkeypatch.chdir(second)
        res = run_notebooks(
            [Job("AFR", template, {"unit": "AFR"}, tmp_path / "out" / "AFR")],
            staging_root=tmp_path / "staging",
            progress=False,
        )
        assert server_pid() == pid  # the same server, started before the environment changed
    assert res[0].status == "ok", res[0]
    assert seen(tmp_path / "out" / "AFR") == {"value": "after", "cwd": str(second), "marked": True}
    # the batch is over: the server was stopped and reaped, no process of it is left
    assert server_pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
