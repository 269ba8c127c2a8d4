"""The landing page's columns for the between-review refresh: per unit the submission its
published figures come from, when a refresh last republished them, and whether a refresh is
queued, running or failed (in words, with the failure's message and no traceback), read from a
``refresh.json`` written here."""

from __future__ import annotations

import json
import re

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.publish.refresh_state import UnitRefresh, write_refresh_state
from rbm_utils.serve import data
from rbm_utils.serve.pages import landing

CFG = load_config()
Q = "2026-Q3"


def _site(tmp_path):
    out = tmp_path / "outputs"
    (out / Q / "snapshot").mkdir(parents=True)
    (out / Q / "snapshot" / "manifest.json").write_text("{}")
    (out / Q / "run_report.json").write_text(
        json.dumps({"jobs": [{"name": u, "status": "ok"} for u in ("AFR", "EUR", "CYB")]})
    )
    for unit, (sid, who, at) in {
        "AFR": (12, "Awa <b>Diop</b>", "2026-10-12T09:30:00Z"),
        "EUR": (5, "Eva", "2026-10-02T14:00:00Z"),
        "CYB": (9, "Chen", "2026-10-05T08:15:00Z"),
    }.items():
        f = out / Q / unit
        f.mkdir(parents=True)
        pd.DataFrame({"unit_code": [unit], "status": ["on_track"]}).to_parquet(f / "kpi_progress.parquet")
        pd.DataFrame(
            {"unit_code": [unit], "quarter": [Q], "submission_id": [sid], "submitted_by": [who], "ingested_at": [at]}
        ).to_parquet(f / "provenance.parquet")
    write_refresh_state(
        out,
        Q,
        {
            "AFR": UnitRefresh("AFR", "done", 12, "Awa", "2026-10-12T09:30:00Z", finished_at="2026-10-12T09:34:00Z"),
            "EUR": UnitRefresh("EUR", "failed", 6, "Eva", message="the notebook of EUR stopped: no KPI sheet"),
            "CYB": UnitRefresh("CYB", "queued", 10, "Chen"),
        },
    )
    return out


def _row(page: str, unit: str) -> str:
    return re.search(rf'<tr data-unit="{unit}".*?</tr>', page).group(0)


def test_unit_rows_carry_the_figures_submission_and_the_refresh(tmp_path):
    b = data.unit_badges(_site(tmp_path), Q, CFG).set_index("unit_code")
    assert b.loc["AFR", ["submission_id", "refresh", "refreshed_at"]].tolist() == [12, "done", "2026-10-12T09:34:00Z"]
    assert b.loc["EUR", ["submission_id", "refresh", "refreshed_at"]].tolist() == [5, "failed", ""]
    assert b.loc["EUR", "refresh_message"] == "the notebook of EUR stopped: no KPI sheet"
    assert b.loc["CYB", ["refresh", "refresh_submission"]].tolist() == ["queued", 10]
    assert b.loc["ASP", "refresh"] == "" and pd.isna(b.loc["ASP", "submission_id"])  # not reviewed, never refreshed


def test_the_page_says_each_refresh_in_words_with_its_colour(tmp_path):
    page = landing.landing_html(_site(tmp_path), Q, CFG)
    afr, eur, cyb, asp = (_row(page, u) for u in ("AFR", "EUR", "CYB", "ASP"))
    assert "submission 12 by Awa &lt;b&gt;Diop&lt;/b&gt;, 2026-10-12 09:30 UTC; refreshed 2026-10-12 09:34 UTC" in afr
    assert "<b>Diop" not in page  # the officer's name is escaped
    assert "Up to date" in afr and "#009E73" in afr
    assert "Refresh failed" in eur and "no KPI sheet" in eur and "the last good ones" in eur and "#D55E00" in eur
    assert "Traceback" not in eur
    assert "submission 5 by Eva" in eur  # the figures shown are still the last good draft's
    assert "Refresh queued" in cyb and "(submission 10)" in cyb
    assert "no refresh since the review" in asp
    assert len(re.findall(r'<td data-sort="([^"]*)">', afr)) == len(landing.UNIT_COLUMNS)
    sort_keys = re.findall(r'<td data-sort="([^"]*)">', afr)
    assert sort_keys[-2:] == ["2026-10-12T09:34:00Z", "done"]  # sortable by when, and by refresh state
