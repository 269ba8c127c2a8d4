"""Linkages: matrix counts; synergy pairs on rare shared references (idf weights), none with a shared activity."""

from __future__ import annotations

import math

import pandas as pd

from rbm_utils.analytics.linkages import linkage_counts, linkage_matrix, reference_weights, synergies
from rbm_utils.core import schema


def _state(links, results=(), activities=()) -> dict[str, pd.DataFrame]:
    cols = ["unit_code", "result_id", "body", "reference", "nature"]
    st = {"Linkages": schema.conform("Linkages", pd.DataFrame(list(links), columns=cols), with_unit=True)}
    st["Results"] = schema.conform(
        "Results",
        pd.DataFrame(list(results), columns=["unit_code", "result_id", "initiative", "theme"]),
        with_unit=True,
    )
    st["Activities"] = schema.conform(
        "Activities", pd.DataFrame(list(activities), columns=["unit_code", "activity_id", "title"]), with_unit=True
    )
    return st


LINKS = [
    ("AFR", "AFR-O1", "ITU-D SG1", "Q1/1", "contributes"),
    ("AFR", "AFR-O2", "ITU-D SG1", "q1/1 ", "draws_on"),  # same reference, other spelling
    ("AFR", "AFR-O2", "ITU-T", "SG17", None),
    ("ASP", "ASP-O1", "ITU-D SG1", "Q1/1", "joint"),
    ("ASP", "ASP-O1", "ITU-T", "SG17", None),
    ("CYB", "CYB-O1", "ITU-T", "SG17", "informs"),
    ("CYB", "CYB-O1", "ITU-R", "SG17", None),  # same reference text, other body
    ("EUR", "EUR-O1", "ITU-D SG2", "Q3/2", None),
]


def test_linkage_counts_and_matrix():
    c = linkage_counts(_state(LINKS))
    afr = c[(c["unit_code"] == "AFR") & (c["body"] == "ITU-D SG1")].iloc[0]
    assert afr["n_results"] == 2 and afr["reference"] == "Q1/1" and afr["natures"] == "contributes; draws_on"
    m = linkage_matrix(_state(LINKS)).set_index("unit_code")
    assert list(m.columns) == ["ITU-D SG1 Q1/1", "ITU-D SG2 Q3/2", "ITU-R SG17", "ITU-T SG17"]
    assert m.loc["AFR"].tolist() == [2, 0, 0, 1]
    assert m.loc["CYB"].tolist() == [0, 0, 1, 1]
    assert m.loc["EUR"].tolist() == [0, 1, 0, 0]


# Six units hold references; "ITU Academy" is held by four of them (4/6 > 1/2): common, weight 0.
WIDE = [
    *LINKS,
    ("AFR", "AFR-O1", "other", "ITU Academy", None),
    ("ASP", "ASP-O1", "other", "ITU Academy", None),
    ("CYB", "CYB-O1", "other", "ITU academy ", None),
    ("EUR", "EUR-O1", "other", "ITU Academy", None),
    ("ARB", "ARB-O1", "ITU-D SG2", "Q4/2", None),
    ("AMS", "AMS-O1", "ITU-D SG2", "Q5/2", None),
]


def test_reference_weights_idf_and_common():
    w = reference_weights(_state(WIDE)).drop_duplicates(["kind", "key"]).set_index("label")
    assert w.loc["other ITU Academy", "n_units"] == 4 and w.loc["other ITU Academy", "weight"] == 0.0
    assert math.isclose(w.loc["ITU-D SG1 Q1/1", "weight"], math.log(6 / 2))  # AFR, ASP
    assert math.isclose(w.loc["ITU-T SG17", "weight"], math.log(6 / 3))  # 3 of 6 is not above half
    assert math.isclose(w.loc["ITU-R SG17", "weight"], math.log(6))


def test_synergies_rare_references_ranked_common_ignored():
    s = synergies(_state(WIDE))
    rows = {(a, b): r for a, b, r in zip(s["unit_a"], s["unit_b"], s.to_dict("records"))}
    # AFR-EUR, ASP-EUR, CYB-EUR share only the ITU Academy: no synergy
    assert set(rows) == {("AFR", "ASP"), ("AFR", "CYB"), ("ASP", "CYB")}
    afr_asp = rows[("AFR", "ASP")]
    assert afr_asp["n_shared"] == 2 and afr_asp["rank"] == 1
    assert math.isclose(afr_asp["weight"], math.log(3) + math.log(2))
    assert afr_asp["shared_references"] == "ITU-D SG1 Q1/1; ITU-T SG17"  # heaviest first
    assert afr_asp["shared_weights"] == "ITU-D SG1 Q1/1 (1.10, 2 units); ITU-T SG17 (0.69, 3 units)"
    assert afr_asp["common_references"] == "other ITU Academy"
    assert afr_asp["results_a"] == "AFR-O1; AFR-O2"
    # ITU-R SG17 is not ITU-T SG17
    assert rows[("AFR", "CYB")]["shared_references"] == "ITU-T SG17"
    assert s["rank"].tolist() == [1, 2, 3]
    assert (s.iloc[1]["unit_a"], s.iloc[1]["unit_b"]) == ("AFR", "CYB")  # ties: unit codes


def test_a_reference_held_by_most_units_is_no_synergy():
    three = [
        ("AFR", "AFR-O1", "other", "ITU Academy", None),
        ("CYB", "CYB-O1", "other", "ITU Academy", None),
        ("EUR", "EUR-O1", "ITU-T", "SG3", None),
    ]
    assert synergies(_state(three)).empty  # 2 of 3 units hold it: above half
    s = synergies(_state(three), {"synergy_common_share": 0.7})
    assert s["shared_references"].tolist() == ["other ITU Academy"]
    assert math.isclose(s.loc[0, "weight"], math.log(3 / 2))


def test_shared_initiative_or_theme_is_a_synergy():
    results = [("EUR", "EUR-O1", "EUR1", "youth"), ("ARB", "ARB-O1", "eur1 ", "Youth"), ("AMS", "AMS-O1", "", "")]
    s = synergies(_state(WIDE, results=results))
    row = s[(s["unit_a"] == "ARB") & (s["unit_b"] == "EUR")].iloc[0]
    assert row["shared_references"] == "initiative EUR1; theme youth"
    assert math.isclose(row["weight"], 2 * math.log(6 / 2))
    assert row["results_a"] == "ARB-O1" and row["results_b"] == "EUR-O1"


def test_shared_activity_id_or_title_removes_the_pair():
    st = _state(
        WIDE,
        activities=[
            ("AFR", "ACT-1", "Cyber drill"),
            ("CYB", "ACT-1", "Other"),
            ("ASP", "ACT-9", "  cyber  drill"),
            ("EUR", "ACT-7", "Cyber drill"),
        ],
    )
    pairs = set(zip(synergies(st)["unit_a"], synergies(st)["unit_b"]))
    # AFR-CYB share ACT-1; AFR-ASP share the title "cyber drill"; ASP-CYB share no activity
    assert pairs == {("ASP", "CYB")}


def test_empty():
    assert synergies({}).empty
    assert linkage_matrix({}).columns.tolist() == ["unit_code"]
    assert synergies(_state([("AFR", "AFR-O1", "ITU-T", "SG17", None)])).empty
