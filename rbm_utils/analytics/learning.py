"""The learning log: what the unit changed in its working assumptions since last quarter, with
the officer's note of what was learnt (docs/rules.md, "The learning log").

Compares sheet Assumptions of the state as it stood at the previous quarter with the state
now, unit by unit, and lists each revision: an assumption added or dropped, its statement,
its test (kind and KPIs tested), its threshold or its link in the results chain changed, or
only a new note. Free text is kept raw: escape it where it becomes HTML.

Example:
    >>> import pandas as pd
    >>> before = pd.DataFrame({"unit_code": ["AFR"], "assumption_id": ["A1"], "from_result": ["O1"],
    ...     "to_result": ["R1"], "statement": ["Trainees stay"], "test": ["min_ratio"], "kpi_id": ["K2"],
    ...     "reference_kpi_id": ["K1"], "threshold": [0.6], "review_note": [None]})
    >>> now = before.assign(threshold=[0.4], review_note=["Turnover is higher than planned"])
    >>> log = lessons({"Assumptions": now}, {"Assumptions": before}, "2026-Q3")
    >>> log[["what_changed", "before", "after", "review_note"]].values.tolist()
    [['threshold', '0.6', '0.4', 'Turnover is higher than planned']]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from rbm_utils.analytics.frames import TOLERANCE, column, column_text
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import fmt_number, number_column

State = Mapping[str, pd.DataFrame]

#: Columns of :func:`lessons`.
LEARNING_COLUMNS = [
    "unit_code",
    "assumption_id",
    "what_changed",
    "before",
    "after",
    "verdict_before",
    "verdict_after",
    "review_note",
    "quarter",
]
#: What can change of an assumption, in the order a revision lists them.
ASPECTS = ("added", "dropped", "statement", "test", "threshold", "link", "note")


def _assumptions(state: State, units: set[str]) -> pd.DataFrame:
    """One row per (unit_code, assumption_id) of ``units``, each aspect as comparable text."""
    df = state.get("Assumptions")
    if df is None or df.empty:
        return pd.DataFrame(columns=["unit_code", "assumption_id", *ASPECTS[2:], "_threshold"])
    kpi, ref = column_text(df, "kpi_id"), column_text(df, "reference_kpi_id")
    threshold = number_column(column(df, "threshold"))
    tested = kpi.where(kpi.eq(""), " on " + kpi) + ref.where(ref.eq(""), " / " + ref)
    out = pd.DataFrame(
        {
            "unit_code": column_text(df, "unit_code"),
            "assumption_id": column_text(df, "assumption_id"),
            "statement": column_text(df, "statement").str.replace(r"\s+", " ", regex=True),
            "test": column_text(df, "test") + tested,
            "threshold": [fmt_number(v) for v in threshold],
            "link": column_text(df, "from_result") + " -> " + column_text(df, "to_result"),
            "note": column_text(df, "review_note"),
            "_threshold": threshold,
        }
    )
    out = out[out["unit_code"].isin(units) & out["assumption_id"].ne("")]
    return out.drop_duplicates(["unit_code", "assumption_id"], keep="last").reset_index(drop=True)


def _verdicts(tests: pd.DataFrame | None, period: str) -> dict[tuple[str, str], str]:
    """(unit_code, assumption_id) -> the verdict of its last test row at ``period``."""
    if tests is None or tests.empty:
        return {}
    t = tests[column_text(tests, "period").eq(period)]
    return dict(
        zip(
            zip(column_text(t, "unit_code"), column_text(t, "assumption_id")),
            column_text(t, "verdict"),
        )
    )


def _units(state: State) -> set[str]:
    """Units that submitted in ``state``: its sheet Unit, else those with assumptions."""
    for name in ("Unit", "Assumptions"):
        df = state.get(name)
        if df is not None and "unit_code" in df.columns:
            return set(column_text(df, "unit_code")) - {""}
    return set()


def _same_threshold(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOLERANCE


def lessons(
    state: State,
    previous_state: State | None,
    quarter: QuarterLike,
    tests: pd.DataFrame | None = None,
    previous_tests: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every revision of an assumption between ``previous_state`` (the state at the quarter
    before ``quarter``) and ``state``, one row per aspect changed (columns :data:`LEARNING_COLUMNS`).

    Only units that had submitted by the previous quarter are compared (a unit's first
    submission sets its framework). ``what_changed`` is one of :data:`ASPECTS`: ``added`` /
    ``dropped`` (before or after: the statement), ``statement``, ``test`` (kind, tested KPI
    and reference KPI: ``min_ratio on K2 / K1``), ``threshold``, ``link`` (``from -> to``), or
    ``note`` when only the review note changed to a new, non-blank one. ``review_note`` is the
    note now (the last one for a dropped assumption). ``verdict_before``: the verdict at the
    previous quarter from ``previous_tests`` (else ``tests``); ``verdict_after`` at ``quarter``.
    Without ``previous_state`` the log is empty.

    >>> lessons({}, None, "2026-Q3").columns.tolist()[:3]
    ['unit_code', 'assumption_id', 'what_changed']
    """
    q = Quarter.parse(quarter)
    if previous_state is None:
        return pd.DataFrame(columns=LEARNING_COLUMNS)
    units = _units(previous_state) & _units(state)
    before, after = _assumptions(previous_state, units), _assumptions(state, units)
    both = before.merge(after, on=["unit_code", "assumption_id"], how="outer", suffixes=("_b", "_a"), indicator=True)
    v_before = _verdicts(previous_tests if previous_tests is not None else tests, str(q.previous))
    v_after = _verdicts(tests, str(q))
    rows = []
    for r in both.to_dict("records"):
        key = (r["unit_code"], r["assumption_id"])
        base = dict(
            unit_code=key[0],
            assumption_id=key[1],
            verdict_before=v_before.get(key, ""),
            verdict_after=v_after.get(key, ""),
            quarter=str(q),
        )
        if r["_merge"] == "right_only":
            rows.append(base | dict(what_changed="added", before="", after=r["statement_a"], review_note=r["note_a"]))
            continue
        if r["_merge"] == "left_only":
            rows.append(base | dict(what_changed="dropped", before=r["statement_b"], after="", review_note=r["note_b"]))
            continue
        changed = [a for a in ("statement", "test", "link") if r[f"{a}_b"] != r[f"{a}_a"]]
        if not _same_threshold(r["_threshold_b"], r["_threshold_a"]):
            changed = sorted([*changed, "threshold"], key=ASPECTS.index)
        if not changed and r["note_a"] and r["note_a"] != r["note_b"]:
            rows.append(
                base | dict(what_changed="note", before=r["note_b"], after=r["note_a"], review_note=r["note_a"])
            )
        for a in changed:
            rows.append(base | dict(what_changed=a, before=r[f"{a}_b"], after=r[f"{a}_a"], review_note=r["note_a"]))
    if not rows:
        return pd.DataFrame(columns=LEARNING_COLUMNS)
    out = pd.DataFrame(rows)
    out["_a"] = out["what_changed"].map(ASPECTS.index)
    out = out.sort_values(["unit_code", "assumption_id", "_a"], kind="stable")
    return out[LEARNING_COLUMNS].reset_index(drop=True)
