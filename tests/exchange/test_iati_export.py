"""``rbm export iati``: the official schema accepts the file, the ruleset's checks fire on planted
faults, text is escaped and cleaned, the output is deterministic, and importing it back gives
every KPI's baseline, targets and actuals."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
from factories import minimal_unit
from lxml import etree

from rbm_utils.analytics.kpi import kpi_series
from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import conform
from rbm_utils.exchange.iati_activity import LEVEL_RESULT_TYPE, MEASURE_CODES
from rbm_utils.exchange.iati_export import (
    SCHEMA_DIR,
    IatiExportError,
    build_iati,
    check_iati,
    export_iati,
    xsd_errors,
)
from rbm_utils.intake.iati import read_iati

CFG = load_config()
Q = "2026-Q3"


def bureau(*codes: str, edit=None) -> dict[str, pd.DataFrame]:
    """A bureau state of minimal units; ``edit(frames)`` may change a unit's sheets first."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for code in codes:
        _, frames = minimal_unit(code, Q)
        if edit is not None:
            edit(frames)
        for name, frame in frames.items():
            parts.setdefault(name, []).append(frame.assign(unit_code=code))
    return {name: conform(name, pd.concat(fs, ignore_index=True), with_unit=True) for name, fs in parts.items()}


def assert_round_trip(state: dict[str, pd.DataFrame], table: pd.DataFrame, quarter: str = Q) -> None:
    """Every KPI comes back: its baseline, each milestone and its final target, every actual
    (the total as of each reported quarter, each breakdown as reported)."""
    prefix = CFG.iati.activity_prefix
    q = Quarter.parse(quarter)
    series = kpi_series(state, q, CFG.thresholds)
    t = table.assign(
        unit_code=table["activity_id"].str.removeprefix(prefix),
        period=[
            str(Quarter.of_date(pd.Timestamp(s).date())) if isinstance(s, str) else None for s in table["period_start"]
        ],
    )
    totals = t[t["dimension"] == ""].set_index(["unit_code", "indicator_ref", "period"])
    for kpi in state["KPIs"].itertuples():
        key = (kpi.unit_code, kpi.kpi_id)
        rows = t[(t["unit_code"] == kpi.unit_code) & (t["indicator_ref"] == kpi.kpi_id)]
        assert not rows.empty, f"{key} missing"
        assert rows["indicator"].iloc[0] == kpi.name
        assert (rows["baseline_year"] == Quarter.parse(kpi.baseline_period).year).all(), key
        assert rows["baseline_value"].iloc[0] == pytest.approx(kpi.baseline_value), key
        assert totals.loc[(*key, kpi.target_period), "target"] == pytest.approx(kpi.target_value), key
    for m in state["Milestones"].itertuples():
        assert totals.loc[(m.unit_code, m.kpi_id, m.period), "target"] == pytest.approx(m.target_value)
    reported = series[series["reported"]]
    for s in reported.itertuples():
        if not math.isnan(s.current):
            assert totals.loc[(s.unit_code, s.kpi_id, s.period), "actual"] == pytest.approx(s.current, abs=1e-4)
    n_actual_totals = int(totals["actual"].notna().sum())
    assert n_actual_totals == int(reported["current"].notna().sum())
    acts = state["Actuals"]
    parts = acts[(acts["disaggregation"] != "") & acts["value"].notna()]
    split = t[t["dimension"] != ""].set_index(["unit_code", "indicator_ref", "period", "dimension"])
    assert len(split) == len(parts)
    for a in parts.itertuples():
        assert split.loc[(a.unit_code, a.kpi_id, a.period, a.disaggregation), "actual"] == pytest.approx(a.value)


# ----------------------------------------------------------------------------- valid, and back again


def test_a_small_bureau_is_valid_against_the_official_schema_and_rules():
    data = build_iati(bureau("AFR", "CYB"), Q, CFG)
    assert xsd_errors(data) == []
    check_iati(data)  # no rule broken
    root = etree.fromstring(data)
    assert root.get("version") == "2.03" and root.get("generated-datetime") == "2026-09-30T23:59:59Z"
    ids = [a.findtext("iati-identifier") for a in root.findall("iati-activity")]
    assert ids == ["XM-DAC-41114-BDT-AFR", "XM-DAC-41114-BDT-CYB"]  # settings order


