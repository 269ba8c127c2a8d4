"""The whole analytics bundle on the sample bureau and on a hand-made unit."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import minimal_unit

from rbm_utils.analytics import bureau as analysis
from rbm_utils.core.config import load_config
from rbm_utils.core.schema import conform

CFG = load_config()


def _bureau(units):
    from rbm_utils.demo.sample import sample_unit

    parts: dict[str, list[pd.DataFrame]] = {}
    for code in units:
        _, frames = sample_unit(CFG, code)
        for name, df in frames.items():
            parts.setdefault(name, []).append(df.assign(unit_code=code))
    return {k: conform(k, pd.concat(v, ignore_index=True), with_unit=True) for k, v in parts.items()}


@pytest.fixture(scope="module")
def sample_state():
    return _bureau(["AFR", "ASP", "CYB", "DIN"])


@pytest.fixture(scope="module")
def sample_results(sample_state):
    return analysis.analyse(sample_state, "2026-Q3", CFG)


def test_every_table_is_computed_on_the_sample(sample_state, sample_results):
    for key in (
        "progress",
        "series",
        "assumptions",
        "risks",
        "red_flags",
        "money",
        "burn",
        "flows",
        "activities",
        "linkages",
        "scaleup_scores",
        "agenda",
        "changes",
        "nodes",
        "edges",
    ):
        assert not sample_results[key].empty, key
    assert len(sample_results["progress"]) == len(sample_state["KPIs"])
    assert set(analysis.PUBLISHED_TABLES.values()) <= set(sample_results)
    assert set(analysis.OVERVIEW_TABLES.values()) <= set(sample_results)
    # roll-up counts add up to the number of KPIs per unit
    ru = sample_results["rollup_unit"].set_index("unit_code")["n_kpis"]
    assert ru.to_dict() == sample_state["KPIs"].groupby("unit_code").size().to_dict()


def test_the_action_plan_rollup_covers_the_whole_bureau(sample_results, sample_state):
    """Every listed programme has a row; the KPIs, results and year's money of the bureau are
    all counted under some programme (the sample writes a programme on every result)."""
    plan = load_config().action_plan
    p = sample_results["programmes"]
    assert p["programme"].tolist() == list(plan.programmes)
    assert p["programme_name"].tolist() == list(plan.programmes.values())
    assert p["n_kpis"].sum() == len(sample_results["progress"]) and p["n_results"].sum() == len(sample_state["Results"])
    money = sample_results["money"]
    assert p["budget_year"].sum() == pytest.approx(money["budget_year"].sum())
    assert p["staff_months_used_year"].sum() == pytest.approx(money["staff_months_used_year"].sum())
    # both regional offices work on broadband, filed under affordable connectivity
    assert p.set_index("programme").loc["connectivity", "units"].split(", ")[:2] == ["AFR", "ASP"]


def test_agenda_holds_every_off_track_kpi(sample_results):
    prog = sample_results["progress"]
    off = set(prog.loc[prog.status == "off_track", "kpi_id"])
    assert off, "the sample has off-track KPIs"
    agenda = sample_results["agenda"]
    assert off <= set(agenda.loc[agenda.kind == "kpi_off_track", "item_id"])


def test_unit_view_keeps_one_unit(sample_results):
    view = analysis.unit_view(sample_results, "CYB")
    assert set(view["progress"].unit_code) == {"CYB"}
    assert set(view["risks"].unit_code) == {"CYB"}


def test_joint_pairs_and_view(sample_state, sample_results):
    pairs = analysis.joint_pairs(sample_state, CFG)
    assert set(pairs.cluster) <= {"CYB", "DIN"} and set(pairs.region) <= set(CFG.regions)
    row = pairs.iloc[0]
    jv = analysis.joint_view(sample_state, sample_results, row.cluster, row.region, CFG)
    assert set(jv["cluster_kpis_in_region"].region) <= {row.region}
    assert (jv["cluster_activities"].region == row.region).all()
    themes = set(CFG.unit(row.cluster).themes)
    assert set(jv["region_results"].theme) <= themes


def test_minimal_unit_hand_checked():
    unit, frames = minimal_unit()
    state = {k: conform(k, v.assign(unit_code="AFR"), with_unit=True) for k, v in frames.items()}
    res = analysis.analyse(state, "2026-Q3", CFG)
    k1 = res["progress"].set_index("kpi_id").loc["AFR-K1"]
    # sum KPI: 0 + 80 + 90 + 100 = 270 of 400 -> 0.675; linear expected 3/4 -> performance 0.9
    assert k1.current_value == pytest.approx(270)
    assert k1.achievement == pytest.approx(0.675)
    assert k1.status == "on_track"
    assert analysis.previous_quarter("2026-Q1") == "2025-Q4"
