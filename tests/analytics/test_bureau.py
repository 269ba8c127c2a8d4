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
    # the money is the cluster's share in the region, never the outputs' whole money
    regional = sample_results["regional_money"]
    mine = regional[(regional.unit_code == row.cluster) & (regional.region == row.region)]
    assert jv["money"]["spent_year"].sum() == pytest.approx(mine["spent_year"].sum())
    assert set(jv["money"]["basis"]) <= {"lines", "activities"}
    total = jv["money_summary"].set_index(["scope", "basis"]).loc[("cluster total", "all")]
    cluster_money = sample_results["money"][sample_results["money"].unit_code == row.cluster]
    assert total.spent_year == pytest.approx(cluster_money["spent_year"].sum())
    assert total.budget_year == pytest.approx(cluster_money["budget_year"].sum())


def test_cyb_splits_its_fund_money_between_the_regions_of_its_activities(sample_results):
    """CYB books the ICT Development Fund money of CYB-O1 by region (EUR and AFR, where its two
    activities are); its regular budget is shared by the activities, half each."""
    m = sample_results["regional_money"]
    o1 = m[(m.unit_code == "CYB") & (m.result_id == "CYB-O1")]
    assert set(zip(o1.region, o1.basis)) == {
        ("EUR", "lines"),
        ("AFR", "lines"),
        ("EUR", "activities"),
        ("AFR", "activities"),
    }
    assert set(o1.loc[o1.basis == "activities", "share"]) == {0.5}
    din = m[m.unit_code == "DIN"]
    assert set(din.basis) <= {"activities", "unattributed"} and len(din)


def _related_items(state, results, cluster, region, jv):
    """(unit, item_id) an agenda item of the pair may have, and the results each unit's items may touch."""
    themes = set(CFG.unit(cluster).themes)
    res = state["Results"]
    region_results = set(res.loc[(res.unit_code == region) & res.theme.isin(themes), "result_id"])
    acts = state["Activities"]
    outputs = set(acts.loc[(acts.unit_code == cluster) & (acts.region == region), "result_id"])
    outputs |= set(jv["money"].loc[jv["money"].basis == "lines", "result_id"])
    return {cluster: outputs, region: region_results}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_joint_reviews_of_the_sample_add_up_and_hold_only_shared_items(sample_bureau):
    """2026-Q3 of the sample as stored: for every cluster, the spending its joint reviews show
    (summed over its pairs) is at most its total spending; every joint agenda item is of one of
    the two units and on a result that concerns the other (or concerned by a joint decision)."""
    from rbm_utils.store.database import Store

    q = sample_bureau["quarter"]
    with Store(sample_bureau["store_url"]) as st:
        state = st.bureau_state(q)
    results = analysis.analyse(state, q, CFG)
    pairs = analysis.joint_pairs(state, CFG)
    assert {"CYB-AFR", "CYB-EUR", "EMT-ASP"} <= {f"{p.cluster}-{p.region}" for p in pairs.itertuples()}
    money = results["money"]
    kpi_result = dict(
        zip(zip(results["progress"].unit_code, results["progress"].kpi_id), results["progress"].result_id)
    )
    rk = results["risks"]
    risk_result = dict(zip(zip(rk.unit_code, rk.risk_id), rk.result_id))
    at = results["assumptions"]
    asm_results = {}
    for r in at.itertuples():
        asm_results.setdefault((r.unit_code, r.assumption_id), set()).update({r.from_result, r.to_result})
    shown_items = 0
    for cluster in CFG.clusters:
        total = money.loc[money.unit_code == cluster, ["spent_year", "budget_year", "staff_months_used_year"]].sum()
        mine = pairs[pairs.cluster == cluster]
        views = [analysis.joint_view(state, results, cluster, p.region, CFG) for p in mine.itertuples()]
        for measure in total.index:
            regional = sum(float(v["money"][measure].sum()) for v in views)
            assert regional <= total[measure] + 1e-6, (cluster, measure, regional, total[measure])
        for p, jv in zip(mine.itertuples(), views):
            related = _related_items(state, results, cluster, p.region, jv)
            in_region = set(jv["cluster_kpis_in_region"]["kpi_id"])
            decided = set(zip(jv["decisions"]["unit_code"], jv["decisions"]["concerns"]))
            for item in jv["agenda"].itertuples():
                shown_items += 1
                unit, iid = item.unit_code, item.item_id
                assert unit in (cluster, p.region), (cluster, p.region, unit, iid)
                if (unit, iid) in decided or (unit == cluster and iid in in_region):
                    continue
                touched = (
                    {kpi_result.get((unit, iid)), risk_result.get((unit, iid)), iid}
                    | asm_results.get((unit, iid), set())
                    | set(iid.split("->"))
                )
                assert touched & related[unit], (cluster, p.region, item.kind, unit, iid)
            # the old behaviour copied the region's whole agenda: here the region's unrelated items are gone
            ag = results["agenda"]
            region_items = set(ag.loc[ag.unit_code == p.region, "item_id"])
            assert set(jv["agenda"].loc[jv["agenda"].unit_code == p.region, "item_id"]) <= region_items
    assert shown_items > 0


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


