"""Linkages to study groups and other sectors: who links to what, and collaboration candidates.

A *reference* is a (body, reference) pair of sheet Linkages, e.g. ("ITU-D SG2", "Q3/2").
References are matched ignoring case and repeated spaces ("q3/2 " is "Q3/2"). For synergies,
initiatives and themes of sheet Results are references too, each weighted by its rarity
(docs/rules.md, "Linkages").

Example (four units; SG17 is held by two of them, half the units, so it is still specific):
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> links = schema.conform("Linkages", pd.DataFrame({"unit_code": ["AFR", "CYB", "EUR", "ASP"],
    ...     "result_id": ["AFR-O1", "CYB-O1", "EUR-O1", "ASP-O1"], "body": ["ITU-T"] * 4,
    ...     "reference": ["SG17", "SG17", "SG2", "SG3"]}), with_unit=True)
    >>> synergies({"Linkages": links})[["unit_a", "unit_b", "shared_references", "weight"]].round(3).values.tolist()
    [['AFR', 'CYB', 'ITU-T SG17', 0.693]]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import match_key as _key
from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.analytics.frames import thresholds as _thresholds
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

SYNERGY_COLUMNS = [
    "unit_a",
    "unit_b",
    "n_shared",
    "shared_references",
    "results_a",
    "results_b",
    "weight",
    "rank",
    "shared_weights",
    "common_references",
]


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


def reference_weights(state: Mapping[str, pd.DataFrame], thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Every reference a unit holds, weighted by its rarity: columns unit_code, kind
    (``linkage``, ``initiative``, ``theme``), key, label, result_id, n_units, weight.

    References are the (body, reference) pairs of sheet Linkages (label "ITU-T SG17"), the
    Results.initiative codes (label "initiative AFR3") and the Results.theme values (label
    "theme cybersecurity"), matched ignoring case and spaces. With N units holding any
    reference and n of them holding this one, weight = ln(N / n) (idf), and 0 when n / N is
    above ``synergy_common_share`` (a bureau-wide programme, not a synergy).

    >>> reference_weights({}).columns.tolist()
    ['unit_code', 'kind', 'key', 'label', 'result_id', 'n_units', 'weight']
    """
    th = _thresholds(thresholds)
    cols = ["unit_code", "kind", "key", "label", "result_id", "n_units", "weight"]
    lk = _links(state)
    parts = [
        pd.DataFrame(
            {
                "unit_code": lk["unit_code"],
                "kind": "linkage",
                "key": lk["body"].str.casefold() + "|" + lk["ref_key"],
                "label": lk["body"] + " " + lk["reference"],
                "result_id": lk["result_id"],
            }
        )
    ]
    res = _sheet(state, "Results")
    for kind in ("initiative", "theme"):
        parts.append(
            pd.DataFrame(
                {
                    "unit_code": res["unit_code"],
                    "kind": kind,
                    "key": _key(res[kind]),
                    "label": kind + " " + _text(res[kind]).str.replace(r"\s+", " ", regex=True),
                    "result_id": _text(res["result_id"]),
                }
            )
        )
    refs = pd.concat(parts, ignore_index=True)
    refs = refs[refs["key"] != ""]
    if refs.empty:
        return pd.DataFrame(columns=cols)
    # one display spelling per reference (the first met)
    refs["label"] = refs.groupby(["kind", "key"])["label"].transform("first")
    n_all = refs["unit_code"].nunique()
    refs["n_units"] = refs.groupby(["kind", "key"])["unit_code"].transform("nunique").astype("int64")
    idf = np.log(n_all / refs["n_units"])
    refs["weight"] = np.where(refs["n_units"] / n_all > th["synergy_common_share"], 0.0, idf).astype("float64")
    return refs[cols].drop_duplicates().reset_index(drop=True)


def synergies(state: Mapping[str, pd.DataFrame], thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Pairs of units (unit_a < unit_b) that share at least one *specific* reference (weight
    above 0 in :func:`reference_weights`: a study-group question, an initiative or a theme
    held by at most ``synergy_common_share`` of the units) and no activity yet (the same
    Activities.activity_id, or the same activity title ignoring case and spaces): candidates
    for collaboration, ranked by weight.

    Columns :data:`SYNERGY_COLUMNS`: n_shared specific references, shared_references ("; "-joined
    labels, heaviest first), results_a / results_b (the results of each unit holding them),
    weight (sum of the shared references' weights), rank (1 = heaviest; ties: more references,
    then unit codes), shared_weights ("label (weight, n units)"), common_references (shared
    references ignored as common).

    >>> synergies({}).empty
    True
    """
    refs = reference_weights(state, thresholds)
    if refs.empty:
        return pd.DataFrame(columns=SYNERGY_COLUMNS)
    pairs = refs.merge(refs[["unit_code", "kind", "key", "result_id"]], on=["kind", "key"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["unit_code_a"] < pairs["unit_code_b"]]
    pairs = pairs.merge(_shared_pairs(state), on=["unit_code_a", "unit_code_b"], how="left", indicator=True)
    pairs = pairs[pairs["_merge"] == "left_only"].drop(columns="_merge")
    common = pairs[pairs["weight"] <= 0]
    pairs = pairs[pairs["weight"] > 0]
    if pairs.empty:
        return pd.DataFrame(columns=SYNERGY_COLUMNS)

    def join(s: pd.Series) -> str:
        return "; ".join(sorted({x for x in s if x}))

    keys = ["unit_code_a", "unit_code_b"]
    per_ref = pairs.drop_duplicates([*keys, "kind", "key"]).sort_values(
        [*keys, "weight", "label"], ascending=[True, True, False, True], kind="stable"
    )
    per_ref = per_ref.assign(
        shown=per_ref["label"]
        + " ("
        + per_ref["weight"].map("{:.2f}".format)
        + ", "
        + per_ref["n_units"].astype(str)
        + " units)"
    )
    g = per_ref.groupby(keys, sort=False)
    out = g.agg(
        n_shared=("label", "size"),
        shared_references=("label", "; ".join),
        weight=("weight", "sum"),
        shared_weights=("shown", "; ".join),
    )
    res = pairs.groupby(keys).agg(results_a=("result_id_a", join), results_b=("result_id_b", join))
    com = common.drop_duplicates([*keys, "label"]).groupby(keys)["label"].agg(join).rename("common_references")
    out = out.join(res).join(com).reset_index()
    out["common_references"] = out["common_references"].fillna("")
    out = out.rename(columns={"unit_code_a": "unit_a", "unit_code_b": "unit_b"})
    out = out.sort_values(
        ["weight", "n_shared", "unit_a", "unit_b"], ascending=[False, False, True, True], kind="stable"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out[SYNERGY_COLUMNS]


def _shared_pairs(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Unit pairs (a < b) that already share an activity: the same activity_id or title."""
    acts = _sheet(state, "Activities")
    keys = [
        pd.DataFrame({"unit_code": acts["unit_code"], "k": "a:" + _key(acts["activity_id"])})[
            _key(acts["activity_id"]) != ""
        ],
        pd.DataFrame({"unit_code": acts["unit_code"], "k": "t:" + _key(acts["title"])})[_key(acts["title"]) != ""],
    ]
    k = pd.concat(keys, ignore_index=True).drop_duplicates()
    p = k.merge(k, on="k", suffixes=("_a", "_b"))
    p = p[p["unit_code_a"] < p["unit_code_b"]]
    return p[["unit_code_a", "unit_code_b"]].drop_duplicates()
