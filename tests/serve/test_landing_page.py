"""The landing page, a manager's start: per unit the approval state, data health, KPI status
counts, red flags, open and overdue decisions and what changed since last quarter, sortable and
filterable; the bureau's ten items needing decisions on top. Built from hand-made published tables."""

from __future__ import annotations

import json
import re

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.serve import data
from rbm_utils.serve.pages import landing

CFG = load_config()
Q = "2026-Q3"


def _site(tmp_path):
    out = tmp_path / "outputs"
    (out / Q / "snapshot").mkdir(parents=True)
    (out / Q / "snapshot" / "manifest.json").write_text("{}")
    (out / Q / "run_report.json").write_text(
        json.dumps({"jobs": [{"name": "AFR", "status": "ok"}, {"name": "EUR", "status": "ok"}]})
    )
    for unit, statuses in {"AFR": ["off_track", "on_track", "on_track"], "EUR": ["at_risk"]}.items():
        f = out / Q / unit
        f.mkdir(parents=True)
        pd.DataFrame({"unit_code": unit, "status": statuses}).to_parquet(f / "kpi_progress.parquet")
    afr = out / Q / "AFR"
    pd.DataFrame(
        {"unit_code": ["AFR"], "quarter": [Q], "state": ["pending"], "approved_by": ["A. Director"], "n_pending": [2]}
    ).to_parquet(afr / "approvals.parquet")
    pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR", "AFR", "AFR"],
            "decision_id": ["D1", "D2", "D3", "D4"],
            "status": ["open", "in_progress", "done", "dropped"],
            "overdue": [True, False, True, True],  # overdue but closed decisions do not count
        }
    ).to_parquet(afr / "decisions.parquet")
    pd.DataFrame({"unit_code": "AFR", "direction": ["better", "worse", "worse", "same", "new"]}).to_parquet(
        afr / "changes.parquet"
    )
    pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"]}).to_parquet(afr / "red_flags.parquet")
    agenda = pd.DataFrame(
        {
            "rank": list(range(12, 0, -1)),
            "unit_code": ["AFR"] * 6 + ["EUR"] * 6,
            "kind": ["risk_red_flag"] * 12,
            "title": [f"item {r}" for r in range(12, 0, -1)],
            "owner": "owner",
            "question": "decide?",
        }
    )
    agenda[agenda["unit_code"] == "AFR"].to_parquet(afr / "agenda.parquet")
    agenda[agenda["unit_code"] == "EUR"].to_parquet(out / Q / "EUR" / "agenda.parquet")
    return out


def test_unit_rows_carry_approval_decisions_and_changes(tmp_path):
    b = data.unit_badges(_site(tmp_path), Q, CFG).set_index("unit_code")
    assert b.loc["AFR", ["approval", "approved_by", "n_pending"]].tolist() == ["pending", "A. Director", 2]
    assert b.loc["AFR", ["open_decisions", "overdue_decisions"]].tolist() == [2, 1]
    assert b.loc["AFR", ["better", "worse", "new"]].tolist() == [1, 2, 1]
    assert b.loc["EUR", "approval"] == "draft"  # published without an approvals table: not approved
    assert b.loc["CYB", "approval"] == "" and b.loc["CYB", "publication"] == "not reviewed"


def test_the_page_shows_every_unit_in_words_with_sort_keys(tmp_path):
    page = landing.landing_html(_site(tmp_path), Q, CFG)
    assert page.count("<tr data-unit=") == len(CFG.units)
    afr = re.search(r'<tr data-unit="AFR".*?</tr>', page).group(0)
    assert "Pending escalation" in afr and "(2 changes for the bureau)" in afr
    assert "2 open" in afr and "1 overdue" in afr and "1 red flag" in afr
    assert "1 better, 2 worse, 1 new" in afr
    assert "Off track 1" in afr and "On track 2" in afr  # status in words beside the colour
    cells = re.findall(r'<td data-sort="([^"]*)">', afr)
    assert len(cells) == len(landing.UNIT_COLUMNS)
    assert cells[0] == "AFR" and cells[8:11] == ["2", "1", "2"]  # open, overdue, worse
    assert page.count('class="rbm-sort"') == len(landing.UNIT_COLUMNS)  # every heading is a sort button
    assert 'class="rbm-filter"' in page and 'class="rbm-filter-type"' in page


def test_the_ten_items_needing_decisions_come_first_by_rank(tmp_path):
    page = landing.landing_html(_site(tmp_path), Q, CFG)
    top = page[page.index("ten items needing decisions") : page.index('id="rbm-units-heading"')]
    assert re.findall(r"item (\d+)", top) == [str(r) for r in range(1, 11)]  # ranks 1-10 across units
    assert page.index("ten items needing decisions") < page.index("<tr data-unit=")
    assert "Risk red flag" in top  # the kind in words


def test_nothing_published_has_no_agenda(tmp_path):
    assert data.top_agenda(tmp_path / "none", Q, CFG).empty