def test_round_trip_gives_back_every_kpi(tmp_path):
    def breakdowns(frames):
        extra = pd.DataFrame(
            [
                {"kpi_id": "X-K1", "period": "2026-Q3", "value": 60, "disaggregation": "sex=female"},
                {"kpi_id": "X-K1", "period": "2026-Q3", "value": 40, "disaggregation": "sex=male"},
            ]
        )
        kid = frames["KPIs"]["kpi_id"].iloc[0]
        frames["Actuals"] = conform("Actuals", pd.concat([frames["Actuals"], extra.assign(kpi_id=kid)]))

    state = bureau("AFR", "EUR", edit=breakdowns)
    report = export_iati(Q, CFG, tmp_path / "bdt.xml", state=state)
    assert (report.activities, report.indicators) == (2, 8)
    assert_round_trip(state, read_iati(report.path).table)


def test_two_exports_are_byte_identical(tmp_path):
    state = bureau("AFR", "NDI")
    a = export_iati(Q, CFG, tmp_path / "a.xml", state=state).path.read_bytes()
    b = export_iati(Q, CFG, tmp_path / "b.xml", state=bureau("AFR", "NDI")).path.read_bytes()
    assert a == b


def test_the_mapping_of_levels_measures_direction_partners_money_and_dates():
    def edit(frames):
        k = frames["KPIs"]
        k.loc[k["kpi_id"] == "AFR-K4", "direction"] = "decrease"
        k.loc[k["kpi_id"] == "AFR-K2", "measure"] = "currency"
        frames["Partners"] = conform(
            "Partners",
            pd.DataFrame(
                [
                    {"partner": "Signed Donor", "partner_type": "government", "stage": "agreement_signed", "amount": 5},
                    {"partner": "Old Register", "partner_type": "un_agency", "amount": 5},
                    {"partner": "Maybe Later", "partner_type": "private", "stage": "pledged", "amount": 5},
                    {"partner": "Gone", "partner_type": "ngo", "stage": "declined", "amount": 5},
                ]
            ),
        )

    root = etree.fromstring(build_iati(bureau("AFR", edit=edit), Q, CFG))
    act = root.find("iati-activity")
    types = {r.find("reference").get("code"): r.get("type") for r in act.findall("result")}
    assert types == {"AFR-A1": "1", "AFR-O1": "1", "AFR-C1": "2", "AFR-I1": "3"}  # results with KPIs only
    assert LEVEL_RESULT_TYPE["reach"] == LEVEL_RESULT_TYPE["behaviour"] == "2"
    ind = {i.find("reference").get("code"): i for i in act.iter("indicator")}
    assert (ind["AFR-K4"].get("measure"), ind["AFR-K4"].get("ascending")) == ("2", "0")
    assert ind["AFR-K2"].get("measure") == MEASURE_CODES["currency"] == "1"
    assert "in CHF" in ind["AFR-K2"].findtext("description/narrative")
    assert "Data source: Illustrative: attendance lists" in ind["AFR-K1"].findtext("description/narrative")
    funders = [
        (p.findtext("narrative"), p.get("type")) for p in act.findall("participating-org") if p.get("role") == "1"
    ]
    assert funders == [("Old Register", "40"), ("Signed Donor", "10")]
    budget = act.find("budget")
    assert (budget.get("type"), budget.find("period-start").get("iso-date"), budget.findtext("value")) == (
        "1",
        "2026-01-01",
        "100000",
    )
    spent = [
        (t.find("transaction-type").get("code"), t.find("transaction-date").get("iso-date"), t.findtext("value"))
        for t in act.findall("transaction")
    ]
    assert spent == [("4", "2026-03-31", "20000"), ("4", "2026-06-30", "30000")]
    dates = {d.get("type"): d.get("iso-date") for d in act.findall("activity-date")}
    assert dates == {"1": "2026-01-01", "2": "2026-01-10", "3": "2026-12-31"}
    assert act.find("activity-status").get("code") == "2"
    k1_periods = [p.find("period-start").get("iso-date") for p in ind["AFR-K1"].findall("period")]
    assert k1_periods == ["2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"]  # after the baseline to the target