def test_joint_view_keeps_only_the_agenda_items_of_both_units_hand_made():
    """AFR has a cybersecurity result (AFR-O1) and a spectrum one (AFR-O2); CYB works in AFR on
    CYB-O1 and in ARB on CYB-O2, and books a fund line of CYB-O3 for AFR. The joint agenda of
    CYB with AFR keeps AFR's items on AFR-O1, CYB's on CYB-O1 and CYB-O3, and AFR's spectrum risk
    only because a joint decision concerns it; the region's money is its share, not the outputs'."""

    def frame(**cols):
        return pd.DataFrame(cols)

    state = {
        "Results": frame(
            unit_code=["AFR", "AFR", "CYB", "CYB", "CYB"],
            result_id=["AFR-O1", "AFR-O2", "CYB-O1", "CYB-O2", "CYB-O3"],
            theme=["cybersecurity", "spectrum", "cybersecurity", "cybersecurity", "cybersecurity"],
        ),
        "Activities": frame(
            unit_code=["CYB", "CYB"], activity_id=["A1", "A2"], result_id=["CYB-O1", "CYB-O2"], region=["AFR", "ARB"]
        ),
    }
    results = {
        "progress_by_region": frame(unit_code=["CYB"], kpi_id=["CYB-K9"], region=["AFR"]),
        "progress": frame(
            unit_code=["AFR", "AFR", "CYB", "CYB"],
            kpi_id=["AFR-K1", "AFR-K2", "CYB-K1", "CYB-K2"],
            result_id=["AFR-O1", "AFR-O2", "CYB-O1", "CYB-O2"],
        ),
        "risks": frame(unit_code=["AFR", "CYB"], risk_id=["AFR-RK2", "CYB-RK2"], result_id=["AFR-O2", "CYB-O2"]),
        "assumptions": frame(
            unit_code=["CYB"], assumption_id=["CYB-AS1"], from_result=["CYB-O1"], to_result=["CYB-R1"]
        ),
        "regional_money": frame(
            unit_code=["CYB", "CYB", "CYB"],
            result_id=["CYB-O1", "CYB-O3", "CYB-O2"],
            region=["AFR", "AFR", "ARB"],
            basis=["activities", "lines", "activities"],
            spent_year=[10.0, 5.0, 20.0],
        ),
        "decisions": frame(
            unit_code=["AFR"], recorded_by=["AFR"], other_unit=["CYB"], concerns=["AFR-RK2"], decision_id=["AFR-D1"]
        ),
    }
    items = [
        ("AFR", "AFR-K1", True),  # KPI of AFR's cybersecurity result
        ("AFR", "AFR-K2", False),  # KPI of its spectrum result
        ("AFR", "AFR-RK2", True),  # spectrum risk, but concerned by a joint decision
        ("AFR", "AFR-O2", False),  # spending gap of the spectrum result
        ("CYB", "CYB-K1", True),  # KPI of an output delivered in AFR
        ("CYB", "CYB-K2", False),  # KPI of an output delivered in ARB only
        ("CYB", "CYB-K9", True),  # KPI broken down for AFR
        ("CYB", "CYB-RK2", False),
        ("CYB", "CYB-AS1", True),  # assumption from CYB-O1
        ("CYB", "CYB-O3", True),  # spending gap of an output with a money line of AFR
        ("CYB", "CYB-O2->CYB-R1", False),
        ("CYB", "CYB-O1->CYB-R1", True),  # stalled link from an output delivered in AFR
        ("EUR", "EUR-K1", False),
    ]
    results["agenda"] = frame(unit_code=[u for u, _, _ in items], item_id=[i for _, i, _ in items])
    jv = analysis.joint_view(state, results, "CYB", "AFR", CFG)
    assert list(zip(jv["agenda"].unit_code, jv["agenda"].item_id)) == [(u, i) for u, i, keep in items if keep]
    assert jv["money"]["spent_year"].tolist() == [10.0, 5.0]
    summary = jv["money_summary"].set_index("basis")
    assert summary.loc["all", "spent_year"].tolist() == [15.0, 35.0]  # in AFR, beside the cluster's total


def test_joint_view_shares_open_risks_above_low_and_gives_every_cluster_kpi_a_status():
    """Closed and low risks are not shared worries; a cluster KPI without a target for the region
    takes the whole KPI's status, said in status_basis."""

    def frame(**cols):
        return pd.DataFrame(cols)

    state = {
        "Results": frame(unit_code=["AFR"], result_id=["AFR-O1"], theme=["cybersecurity"]),
        "Activities": frame(unit_code=["CYB"], activity_id=["A1"], result_id=["CYB-O1"], region=["AFR"]),
    }
    results = {
        "progress_by_region": frame(
            unit_code=["CYB", "CYB"], kpi_id=["CYB-K1", "CYB-K2"], region=["AFR", "AFR"], status=["at_risk", None]
        ),
        "progress": frame(
            unit_code=["CYB", "CYB"],
            kpi_id=["CYB-K1", "CYB-K2"],
            result_id=["CYB-O1", "CYB-O1"],
            status=["on_track", "off_track"],
        ),
        "risks": frame(
            unit_code=["AFR", "AFR", "AFR", "CYB"],
            risk_id=["R-open", "R-closed", "R-low", "C-open"],
            result_id=["AFR-O1", "AFR-O1", "AFR-O1", "CYB-O1"],
            rating=["high", "critical", "low", "medium"],
            is_open=[True, False, True, True],
        ),
        "assumptions": frame(unit_code=[], assumption_id=[], from_result=[], to_result=[]),
        "regional_money": frame(unit_code=[], result_id=[], region=[], basis=[], spent_year=[]),
        "agenda": frame(unit_code=[], item_id=[]),
    }
    jv = analysis.joint_view(state, results, "CYB", "AFR", CFG)
    assert jv["risks"]["risk_id"].tolist() == ["R-open", "C-open"]
    kpis = jv["cluster_kpis_in_region"]
    assert kpis["status"].tolist() == ["at_risk", "off_track"]
    assert kpis["status_basis"].tolist() == ["region", "whole KPI"]
