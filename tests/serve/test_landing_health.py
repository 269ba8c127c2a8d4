"""The landing page shows each unit's data health score, read from its published data_health table."""

from __future__ import annotations

import json

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.serve import data
from rbm_utils.serve.pages import landing

CFG = load_config()
Q = "2026-Q3"


def _publish(out, unit: str, score: float | None) -> None:
    folder = out / Q / unit
    folder.mkdir(parents=True)
    pd.DataFrame({"unit_code": [unit], "status": ["on_track"]}).to_parquet(folder / "kpi_progress.parquet")
    if score is not None:
        pd.DataFrame({"unit_code": [unit], "quarter": [Q], "score": [score], "missing": [""]}).to_parquet(
            folder / "data_health.parquet"
        )


def test_landing_shows_the_published_score_per_unit(tmp_path) -> None:
    out = tmp_path / "outputs"
    (out / Q / "snapshot").mkdir(parents=True)
    (out / Q / "snapshot" / "manifest.json").write_text("{}")
    _publish(out, "AFR", 87.46)
    _publish(out, "AMS", None)  # published before data health existed
    (out / Q / "run_report.json").write_text(json.dumps({"jobs": [{"name": "AFR", "status": "ok"}]}))

    badges = data.unit_badges(out, Q, CFG).set_index("unit_code")
    assert badges.loc["AFR", "data_health"] == 87.46
    assert pd.isna(badges.loc["AMS", "data_health"]) and pd.isna(badges.loc["CYB", "data_health"])

    page = landing.landing_html(out, Q, CFG)
    assert "data health</button></th>" in page
    assert '<span class="rbm-health">87/100</span>' in page
    assert page.count('class="rbm-health"') == 1  # only AFR published a score


def test_health_score_takes_the_row_of_the_quarter() -> None:
    table = pd.DataFrame({"quarter": ["2026-Q2", Q], "score": [40.0, 90.0]})
    assert data.health_score(table, Q) == 90.0
    assert data.health_score(table, "2026-Q1") is None
    assert data.health_score(pd.DataFrame({"quarter": [Q], "score": [float("nan")]}), Q) is None