def test_text_is_escaped_and_characters_xml_cannot_hold_are_removed():
    def edit(frames):
        frames["KPIs"].loc[0, "name"] = 'Trained <script>alert("x")</script> & co\x07\x0b\ufffe'
        frames["Results"].loc[frames["Results"]["result_id"] == "AFR-O1", "title"] = "R&D ]]> <b>done</b>"

    data = build_iati(bureau("AFR", edit=edit), Q, CFG)
    assert b"<script>" not in data and b"&lt;script&gt;" in data and b"\x07" not in data
    assert xsd_errors(data) == []
    t = read_iati(data).table
    assert 'Trained <script>alert("x")</script> & co' in set(t["indicator"])
    assert "R&D ]]> <b>done</b>" in set(t["result_title"])


# ----------------------------------------------------------------------------- the ruleset checks


def _plant(data: bytes, change) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _first_period(root):
    return root.find("iati-activity/result/indicator/period")


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        (
            "actual_not_future",
            lambda r: (
                _first_period(r).find("period-start").set("iso-date", "2026-10-01"),
                _first_period(r).find("period-end").set("iso-date", "2026-12-31"),
                etree.SubElement(_first_period(r), "actual").set("value", "1"),
            ),
        ),
        ("period_order", lambda r: _first_period(r).find("period-end").set("iso-date", "2025-01-01")),
        ("baseline_before_periods", lambda r: r.find("iati-activity/result/indicator/baseline").set("year", "2031")),
        ("budget_period", lambda r: r.find("iati-activity/budget/period-end").set("iso-date", "2027-06-30")),
        (
            "transaction_not_future",
            lambda r: r.find("iati-activity/transaction/transaction-date").set("iso-date", "2027-01-01"),
        ),
        ("identifier_prefix", lambda r: setattr(r.find("iati-activity/iati-identifier"), "text", "XX-1-AFR")),
        (
            "activity_date_not_future",
            lambda r: r.find("iati-activity/activity-date[@type='2']").set("iso-date", "2026-12-01"),
        ),
    ],
)
def test_each_rule_fires_on_a_planted_fault(rule, change):
    data = _plant(build_iati(bureau("AFR"), Q, CFG), change)
    assert xsd_errors(data) == []  # the schema cannot see it: the rule does
    with pytest.raises(IatiExportError, match=f"not written: .*{rule}"):
        check_iati(data)


def test_a_schema_fault_is_named():
    data = _plant(
        build_iati(bureau("AFR"), Q, CFG), lambda r: r.find("iati-activity").remove(r.find("iati-activity/title"))
    )
    with pytest.raises(IatiExportError, match="schema: Element 'description'"):
        check_iati(data)


def test_nothing_to_export_is_a_clear_error(tmp_path):
    with pytest.raises(IatiExportError, match="no KPIs of CYB in 2026-Q3"):
        build_iati(bureau("AFR"), Q, CFG, units=["CYB"])
    with pytest.raises(IatiExportError, match="unknown unit"):
        build_iati(bureau("AFR"), Q, CFG, units=["XYZ"])
    with pytest.raises(IatiExportError, match="no unit has KPIs"):
        export_iati(Q, CFG, tmp_path / "x.xml", state={})
    assert not (tmp_path / "x.xml").exists()


def test_the_schema_is_packaged_with_its_licence_and_read_offline():
    names = {p.name for p in SCHEMA_DIR.iterdir()}
    assert {"iati-activities-schema.xsd", "iati-common.xsd", "xml.xsd", "LICENSE", "README.md"} <= names
    assert "xml.xsd" in (SCHEMA_DIR / "iati-activities-schema.xsd").read_text(encoding="utf-8")


def test_settings_refuse_an_activity_prefix_outside_the_org_ref(tmp_path):
    from rbm_utils.core.config import ConfigError

    text = (CFG.path or "").read_text(encoding="utf-8") if CFG.path else ""
    bad = tmp_path / "w.yaml"
    bad.write_text(text.replace('activity_prefix: "XM-DAC-41114-BDT-"', 'activity_prefix: "ZZ-BDT-"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="activity_prefix must start with reporting_org_ref XM-DAC-41114"):
        load_config(bad)
    assert dataclasses.is_dataclass(CFG) and CFG.iati.language == "en"


def test_the_iati_standard_example_is_valid_against_the_carried_schema():
    example = SCHEMA_DIR.parents[2] / "tests" / "fixtures" / "iati" / "activity-standard-example-annotated.xml"
    assert xsd_errors(example.read_bytes()) == []
    renamed = example.read_bytes().replace(b"iati-identifier>", b"iati-ident>", 2)
    assert "iati-ident" in xsd_errors(renamed)[0]
