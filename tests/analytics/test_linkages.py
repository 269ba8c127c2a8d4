"""Linkages: matrix counts and synergy pairs (only when no initiative nor activity is shared)."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics.linkages import linkage_counts, linkage_matrix, synergies
from rbm_utils.core import schema


def _state(links, results=(), activities=()) -> dict[str, pd.DataFrame]:
    cols = ["unit_code", "result_id", "body", "reference", "nature"]
    st = {"Linkages": schema.conform("Linkages", pd.DataFrame(list(links), columns=cols), with_unit=True)}
    st["Results"] = schema.conform(
        "Results", pd.DataFrame(list(results), columns=["unit_code", "result_id", "initiative"]), with_unit=True
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


def test_synergies_without_shared_work():
    s = synergies(_state(LINKS))
    rows = {(a, b): r for a, b, r in zip(s["unit_a"], s["unit_b"], s.to_dict("records"))}
    assert set(rows) == {("AFR", "ASP"), ("AFR", "CYB"), ("ASP", "CYB")}
    assert rows[("AFR", "ASP")]["n_shared"] == 2
    assert rows[("AFR", "ASP")]["shared_references"] == "ITU-D SG1 Q1/1; ITU-T SG17"
    assert rows[("AFR", "ASP")]["results_a"] == "AFR-O1; AFR-O2"
    # ITU-R SG17 is not ITU-T SG17
    assert rows[("AFR", "CYB")]["shared_references"] == "ITU-T SG17"
    assert s.iloc[0]["unit_a"] == "AFR" and s.iloc[0]["unit_b"] == "ASP"  # most shared first


def test_shared_initiative_removes_the_pair():
    st = _state(LINKS, results=[("AFR", "AFR-O1", "AFR3"), ("ASP", "ASP-O1", "afr3"), ("CYB", "CYB-O1", "")])
    pairs = set(zip(synergies(st)["unit_a"], synergies(st)["unit_b"]))
    assert pairs == {("AFR", "CYB"), ("ASP", "CYB")}


def test_shared_activity_id_or_title_removes_the_pair():
    st = _state(
        LINKS,
        activities=[
            ("AFR", "ACT-1", "Cyber drill"),
            ("CYB", "ACT-1", "Other"),
            ("ASP", "ACT-9", "  cyber  drill"),
            ("EUR", "ACT-7", "Cyber drill"),
        ],
    )
    pairs = set(zip(synergies(st)["unit_a"], synergies(st)["unit_b"]))
    # AFR-CYB share ACT-1; AFR-ASP share the title "cyber drill"; ASP-CYB share nothing
    assert pairs == {("ASP", "CYB")}


def test_empty():
    assert synergies({}).empty
    assert linkage_matrix({}).columns.tolist() == ["unit_code"]
    assert synergies(_state([("AFR", "AFR-O1", "ITU-T", "SG17", None)])).empty
