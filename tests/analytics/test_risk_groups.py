"""Red flags that recur across units, grouped by category and title: hand-built frames."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics.risk_groups import RISK_GROUP_COLUMNS, risk_groups


def test_the_same_risk_of_six_units_is_one_line_naming_them():
    units = ["AFR", "AMS", "ARB", "ASP", "CIS", "ENV"]
    flags = pd.DataFrame(
        {
            "unit_code": [*units, "EUR", "EUR"],
            "risk_id": [f"{u}-R5" for u in units] + ["EUR-R1", "EUR-R2"],
            "title": ["Key posts vacant in the unit"] * 3
            + ["  key posts VACANT in the unit "] * 3
            + ["Funding short"] * 2,
            "score": [12, 16, 20, 12, 12, 15, 25, 9],
            "rating": ["medium", "high", "critical", "medium", "medium", "high", "critical", "medium"],
        }
    )
    register = flags[["unit_code", "risk_id"]].assign(category=["staffing"] * 6 + ["financial", "operational"])
    g = risk_groups(flags, register)
    assert list(g.columns) == RISK_GROUP_COLUMNS
    top = g.iloc[0]
    assert (top["category"], top["title"], top["n_units"], top["n_flags"]) == (
        "staffing",
        "Key posts vacant in the unit",
        6,
        6,
    )
    assert top["units"] == "; ".join(sorted(units)) and top["max_score"] == 20 and top["rating"] == "critical"
    assert top["risk_ids"].split("; ")[0] == "ARB-R5"  # highest score first
    # the same title in another category is another risk
    assert g["category"].tolist()[1:] == ["financial", "operational"] and g["n_units"].tolist()[1:] == [1, 1]


def test_two_flags_of_one_unit_count_one_unit_and_a_category_on_the_flags_wins():
    flags = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR"],
            "risk_id": ["R1", "R2"],
            "title": ["Delays", "delays"],
            "score": [10, 12],
            "rating": ["medium", "high"],
            "category": ["operational", "operational"],
        }
    )
    g = risk_groups(flags)
    assert g[["n_units", "n_flags", "units", "rating"]].values.tolist() == [[1, 2, "AFR", "high"]]
    assert risk_groups(flags.iloc[0:0]).empty
