"""Red flags that recur across units, grouped (docs/rules.md, "Recurring red flags").

The bureau overview lists every red flag of every unit; the same risk ("Key posts vacant in the
unit") raised by six units reads better as one line naming the six. Red flags are grouped by the
risk's category and its title (trimmed, spaces collapsed, case folded); each group gives the
units, the risk ids, how many, the highest score and the worst rating. Groups that recur in the
most units come first, then the highest score. Takes the OUTPUT frames of
:func:`rbm_utils.analytics.risks.red_flags` and the register; free text is kept raw.

Example:
    >>> flags = pd.DataFrame({"unit_code": ["ARB", "ENV", "AFR"], "risk_id": ["ARB-R2", "ENV-R2", "AFR-R1"],
    ...                       "title": ["Key posts vacant", "key posts  vacant", "Funding short"],
    ...                       "score": [25, 20, 20], "rating": ["critical", "high", "critical"]})
    >>> register = flags.assign(category=["staffing", "staffing", "financial"])
    >>> risk_groups(flags, register)[["category", "title", "n_units", "units", "max_score", "rating"]].values.tolist()
    [['staffing', 'Key posts vacant', 2, 'ARB; ENV', 25, 'critical'], ['financial', 'Funding short', 1, 'AFR', 20, 'critical']]
"""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics.frames import column_text, match_key
from rbm_utils.core.codes import RISK_RATINGS

#: Columns of :func:`risk_groups`.
RISK_GROUP_COLUMNS = ["category", "title", "n_units", "units", "n_flags", "risk_ids", "max_score", "rating"]


def risk_groups(flags: pd.DataFrame | None, register: pd.DataFrame | None = None) -> pd.DataFrame:
    """Red flags grouped by category and title across units (module doc), most units first.

    >>> risk_groups(None).columns.tolist() == RISK_GROUP_COLUMNS
    True
    """
    if flags is None or flags.empty:
        return pd.DataFrame(columns=RISK_GROUP_COLUMNS)
    f = flags.copy()
    if "category" not in f.columns:
        cats = (
            register.set_index(["unit_code", "risk_id"])["category"]
            if register is not None and {"unit_code", "risk_id", "category"} <= set(register.columns)
            else pd.Series(dtype=object)
        )
        keys = pd.MultiIndex.from_arrays([f["unit_code"], f["risk_id"]])
        f["category"] = cats[~cats.index.duplicated()].reindex(keys).to_numpy() if len(cats) else None
    f["category"] = column_text(f, "category")
    f["_key"] = match_key(f["title"])
    f["_rank"] = f["rating"].map({r: i for i, r in enumerate(RISK_RATINGS)}).fillna(-1)
    rows = []
    for (cat, _), g in f.groupby(["category", "_key"], sort=False):
        g = g.sort_values(["score", "unit_code"], ascending=[False, True], kind="stable")
        units = sorted(dict.fromkeys(g["unit_code"].astype(str)))
        rows.append(
            {
                "category": cat,
                "title": str(g["title"].iloc[0]).strip(),
                "n_units": len(units),
                "units": "; ".join(units),
                "n_flags": len(g),
                "risk_ids": "; ".join(g["risk_id"].astype(str)),
                "max_score": g["score"].max(),
                "rating": RISK_RATINGS[int(g["_rank"].max())] if g["_rank"].max() >= 0 else None,
            }
        )
    out = pd.DataFrame(rows, columns=RISK_GROUP_COLUMNS)
    return out.sort_values(["n_units", "max_score"], ascending=False, kind="stable").reset_index(drop=True)
