"""Partners across the bureau: partner x unit by stage, largest partners, concentration, new
partners, pipeline per owner and resources by stage, on a hand-computed register
(docs/rules.md, "Partners and resource mobilisation")."""

from __future__ import annotations

import math

import pandas as pd

from rbm_utils.analytics import partners as pa
from rbm_utils.core import schema

Q = "2026-Q3"


def _state() -> dict[str, pd.DataFrame]:
    results = pd.DataFrame(
        [("AFR", "O1", "output", "CIRTs", "AFR3", "cybersecurity"), ("AFR", "O2", "output", "Drills", None, None)],
        columns=["unit_code", "result_id", "level", "title", "initiative", "theme"],
    )
    activities = pd.DataFrame([("AFR", "A1", "O2")], columns=["unit_code", "activity_id", "result_id"])
    rows = [
        ("AFR", "EU", "O1", None, None, "agreement_signed", 100.0, None, "2026-05-01", "Ana"),
        ("AFR", "GSMA", None, "A1", None, "pledged", 200.0, "2026-10-01", None, "Ben"),
        ("AFR", "JICA", None, None, "AFR3", "received", 50.0, None, "2026-02-01", "Ana"),
        ("AFR", " eu", "O1", None, None, "received", 300.0, None, "2024-03-01", None),  # EU since 2024
        ("AFR", "Nope", "O1", None, None, "declined", 500.0, "2026-04-01", None, "Ben"),
        ("CYB", "EU", "C9", None, None, "received", 200.0, None, "2025-01-01", None),
        ("CYB", "GSMA", None, None, None, "prospect", 1000.0, "2026-12-01", None, None),
    ]
    cols = [
        "unit_code",
        "partner",
        "result_id",
        "activity_id",
        "initiative",
        "stage",
        "amount",
        "expected_date",
        "actual_date",
        "owner",
    ]
    frames = {"Results": results, "Activities": activities, "Partners": pd.DataFrame(rows, columns=cols)}
    return {k: schema.conform(k, v, with_unit=True) for k, v in frames.items()}


def test_register_resolves_outputs_initiatives_and_years():
    r = pa.register(_state()).set_index(["unit_code", "partner", "stage"])
    gsma = r.loc[("AFR", "GSMA", "pledged")]
    assert (gsma["target"], gsma["result_id"], gsma["year"], gsma["weighted"]) == ("output", "O2", 2026, 140.0)
    eu = r.loc[("AFR", "EU", "agreement_signed")]
    assert (eu["initiative"], eu["theme"], eu["year"]) == ("AFR3", "cybersecurity", 2026)  # from O1
    jica = r.loc[("AFR", "JICA", "received")]
    assert (jica["target"], jica["theme"]) == ("initiative", "cybersecurity")  # AFR3's theme
    assert r.loc[("CYB", "GSMA", "prospect")]["target"] == "unit"


def test_partner_x_unit_by_stage_and_new_partners():
    u = pa.partner_units(_state(), Q).set_index(["unit_code", "partner"])
    eu = u.loc[("AFR", "EU")]  # "EU" and " eu" are one partner, shown with its first spelling
    assert (eu["agreement_signed"], eu["received"], eu["secured"], eu["n_contributions"]) == (100, 300, 400, 2)
    assert (eu["first_year"], eu["new_this_year"], eu["initiatives"], eu["owners"]) == (2024, False, "AFR3", "Ana")
    gsma = u.loc[("AFR", "GSMA")]
    assert (gsma["pipeline"], gsma["weighted_pipeline"], gsma["outputs"], gsma["new_this_year"]) == (
        200,
        140,
        "O2",
        True,
    )
    assert u.loc[("AFR", "JICA"), "new_this_year"]
    assert not u.loc[("AFR", "Nope"), "new_this_year"]  # only declined: not a new partner
    assert u.loc[("AFR", "Nope"), "declined"] == 500 and u.loc[("AFR", "Nope"), "secured"] == 0
    # within a unit, largest secured first
    assert u.loc["AFR"].index.tolist()[:2] == ["EU", "JICA"]


def test_largest_partners_and_concentration():
    units = pa.partner_units(_state(), Q)
    big = pa.largest_partners(units)
    assert big["partner"].tolist() == ["EU", "JICA", "GSMA", "Nope"] and big["rank"].tolist() == [1, 2, 3, 4]
    eu = big.iloc[0]
    assert (eu["secured"], eu["received"], eu["n_units"], eu["units"]) == (600, 500, 2, "AFR; CYB")
    assert math.isclose(eu["share_of_secured"], 600 / 650)
    c = pa.concentration(units).set_index("unit_code")
    afr = c.loc["AFR"]
    assert (afr["n_partners"], afr["secured"], afr["largest_partner"], afr["n_new_partners"]) == (2, 450, "EU", 2)
    assert math.isclose(afr["top3_share"], 1.0)
    assert math.isclose(afr["herfindahl"], (400 / 450) ** 2 + (50 / 450) ** 2)
    assert math.isclose(c.loc["CYB", "herfindahl"], 1.0) and c.loc["CYB", "n_new_partners"] == 1
    b = c.loc[pa.BUREAU]
    assert (b["n_partners"], b["secured"], b["n_new_partners"]) == (2, 650, 2)  # GSMA and JICA are new
    assert math.isclose(b["herfindahl"], (600 / 650) ** 2 + (50 / 650) ** 2)


def test_pipeline_per_owner():
    o = pa.owner_pipeline(_state())
    assert o[["unit_code", "owner"]].values.tolist() == [
        ["AFR", "Ben"],
        ["CYB", "unassigned"],
        ["AFR", "Ana"],
        ["AFR", "unassigned"],
    ]
    ben, cyb, ana = (o.iloc[i] for i in range(3))
    assert (ben["n_open"], ben["pipeline"], ben["weighted_pipeline"], ben["next_expected"]) == (
        1,
        200,
        140,
        "2026-10-01",
    )
    assert (cyb["n_open"], cyb["weighted_pipeline"], cyb["secured"], cyb["next_expected"]) == (
        1,
        100,
        200,
        "2026-12-01",
    )
    assert (ana["n_open"], ana["secured"], ana["next_expected"]) == (0, 150, "")


def test_resources_by_stage_per_unit_and_bureau():
    r = pa.resources_by_stage(_state()).set_index("unit_code")
    assert r.loc["AFR", list(pa.PARTNER_STAGES)].tolist() == [0, 0, 200, 100, 350, 500]
    assert (r.loc["AFR", "secured"], r.loc["AFR", "weighted_pipeline"], r.loc["AFR", "n_partners"]) == (450, 140, 4)
    assert r.loc[pa.BUREAU, list(pa.PARTNER_STAGES)].tolist() == [1000, 0, 200, 100, 550, 500]
    assert r.loc[pa.BUREAU, "n_partners"] == 4


def test_empty_register():
    assert pa.partner_units({}, Q).empty and pa.largest_partners(pa.partner_units({}, Q)).empty
    assert pa.concentration(pd.DataFrame(columns=pa.PARTNER_UNIT_COLUMNS)).empty
    assert pa.owner_pipeline({}).empty and pa.resources_by_stage({}).empty
