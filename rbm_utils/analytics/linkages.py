"""Linkages to study groups and other sectors: who links to what, and collaboration candidates.

A *reference* is a (body, reference) pair of sheet Linkages, e.g. ("ITU-D SG2", "Q3/2").
References are matched ignoring case and repeated spaces ("q3/2 " is "Q3/2").

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> links = schema.conform("Linkages", pd.DataFrame({"unit_code": ["AFR", "CYB"],
    ...     "result_id": ["AFR-O1", "CYB-O1"], "body": ["ITU-T", "ITU-T"], "reference": ["SG17", "SG17"]}),
    ...     with_unit=True)
    >>> synergies({"Linkages": links})[["unit_a", "unit_b", "shared_references"]].values.tolist()
    [['AFR', 'CYB', 'ITU-T SG17']]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from rbm_utils.analytics.frames import match_key as _key
from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

SYNERGY_COLUMNS = ["unit_a", "unit_b", "n_shared", "shared_references", "results_a", "results_b"]


def linkage_counts(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table: one row per unit and reference with unit_code, body, reference (as first
    written), label ("body reference"), n_results (distinct results linked) and natures
    (distinct natures, "; "-joined, sorted).

    >>> linkage_counts({}).columns.tolist()
    ['unit_code', 'body', 'reference', 'label', 'n_results', 'natures']
    """
    cols = ["unit_code", "body", "reference", "label", "n_results", "natures"]
    lk = _links(state)
    if lk.empty:
        return pd.DataFrame(columns=cols)
    g = lk.groupby(["unit_code", "body", "ref_key"], sort=False)
    out = g.agg(
        reference=("reference", "first"),
        n_results=("result_id", "nunique"),
        natures=("nature", lambda s: "; ".join(sorted({x for x in s if x}))),
    )
    out = out.reset_index()
    # one display spelling per reference across units (the first met)
    out["reference"] = out.groupby(["body", "ref_key"])["reference"].transform("first")
    out["label"] = out["body"] + " " + out["reference"]
    return out.sort_values(["unit_code", "body", "ref_key"], kind="stable")[cols].reset_index(drop=True)


def _links(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    lk = _sheet(state, "Linkages")
    out = pd.DataFrame(
        {
            "unit_code": lk["unit_code"],
            "result_id": _text(lk["result_id"]),
            "body": _text(lk["body"]),
            "reference": _text(lk["reference"]).str.replace(r"\s+", " ", regex=True),
            "ref_key": _key(lk["reference"]),
            "nature": _text(lk["nature"]),
        }
    )
    return out[(out["body"] != "") & (out["ref_key"] != "")]


def linkage_matrix(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Units x references: a unit_code column, then one column per reference labelled
    "body reference" (sorted), holding the number of the unit's results linked to it (0 if none).

    >>> linkage_matrix({}).columns.tolist()
    ['unit_code']
    """
    counts = linkage_counts(state)
    if counts.empty:
        return pd.DataFrame(columns=["unit_code"])
    m = counts.pivot_table(index="unit_code", columns="label", values="n_results", aggfunc="sum", fill_value=0)
    m = m.reindex(columns=sorted(m.columns)).astype("int64")
    m.columns.name = None
    return m.reset_index()


def synergies(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Pairs of units (unit_a < unit_b) that link to at least one same reference (same body
    and reference) but share no initiative (a non-blank Results.initiative present in both,
    compared ignoring case) and no activity (the same Activities.activity_id, or the same
    activity title ignoring case and spaces): candidates for collaboration.

    Columns :data:`SYNERGY_COLUMNS`: n_shared references, shared_references ("; "-joined
    labels), results_a / results_b (the linked result_ids of each unit, "; "-joined).

    >>> synergies({}).empty
    True
    """
    lk = _links(state)
    if lk.empty:
        return pd.DataFrame(columns=SYNERGY_COLUMNS)
    labels = linkage_counts(state).drop_duplicates(["body", "reference"])
    lk = lk.drop(columns="reference").merge(
        labels.assign(ref_key=_key(labels["reference"]))[["body", "ref_key", "label"]], on=["body", "ref_key"]
    )
    pairs = lk.merge(lk, on=["body", "ref_key", "label"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["unit_code_a"] < pairs["unit_code_b"]]
    if pairs.empty:
        return pd.DataFrame(columns=SYNERGY_COLUMNS)
    shared = _shared_pairs(state)
    pairs = pairs.merge(shared, on=["unit_code_a", "unit_code_b"], how="left", indicator=True)
    pairs = pairs[pairs["_merge"] == "left_only"].drop(columns="_merge")
    if pairs.empty:
        return pd.DataFrame(columns=SYNERGY_COLUMNS)

    def join(s: pd.Series) -> str:
        return "; ".join(sorted(set(s)))

    g = pairs.groupby(["unit_code_a", "unit_code_b"])
    out = g.agg(
        n_shared=("label", "nunique"),
        shared_references=("label", join),
        results_a=("result_id_a", join),
        results_b=("result_id_b", join),
    ).reset_index()
    out = out.rename(columns={"unit_code_a": "unit_a", "unit_code_b": "unit_b"})
    return out.sort_values(["n_shared", "unit_a", "unit_b"], ascending=[False, True, True], kind="stable")[
        SYNERGY_COLUMNS
    ].reset_index(drop=True)


def _shared_pairs(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Unit pairs (a < b) that share an initiative, an activity_id or an activity title."""
    res = _sheet(state, "Results")
    acts = _sheet(state, "Activities")
    keys = [
        pd.DataFrame({"unit_code": res["unit_code"], "k": "i:" + _key(res["initiative"])})[
            _key(res["initiative"]) != ""
        ],
        pd.DataFrame({"unit_code": acts["unit_code"], "k": "a:" + _key(acts["activity_id"])})[
            _key(acts["activity_id"]) != ""
        ],
        pd.DataFrame({"unit_code": acts["unit_code"], "k": "t:" + _key(acts["title"])})[_key(acts["title"]) != ""],
    ]
    k = pd.concat(keys, ignore_index=True).drop_duplicates()
    p = k.merge(k, on="k", suffixes=("_a", "_b"))
    p = p[p["unit_code_a"] < p["unit_code_b"]]
    return p[["unit_code_a", "unit_code_b"]].drop_duplicates()
