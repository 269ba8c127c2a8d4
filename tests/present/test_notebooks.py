"""The notebook templates: thin, parameters declared, and they run on the sample (nbval, lax)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest
import yaml

from rbm_utils.core.config import load_config

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CFG = load_config()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_templates_are_thin_and_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    for c in code:
        src = "".join(c["source"])
        assert not c.get("outputs"), "templates are kept without outputs"
        assert not re.search(r"^\s*(def|class|import os|open\()", src, re.M), src
        assert len(src.splitlines()) <= (8 if c is code[0] else 5), src
        # columns come from the named sets of rbm_utils.present.columns, not from literals
        assert not re.search(r'\[(\s*"\w+",){2,}', src), src
    assert "".join(code[-1]["source"]).strip() == "reports.done()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_templates_open_with_words_for_readers(path):
    """The opening says what the review is and where its figures come from, in readers' words:
    not how to run it, nor how the batch stores its figures."""
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown" and text.startswith("# ")
    assert "Where the figures come from" in text and "Provenance section" in text
    for word in ("papermill", "snapshot", "make run", "JupyterLab", "rbm review", "`", "docs/", "settings", "computed"):
        assert word not in text, word


def test_unit_parameter_files_match_the_template():
    declared = pm.inspect_notebook(str(ROOT / "notebooks" / "quarterly_review.ipynb"))
    files = sorted((ROOT / "parameters" / "units").glob("*.yaml"))
    assert {f.stem for f in files} == set(CFG.units)
    for f in files:
        params = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert isinstance(params, dict) and params["unit"] == f.stem
        unknown = set(params) - set(declared)
        assert not unknown, f"{f.name}: parameters not in the notebook: {unknown}"


def test_review_parameters_are_declared():
    """rbm review passes exactly parameters that each template declares."""
    for name, needed in (
        ("quarterly_review", {"unit", "quarter", "snapshot_dir", "config_path"}),
        ("joint_review", {"cluster", "region", "quarter", "snapshot_dir", "config_path"}),
        ("bdt_overview", {"quarter", "snapshot_dir", "config_path"}),
    ):
        declared = set(pm.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb")))
        assert needed <= declared, (name, needed - declared)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_nbval_runs_every_template_on_the_sample(sample_bureau):
    env = {**os.environ, "RBM_STORE": sample_bureau["store_url"]}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            *[str(p) for p in NOTEBOOKS],
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert re.search(r"\d+ passed", out.stdout)
