"""The overview's ranked agenda and data health helpers (present/reports.py), on small frames."""

from __future__ import annotations

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.present import columns, reports

CFG = load_config()
Q = Quarter.parse("2026-Q3")


def agenda(n: int) -> pd.DataFrame:
    # listed in reverse rank order on purpose
    return pd.DataFrame({"item_id": [f"I{k}" for k in range(n, 0, -1)], "rank": list(range(n, 0, -1))})


def test_top_ten_then_the_rest_by_rank():
    ag = agenda(13)
    assert reports.agenda_top(ag)["rank"].tolist() == list(range(1, 11))
    assert reports.agenda_rest(ag)["rank"].tolist() == [11, 12, 13]
    assert reports.agenda_top(agenda(3))["item_id"].tolist() == ["I1", "I2", "I3"]
    assert reports.agenda_rest(agenda(3)).empty
    assert reports.agenda_top(None).empty and reports.agenda_rest(None).empty


def test_an_agenda_without_rank_keeps_its_order():
    ag = pd.DataFrame({"item_id": ["B", "A"]})
    assert reports.agenda_top(ag, 1)["item_id"].tolist() == ["B"]


def review(view: dict) -> reports.Review:
    return reports.Review(Q, CFG, {}, {}, view=view)


def test_data_health_short_reads_the_quarter_and_is_empty_when_absent():
    health = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR", "EUR"],
            "quarter": ["2026-Q2", "2026-Q3", "2026-Q3"],
            "kpis_due": [3, 3, 2],
            "score": [50.0, 80.0, 100.0],
            "missing": ["K1", "", ""],
        }
    )
    got = reports.data_health_short(review({"data_health": health}))
    assert list(got.columns) == list(columns.DATA_HEALTH_SHORT)
    assert got.values.tolist() == [["AFR", 80.0, ""], ["EUR", 100.0, ""]]
    absent = reports.data_health_short(review({}))
    assert absent.empty and list(absent.columns) == list(columns.DATA_HEALTH_SHORT)
