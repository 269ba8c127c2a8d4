"""Benchmarks in the overview: other organisations' IATI results beside the bureau's KPIs on
the same theme, or one line when none was imported."""

from __future__ import annotations

import dataclasses
from html import escape as html_escape
from types import SimpleNamespace

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.intake.iati import COLUMNS
from rbm_utils.present.benchmarks import NO_BENCHMARK, benchmark_table, load_benchmarks, overview_benchmarks
from rbm_utils.serve.pages.overview import benchmarks_html

CFG = load_config()


def _bench(**over) -> pd.DataFrame:
    rows = [
        {"indicator": "Schools online", "period_end": "2024-12-31", "target": 30.0, "actual": 28.0},
        {"indicator": "Schools online", "period_end": "2025-12-31", "target": 40.0, "actual": 41.0},
        {"indicator": "Schools online", "period_end": "2026-12-31", "target": 50.0, "actual": None},
        {"indicator": "Schools online", "period_end": "2025-12-31", "dimension": "sex=female", "actual": 20.0},
        {
            "indicator": "Trust",
            "period_end": "2025-12-31",
            "target": 3.0,
            "actual": None,
            "theme": "other",
            "warnings": "a; b",
        },
    ]
    base = {c: None for c in COLUMNS} | {
        "source_org": "Org <b>",
        "activity_id": "XM-9-1",
        "indicator_ref": "",
        "dimension": "",
        "theme": "Broadband",
        "warnings": "",
    }
    return pd.DataFrame([base | r | over for r in rows])


KPIS = pd.DataFrame(
    {
        "unit_code": ["NDI", "NDI", "AFR"],
        "kpi_id": ["K1", "K2", "K9"],
        "name": ["Schools connected", "Towers", "Other"],
        "theme": ["broadband", "broadband", "gender"],
        "current_value": [120.0, 3.5, 1.0],
        "target_value": [300.0, 10.0, 2.0],
        "status": ["on_track", "off_track", "on_track"],
    }
)


def test_one_row_per_indicator_at_its_latest_actual_beside_the_kpis_of_its_theme():
    t = benchmark_table(_bench(), KPIS)
    assert t["indicator"].tolist() == ["Schools online", "Trust"]
    schools = t.iloc[0]
    assert (schools["period_end"], schools["target"], schools["actual"]) == ("2025-12-31", 40.0, 41.0)
    assert (
        schools["bureau_kpis"]
        == "NDI K1 Schools connected: 120 of 300 (On track); NDI K2 Towers: 3.50 of 10 (Off track)"
    )
    trust = t.iloc[1]  # no actual at all: its latest period; no KPI on its theme
    assert trust["period_end"] == "2025-12-31" and trust["bureau_kpis"] == "no KPI of the bureau on this theme"
    assert trust["warnings"] == "2 warning(s)"


def test_the_overview_reads_the_settings_folder_and_says_so_when_empty(tmp_path):
    cfg = dataclasses.replace(CFG, iati=CFG.iati.model_copy(update={"benchmarks_dir": str(tmp_path)}))
    assert overview_benchmarks(cfg, KPIS).empty
    dash = SimpleNamespace(state=SimpleNamespace(quarter="2026-Q3", tables={"progress": KPIS}, config=cfg))
    assert html_escape(NO_BENCHMARK) in benchmarks_html(dash)
    _bench().to_parquet(tmp_path / "org.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    assert set(load_benchmarks(tmp_path)["benchmark"]) == {"org"}  # the unreadable file is skipped
    html = benchmarks_html(dash)
    assert "Schools online" in html and "Org &lt;b&gt;" in html and "<b>" not in html
