"""rbm review end to end on the sample bureau: snapshot, notebooks, atomic publish, reruns."""

from __future__ import annotations

import dataclasses
import json

import nbformat
import pandas as pd
import plotly.offline
import pytest

from rbm_utils.analytics import bureau as analysis
from rbm_utils.core.config import load_config
from rbm_utils.publish import assets, frozen
from rbm_utils.publish.frozen import split_previous
from rbm_utils.publish.jobs import Job
from rbm_utils.publish.quarterly import ReviewError, plan_review, review_quarter
from rbm_utils.publish.runner import run_notebooks
from rbm_utils.store.snapshot import load_snapshot

CFG = load_config()
from factories import PLOTLYJS_HEADER, PROBE, tree_state  # noqa: E402


@pytest.fixture(scope="module")
def published(sample_bureau, tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    report = review_quarter(
        sample_bureau["quarter"],
        all_units=True,
        joint=["CYB-AFR"],
        store_url=sample_bureau["store_url"],
        outputs=out,
        workers=3,
        progress=False,
    )
    return out, report


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_unit_and_the_overview_are_published(published, sample_bureau):
    out, report = published
    q = sample_bureau["quarter"]
    assert report["ok"], report
    names = {j["name"]: j for j in report["jobs"]}
    assert set(names) == set(CFG.units) | {"joint-CYB-AFR", "overview"}
    assert all(j["status"] == "ok" for j in names.values())
    assert report["jobs"][-1]["name"] == "overview"  # the overview runs last
    for unit in CFG.units:
        d = out / q / unit
        for f in (
            "quarterly_review.ipynb",
            "quarterly_review.html",
            "kpi_progress.parquet",
            "assumption_tests.parquet",
            "risks.parquet",
            "money.parquet",
            "decisions.parquet",
            "approvals.parquet",
            "framework_changes.parquet",
            "learning.parquet",
            "inputs.json",
        ):
            assert (d / f).is_file(), (unit, f)
    for f in ("decisions", "approvals", "framework_changes", "learning", "programmes"):
        assert (out / q / "overview" / f"{f}.parquet").is_file(), f
    assert not any((out / q / unit / "programmes.parquet").exists() for unit in CFG.units)  # bureau-wide only
    assert (out / q / "joint" / "CYB-AFR" / "joint_review.html").is_file()
    assert (out / q / "overview" / "bdt_overview.html").is_file()
    manifest = json.loads((out / q / "snapshot" / "manifest.json").read_text())
    assert manifest["content_sha256"] == report["snapshot_content_sha256"]
    analysed = json.loads((out / q / "analysis" / "manifest.json").read_text())
    assert analysed["snapshot_content_sha256"] == manifest["content_sha256"]
    assert analysed["content_sha256"] == report["analysis_content_sha256"]


@pytest.mark.slow
def test_joint_tables_are_published_beside_the_joint_review(published, sample_bureau):
    out, _ = published
    q = sample_bureau["quarter"]
    assert "CYB-AFR" in frozen.load_analysis(out / q / "analysis").pairs
    for key in frozen.JOINT_TABLES:
        got = pd.read_parquet(out / q / "joint" / "CYB-AFR" / f"{key}.parquet")
        expected = pd.read_parquet(out / q / "analysis" / "joint" / "CYB-AFR" / f"{key}.parquet")
        pd.testing.assert_frame_equal(got, expected, obj=key)


@pytest.mark.slow
def test_the_review_loop_is_published_per_unit(published, sample_bureau):
    """decisions.parquet holds at least the issue's columns; each unit's approvals row is its own;
    a joint decision of the pair is published beside the joint review."""
    out, _ = published
    q = sample_bureau["quarter"]
    for unit in CFG.units:
        dec = pd.read_parquet(out / q / unit / "decisions.parquet")
        needed = {"decision_id", "concerns", "kind", "owner", "due_quarter", "status", "overdue"}
        assert needed <= set(dec.columns), unit
        assert set(dec["unit_code"]) <= {unit}
        approvals = pd.read_parquet(out / q / unit / "approvals.parquet")
        assert set(approvals["unit_code"]) <= {unit} and len(approvals) <= 1
    joint = pd.read_parquet(out / q / "joint" / "CYB-AFR" / "decisions.parquet")
    assert set(joint["unit_code"]) <= {"CYB", "AFR"} and set(joint["other_unit"]) <= {"CYB", "AFR"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_notebook_run_of_the_batch_cannot_compute_the_analysis(sample_bureau, tmp_path):
    """The review notebooks publish fine above although analyse() refuses to run in a batch job."""
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [
        nbformat.v4.new_code_cell('quarter = "2026-Q3"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "from rbm_utils.analytics import bureau\n"
            "from rbm_utils.core.config import load_config\n"
            "bureau.analyse({}, quarter, load_config())"
        ),
        nbformat.v4.new_code_cell('print("RBM-REVIEW-COMPLETE")'),
    ]
    template = tmp_path / "recompute.ipynb"
    nbformat.write(nb, template)
    job = Job("recompute", template, {"quarter": sample_bureau["quarter"]}, tmp_path / "out" / "recompute")
    [result] = run_notebooks([job], workers=1, job_timeout=240, staging_root=tmp_path / ".staging", progress=False)
    assert result.status == "failed" and result.error_name == "RuntimeError", result
    assert "frozen" in (result.error_value or "")


@pytest.mark.slow
def test_html_has_no_code_and_renders_offline(published, sample_bureau):
    out, _ = published
    html = (out / sample_bureau["quarter"] / "AFR" / "quarterly_review.html").read_text(encoding="utf-8")
    for code in ("reports.load_review", "from rbm_utils", "reports.done()", "snapshot_dir ="):
        assert code not in html
    assert "RBM-REVIEW-COMPLETE" not in html
    assert "cdn.plot.ly/plotly" not in html and '<script src="http' not in html
    assert html.count("PlotlyConfig") <= 1  # plotly.js once per page
    assert "Regional Office for Africa" in html
    # plotly.js is not in the page: the page loads the quarter's asset, written from the installed package
    name = assets.plotly_asset_name()
    assert PLOTLYJS_HEADER not in html and len(html.encode()) < assets.plotly_js_size() / 3
    assert len(html.encode()) <= 1.5 * 1024 * 1024
    assert assets.page_asset_refs(html) == [f"../assets/{name}"]
    asset = out / sample_bureau["quarter"] / assets.ASSETS_DIR / name
    assert name.startswith(f"plotly-{plotly.offline.get_plotlyjs_version()}.")
    assert asset.read_bytes() == plotly.offline.get_plotlyjs().encode("utf-8")
    assert [p.name for p in asset.parent.iterdir()] == [name]  # once per quarter


@pytest.mark.slow
def test_published_tables_equal_the_snapshot_analysis(published, sample_bureau):
    out, _ = published
    q = sample_bureau["quarter"]
    state, previous = split_previous(load_snapshot(out / q / "snapshot"))
    expected = analysis.unit_view(analysis.analyse(state, q, CFG, previous_state=previous), "CYB")["progress"]
    got = pd.read_parquet(out / q / "CYB" / "kpi_progress.parquet")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_rerun_without_force_changes_nothing_and_force_archives(published, sample_bureau):
    out, _ = published
    q = sample_bureau["quarter"]
    before = tree_state(out / q, skip=("archive", "run_report.json"))
    report = review_quarter(
        q, units=["AFR", "CYB"], joint=[], store_url=sample_bureau["store_url"], outputs=out, progress=False
    )
    assert {j["status"] for j in report["jobs"]} == {"skipped_unchanged"}
    assert tree_state(out / q, skip=("archive", "run_report.json")) == before
    report = review_quarter(
        q, units=["AFR"], joint=[], store_url=sample_bureau["store_url"], outputs=out, progress=False, force=True
    )
    assert [j["status"] for j in report["jobs"]] == ["ok", "ok"]
    assert any(p.name.startswith("AFR-") for p in (out / q / "archive").iterdir())


def test_selection_errors(sample_bureau, tmp_path):
    with pytest.raises(ReviewError):
        plan_review(sample_bureau["quarter"], store_url=sample_bureau["store_url"], outputs=tmp_path)
    with pytest.raises(ReviewError, match="no submission"):
        plan_review(
            sample_bureau["quarter"],
            units=["AFR"],
            store_url=f"sqlite:///{tmp_path / 'empty.sqlite'}",
            outputs=tmp_path,
        )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_failing_units_never_stop_the_others(sample_bureau, tmp_path):
    q = sample_bureau["quarter"]
    plan = plan_review(
        q,
        units=["AFR", "AMS", "ARB", "CYB"],
        joint=[],
        store_url=sample_bureau["store_url"],
        outputs=tmp_path,
        overview=False,
    )
    jobs = list(plan.jobs)
    # AFR: a planted exception inside the real review (an unknown unit); AMS: its kernel is killed
    jobs[0] = dataclasses.replace(jobs[0], parameters={**jobs[0].parameters, "unit": "NOPE"})
    jobs[1] = dataclasses.replace(jobs[1], template=PROBE, parameters={"mode": "kill"}, extra_files=None)
    results = {
        r.name: r
        for r in run_notebooks(jobs, workers=3, job_timeout=300, staging_root=tmp_path / ".staging", progress=False)
    }
    assert results["AFR"].status == "failed" and results["AFR"].error_name == "ConfigError"
    assert results["AMS"].status == "dead_kernel"
    assert results["ARB"].status == "ok" and results["CYB"].status == "ok"
    assert not (tmp_path / q / "AFR").exists() and not (tmp_path / q / "AMS").exists()
    assert (tmp_path / q / "ARB" / "quarterly_review.html").is_file()
