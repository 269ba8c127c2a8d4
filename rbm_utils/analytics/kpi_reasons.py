"""Why a KPI is off track or at risk, in one line a manager can read (docs/rules.md, "Why a KPI
is off track").

For each KPI whose status is ``off_track`` or ``at_risk`` the reasons the data already holds,
in this order, joined by " · ":

1. the officer's comment on the KPI's latest reported value (sheet Actuals, up to the quarter);
2. each stalled link of the results chain that starts or ends at the KPI's result
   (:func:`rbm_utils.analytics.pathway.stalls`);
3. each open risk on the KPI's result (risk register), with its rating;
4. each assumption tested this quarter as broken or weakening that tests the KPI or sits on a
   link starting or ending at its result.

When none of these is found, the KPI's own figures: its achievement against the progress
expected by now. A KPI with another status gets an empty text. Takes the OUTPUT frames of
the analytics modules and never recomputes them; free text is kept raw (escape it where it
becomes HTML).

Example:
    >>> progress = pd.DataFrame({"unit_code": ["AFR", "AFR"], "kpi_id": ["K1", "K2"],
    ...                          "result_id": ["O1", "O2"], "status": ["off_track", "on_track"]})
    >>> actuals = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "period": ["2026-Q3"],
    ...                         "comment": ["Requests slower than planned"]})
    >>> risks = pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"], "result_id": ["O1"],
    ...                       "title": ["Key posts vacant"], "rating": ["high"], "is_open": [True]})
    >>> kpi_reasons(progress, actuals, risks=risks, quarter="2026-Q3")["why"].tolist()
    ['Officer: Requests slower than planned · Risk R1 (high): Key posts vacant', '']
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from rbm_utils.analytics.frames import column, column_text
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of

#: The KPI statuses that get a reason.
EXPLAINED_STATUSES = ("off_track", "at_risk")
#: Assumption verdicts that count as a reason.
WEAK_VERDICTS = ("broken", "weakening")
#: Between two reasons.
SEPARATOR = " · "

Key = tuple[str, str]


def _empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def _comments(actuals: pd.DataFrame | None, quarter: QuarterLike | None) -> dict[Key, str]:
    """(unit, kpi) -> the comment(s) on the latest reported period up to ``quarter``."""
    if _empty(actuals) or actuals is None or "comment" not in actuals.columns:
        return {}
    a = actuals.assign(_p=index_of(actuals["period"]), _c=column_text(actuals, "comment").str.strip())
    if quarter is not None:
        a = a[a["_p"] <= Quarter.parse(quarter).index]
    a = a[a["_p"].notna()]
    if a.empty:
        return {}
    latest = a.groupby(["unit_code", "kpi_id"])["_p"].transform("max")
    a = a[(a["_p"] == latest) & (a["_c"] != "")]
    out: dict[Key, str] = {}
    for (u, k), g in a.groupby(["unit_code", "kpi_id"], sort=False):
        out[(str(u), str(k))] = "; ".join(dict.fromkeys(g["_c"]))
    return out


def _by_result(rows: list[tuple[str, str, str]]) -> dict[Key, list[str]]:
    out: dict[Key, list[str]] = defaultdict(list)
    for unit, result, text in rows:
        if text not in out[(unit, result)]:
            out[(unit, result)].append(text)
    return out


def _stall_texts(stalls: pd.DataFrame | None) -> dict[Key, list[str]]:
    if _empty(stalls) or stalls is None:
        return {}
    rows = []
    for r in stalls.itertuples(index=False):
        text = f"Stalled link {r.source} → {r.target}"
        rows += [(str(r.unit_code), str(r.source), text), (str(r.unit_code), str(r.target), text)]
    return _by_result(rows)


def _risk_texts(risks: pd.DataFrame | None) -> dict[Key, list[str]]:
    if _empty(risks) or risks is None or "result_id" not in risks.columns:
        return {}
    is_open = column(risks, "is_open", True).fillna(True).astype(bool)
    r = risks[is_open.to_numpy()]
    return _by_result(
        [
            (str(x.unit_code), str(x.result_id), f"Risk {x.risk_id} ({x.rating}): {x.title}")
            for x in r.itertuples(index=False)
            if isinstance(x.result_id, str) and x.result_id
        ]
    )


def _assumption_texts(tests: pd.DataFrame | None, quarter: QuarterLike | None) -> tuple[dict, dict]:
    """(by KPI, by result) texts of the assumptions tested ``quarter`` as broken or weakening."""
    if _empty(tests) or tests is None:
        return {}, {}
    t = tests[column_text(tests, "verdict").isin(WEAK_VERDICTS).to_numpy()]
    if quarter is not None and "period" in t.columns:
        t = t[index_of(t["period"]) == Quarter.parse(quarter).index]
    by_kpi: dict[Key, list[str]] = defaultdict(list)
    rows = []
    for x in t.itertuples(index=False):
        text = f"Assumption {x.assumption_id} {x.verdict}: {getattr(x, 'statement', '') or ''}".rstrip(": ")
        unit = str(x.unit_code)
        for kpi in (getattr(x, "kpi_id", None), getattr(x, "reference_kpi_id", None)):
            if isinstance(kpi, str) and kpi and text not in by_kpi[(unit, kpi)]:
                by_kpi[(unit, kpi)].append(text)
        for res in (getattr(x, "from_result", None), getattr(x, "to_result", None)):
            if isinstance(res, str) and res:
                rows.append((unit, res, text))
    return by_kpi, _by_result(rows)


def _behind(progress: pd.DataFrame) -> dict[Key, str]:
    """(unit, kpi) -> "Achieved 60% of the target; 74% expected by now" where both are known."""
    out: dict[Key, str] = {}
    ach = pd.to_numeric(column(progress, "achievement"), errors="coerce")
    exp = pd.to_numeric(column(progress, "expected"), errors="coerce")
    for u, k, a, e in zip(column_text(progress, "unit_code"), column_text(progress, "kpi_id"), ach, exp):
        if pd.notna(a) and pd.notna(e):
            out[(u, k)] = f"Achieved {a:.0%} of the target; {e:.0%} expected by now"
    return out


def kpi_reasons(
    progress: pd.DataFrame,
    actuals: pd.DataFrame | None = None,
    stalls: pd.DataFrame | None = None,
    risks: pd.DataFrame | None = None,
    tests: pd.DataFrame | None = None,
    quarter: QuarterLike | None = None,
) -> pd.DataFrame:
    """``progress`` with a column ``why``: the reasons of each off-track or at-risk KPI (module doc).

    >>> p = pd.DataFrame({"unit_code": ["A"], "kpi_id": ["K"], "result_id": ["O1"], "status": ["at_risk"],
    ...                   "achievement": [0.6], "expected": [0.74]})
    >>> kpi_reasons(p)["why"].iloc[0]
    'Achieved 60% of the target; 74% expected by now'
    >>> s = pd.DataFrame({"unit_code": ["A"], "source": ["O1"], "target": ["C1"]})
    >>> t = pd.DataFrame({"unit_code": ["A"], "assumption_id": ["AS1"], "period": ["2026-Q3"], "kpi_id": [None],
    ...                   "verdict": ["broken"], "from_result": ["O1"], "to_result": ["C1"],
    ...                   "statement": ["Trained staff stay in post"]})
    >>> kpi_reasons(p, stalls=s, tests=t, quarter="2026-Q3")["why"].iloc[0]
    'Stalled link O1 → C1 · Assumption AS1 broken: Trained staff stay in post'
    """
    out = progress.copy()
    if out.empty:
        out["why"] = pd.Series(dtype=object)
        return out
    comments = _comments(actuals, quarter)
    stall = _stall_texts(stalls)
    risk = _risk_texts(risks)
    by_kpi, by_link = _assumption_texts(tests, quarter)
    behind = _behind(out)
    why = []
    for u, k, res, st in zip(
        column_text(out, "unit_code"),
        column_text(out, "kpi_id"),
        column_text(out, "result_id"),
        column_text(out, "status"),
    ):
        if st not in EXPLAINED_STATUSES:
            why.append("")
            continue
        parts = [f"Officer: {comments[(u, k)]}"] if (u, k) in comments else []
        parts += stall.get((u, res), []) + risk.get((u, res), [])
        parts += [t for t in by_kpi.get((u, k), []) + by_link.get((u, res), []) if t not in parts]
        why.append(SEPARATOR.join(parts) or behind.get((u, k), ""))
    out["why"] = why
    return out
