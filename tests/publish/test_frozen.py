"""Compute once, read everywhere: the batch freezes the quarter's analysis beside the snapshot,
the reviews read it and never recompute it, and the analysis refuses to run where it must not."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rbm_utils.analytics import bureau as analysis
from rbm_utils.analytics.finance import money_flows
from rbm_utils.analytics.risks import risk_heatmap
from rbm_utils.analytics.statement import results_statement
from rbm_utils.core.config import load_config
from rbm_utils.core.files import sha256_file
from rbm_utils.core.quarters import Quarter
from rbm_utils.present import reports
from rbm_utils.publish import frozen
from rbm_utils.publish.quarterly import plan_review
from rbm_utils.store.snapshot import load_snapshot, read_manifest

CFG = load_config()


@pytest.mark.parametrize("name", analysis.FROZEN_ONLY_ENV)
def test_analyse_refuses_to_run_in_a_batch_job_or_a_dashboard_kernel(monkeypatch, name):
    for other in analysis.FROZEN_ONLY_ENV:
        monkeypatch.delenv(other, raising=False)
    analysis.analyse({}, "2026-Q3", CFG)  # an ordinary process may compute
    monkeypatch.setenv(name, "1")
    with pytest.raises(RuntimeError, match=name):
        analysis.analyse({}, "2026-Q3", CFG)


@pytest.fixture(scope="module")
def planned(sample_bureau, tmp_path_factory):
    """The sample quarter frozen by the batch (snapshot and analysis), no notebook run."""
    out = tmp_path_factory.mktemp("frozen")
    plan = plan_review(sample_bureau["quarter"], all_units=True, store_url=sample_bureau["store_url"], outputs=out)
    q = str(plan.quarter)
    state, previous = frozen.split_previous(load_snapshot(plan.snapshot_dir))
    results = analysis.analyse(state, q, CFG, previous_state=previous or None)
    return {"plan": plan, "q": q, "dir": out / q / frozen.ANALYSIS_DIR, "state": state, "results": results}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_frozen_analysis_holds_every_table_of_analyse_and_equals_it(planned):
    fa = frozen.load_analysis(planned["dir"])
    assert set(fa.results) == set(planned["results"])
    for key, expected in planned["results"].items():
        pd.testing.assert_frame_equal(fa.results[key], expected, obj=key)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_per_unit_and_joint_tables_equal_what_the_reviews_computed(planned):
    fa = frozen.load_analysis(planned["dir"])
    state, results, q = planned["state"], planned["results"], planned["q"]
    for u in CFG.units:
        pd.testing.assert_frame_equal(
            frozen.unit_rows(fa.per_unit["flows"], u),
            money_flows(analysis.unit_state(state, u), q, programme_names=CFG.action_plan.programmes),
            obj=u,
        )
        pd.testing.assert_frame_equal(
            frozen.unit_rows(fa.per_unit["risk_heatmap"], u),
            risk_heatmap(analysis.unit_view(results, u)["risks"], CFG.thresholds),
            obj=u,
        )
        assert frozen.unit_rows(fa.per_unit["statement"], u)["statement"].tolist() == [
            results_statement(state, results["progress"], u, q, CFG.currency, money=results["money"])
        ]
    pairs = analysis.joint_pairs(state, CFG)
    assert fa.pairs == sorted(frozen.pair_name(p.cluster, p.region) for p in pairs.itertuples())
    for p in pairs.itertuples():
        got = fa.joint(p.cluster, p.region)
        for key, expected in analysis.joint_view(state, results, p.cluster, p.region, CFG).items():
            pd.testing.assert_frame_equal(got[key], expected, obj=f"{p.cluster}-{p.region} {key}")


@pytest.mark.slow
def test_the_manifest_names_its_snapshot_and_every_file(planned):
    plan = planned["plan"]
    manifest = json.loads((planned["dir"] / frozen.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["snapshot_content_sha256"] == read_manifest(plan.snapshot_dir)["content_sha256"]
    assert manifest["quarter"] == planned["q"] and manifest == plan.analysis_manifest
    files = {p.relative_to(planned["dir"]).as_posix() for p in planned["dir"].rglob("*.parquet")}
    assert files == {e["file"] for e in manifest["tables"].values()}
    for tid, entry in manifest["tables"].items():
        assert sha256_file(planned["dir"] / entry["file"]) == entry["sha256"], tid
        assert entry["rows"] == len(pd.read_parquet(planned["dir"] / entry["file"])), tid


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reviews_from_a_snapshot_read_the_frozen_analysis_and_never_compute(planned, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("analyse() called by a review that has a snapshot_dir")

    monkeypatch.setattr(analysis, "analyse", refuse)
    monkeypatch.setenv("RBM_FROZEN_ONLY", "1")
    snap, q, results = str(planned["plan"].snapshot_dir), planned["q"], planned["results"]
    r = reports.load_review("AFR", q, snap)
    assert r.quarter == Quarter.parse(q) and r.source.startswith("snapshot")
    for key, expected in analysis.unit_view(results, "AFR").items():
        pd.testing.assert_frame_equal(r.view[key], expected, obj=key)
    assert len(reports.unit_flows(r)) and int(reports.unit_heatmap(r)["n_risks"].sum()) >= 0
    assert "Results statement: AFR" in reports.statement(r).data
    o = reports.load_overview(q, snap)
    pd.testing.assert_frame_equal(reports.unit_heatmap(o), results["risk_heatmap"])
    j = reports.load_joint("CYB", "AFR", q, snap)
    assert set(j.joint) == set(frozen.JOINT_TABLES) and len(j.joint["cluster_kpis_in_region"])


def test_an_unchanged_analysis_is_left_alone_and_a_changed_one_swapped_whole(tmp_path):
    snap = {"quarter": "2026-Q3", "content_sha256": "a" * 64}
    results = {"progress": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "status": [None]})}
    per_unit = {"flows": pd.DataFrame({"unit_code": ["AFR"], "amount": [1.5]})}
    first = frozen.freeze_analysis(tmp_path, snap, results, per_unit, {})
    stamp = (tmp_path / "analysis" / "manifest.json").stat().st_mtime_ns
    assert frozen.freeze_analysis(tmp_path, snap, results, per_unit, {}) == first
    assert (tmp_path / "analysis" / "manifest.json").stat().st_mtime_ns == stamp
    fa = frozen.load_analysis(tmp_path / "analysis", snapshot_content_sha256="a" * 64)
    pd.testing.assert_frame_equal(fa.results["progress"], results["progress"])
    changed = {"progress": results["progress"].assign(status=["on_track"])}
    second = frozen.freeze_analysis(tmp_path, snap, changed, per_unit, {})
    assert second["content_sha256"] != first["content_sha256"]
    assert frozen.load_analysis(tmp_path / "analysis").results["progress"]["status"].tolist() == ["on_track"]
    archived = list((tmp_path / "archive").glob("*/analysis/manifest.json"))
    assert [json.loads(p.read_text())["content_sha256"] for p in archived] == [first["content_sha256"]]
    assert not list(tmp_path.glob(".analysis-tmp-*"))


def test_a_stale_or_altered_analysis_is_refused(tmp_path):
    snap = {"quarter": "2026-Q3", "content_sha256": "a" * 64}
    frozen.freeze_analysis(tmp_path, snap, {"progress": pd.DataFrame({"unit_code": ["AFR"]})}, {}, {})
    with pytest.raises(frozen.FrozenAnalysisError, match="computed from snapshot"):
        frozen.load_analysis(tmp_path / "analysis", snapshot_content_sha256="b" * 64)
    pd.DataFrame({"unit_code": ["CYB"]}).to_parquet(tmp_path / "analysis" / "progress.parquet")
    with pytest.raises(frozen.FrozenAnalysisError, match="does not match its manifest"):
        frozen.load_analysis(tmp_path / "analysis")
    with pytest.raises(frozen.FrozenAnalysisError, match="no frozen analysis"):
        frozen.load_analysis(tmp_path / "nowhere")
