"""The priority score of a review agenda item and its rank across the bureau (docs/rules.md,
"Priority score").

Six parts, each scaled to 0..1, weighted by the ``agenda_weight_*`` thresholds (their sum is
the full score, 100 with the defaults):

- ``severity``: how bad the problem is, set by :mod:`rbm_utils.analytics.agenda` per kind;
- money at stake: the year's budget of the results the item touches, full at ``agenda_money_full``;
- people at stake: the year's planned staff-months of those results, full at ``agenda_people_full``;
- reach: how many results it touches, full at ``agenda_reach_full``;
- waited: quarters it has waited (no data for so long, a risk review's days overdue / 91.25),
  full at ``agenda_wait_full``;
- carried over: how many reviews in a row the item came back without a decision
  (``carried_reviews``), full at ``agenda_carried_full`` (3: one review a third, two two thirds).

Example (severity 0.5, no money or people, one result of three, no wait, back for a second review):
    >>> import pandas as pd
    >>> ag = pd.DataFrame({"severity": [0.5], "money_at_stake": [0.0], "people_at_stake": [0.0],
    ...                    "n_results": [1], "waited": [0.0], "carried_over": [True], "carried_reviews": [2]})
    >>> round(float(priority_score(ag).iloc[0]), 2)  # 40*0.5 + 10*1/3 + 15*2/3
    33.33
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import column_text
from rbm_utils.analytics.frames import thresholds as thresholds_with
from rbm_utils.core.quarters import QuarterLike

#: The columns the score reads (besides ``carried_over``), published with the agenda.
SCORE_PARTS = ("severity", "money_at_stake", "people_at_stake", "n_results", "waited")
#: Threshold key of each weight, by part (``carried_reviews`` included).
WEIGHTS = {
    "severity": "agenda_weight_severity",
    "money_at_stake": "agenda_weight_money",
    "people_at_stake": "agenda_weight_people",
    "n_results": "agenda_weight_reach",
    "waited": "agenda_weight_waited",
    "carried_reviews": "agenda_weight_carried",
}
#: Threshold key at which a part counts fully (severity is already 0..1).
FULL_AT = {
    "money_at_stake": "agenda_money_full",
    "people_at_stake": "agenda_people_full",
    "n_results": "agenda_reach_full",
    "waited": "agenda_wait_full",
    "carried_reviews": "agenda_carried_full",
}


def stakes_by_result(money: pd.DataFrame | None, quarter: QuarterLike) -> dict[tuple[str, str], tuple[float, float]]:
    """(unit_code, result_id) -> (budget of the year, planned staff-months of the year), summed
    over funding sources, from :func:`rbm_utils.analytics.finance.money_by_output` rows of
    ``quarter`` (rows without a quarter count too).

    >>> m = pd.DataFrame({"unit_code": ["AFR", "AFR"], "result_id": ["O1", "O1"], "quarter": ["2026-Q3"] * 2,
    ...                   "budget_year": [100.0, 50.0], "staff_months_planned_year": [2.0, None]})
    >>> stakes_by_result(m, "2026-Q3")
    {('AFR', 'O1'): (150.0, 2.0)}
    """
    if money is None or money.empty:
        return {}
    sel = money
    if "quarter" in money.columns:
        sel = sel.loc[column_text(sel, "quarter").isin([str(quarter), ""]).to_numpy()]
    df = pd.DataFrame(
        {
            "u": column_text(sel, "unit_code").to_numpy(),
            "r": column_text(sel, "result_id").to_numpy(),
            "b": _numbers(sel, "budget_year"),
            "p": _numbers(sel, "staff_months_planned_year"),
        }
    )
    sums = df.groupby(["u", "r"], sort=True)[["b", "p"]].sum()
    return {(str(u), str(r)): (float(b), float(p)) for (u, r), (b, p) in sums.iterrows()}


def _numbers(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.zeros(len(df))
    return pd.to_numeric(df[col], errors="coerce").fillna(0.0).to_numpy(dtype=float)


def at_stake(
    unit: str, results: Iterable[str], stakes: Mapping[tuple[str, str], tuple[float, float]]
) -> tuple[float, float, int]:
    """Money, staff-months and number of distinct results touched by one item of ``unit``.

    >>> at_stake("AFR", ["O1", "O2", "O1", ""], {("AFR", "O1"): (150.0, 2.0)})
    (150.0, 2.0, 2)
    """
    touched = sorted({r for r in results if r})
    money = sum(stakes.get((unit, r), (0.0, 0.0))[0] for r in touched)
    people = sum(stakes.get((unit, r), (0.0, 0.0))[1] for r in touched)
    return float(money), float(people), len(touched)


def priority_score(agenda: pd.DataFrame, thresholds: Mapping[str, float] | None = None) -> pd.Series:
    """The priority score (0..sum of the weights, 100 by default) of each agenda row.

    Reads :data:`SCORE_PARTS` and ``carried_reviews`` (without it, ``carried_over`` True counts
    as one review); a missing or blank part counts 0. Each part is divided by its ``FULL_AT``
    threshold and capped at 1, then weighted (module docstring).

    >>> round(float(priority_score(pd.DataFrame({"carried_over": [True]})).iloc[0]), 2)  # 15 x 1/3
    5.0
    """
    t = thresholds_with(thresholds)
    score = pd.Series(0.0, index=agenda.index)
    columns = dict(agenda.items())
    if "carried_reviews" not in columns and "carried_over" in columns:
        columns["carried_reviews"] = agenda["carried_over"].fillna(False).astype(bool).astype(float)
    for part, key in WEIGHTS.items():
        if part not in columns:
            continue
        v = pd.to_numeric(columns[part], errors="coerce").astype(float).fillna(0.0)
        if part in FULL_AT:
            full = float(t[FULL_AT[part]])
            v = v / full if full > 0 else (v > 0).astype(float)
        score = score + float(t[key]) * v.clip(lower=0.0, upper=1.0)
    return score.round(2)


def ranked(agenda: pd.DataFrame, tie_break: list[str]) -> pd.DataFrame:
    """``agenda`` sorted by ``score`` (highest first), ties by the ``tie_break`` columns in
    order, with ``rank`` 1..n (1 = most in need of a decision). Returns a new frame.

    >>> ag = pd.DataFrame({"item_id": ["A", "B", "C"], "score": [10.0, 30.0, 10.0]})
    >>> ranked(ag, ["item_id"])[["item_id", "rank"]].values.tolist()
    [['B', 1], ['A', 2], ['C', 3]]
    """
    out = agenda.assign(_s=-agenda["score"]).sort_values(["_s", *tie_break], kind="stable")
    out = out.drop(columns="_s").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out
