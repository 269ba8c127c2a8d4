"""Decisions of the review meetings, followed up; the approval state of each unit-quarter
(docs/rules.md, "Decisions and their follow-up" and "Delegated authority").

:func:`follow_up` lists every decision a unit recorded (sheet Decisions) with whether it is
overdue and what moved since on what it concerns: a KPI's status and value, an assumption's
verdict, a risk's score, then and now. :func:`approvals` and :func:`framework_changes` pass
the store's frozen ``Approvals`` and ``FrameworkChanges`` tables through with their columns
(empty with those columns for a snapshot taken before they existed).

Takes the OUTPUT frames of the analytics modules (kpi, assumptions, risks) and never
recomputes them. Free text is kept raw: escape it where it becomes HTML.

Example:
    >>> import pandas as pd
    >>> d = pd.DataFrame({"unit_code": ["AFR"], "decision_id": ["AFR-D1"], "meeting_quarter": ["2026-Q1"],
    ...     "concerns": ["AFR-K1"], "concerns_kind": ["kpi"], "decision": ["Run two more workshops"],
    ...     "kind": ["add_activity"], "owner": ["Head of unit"], "due_quarter": ["2026-Q2"], "status": ["open"]})
    >>> follow_up({"Decisions": d}, "2026-Q3")[["decision_id", "overdue", "quarters_overdue"]].values.tolist()
    [['AFR-D1', True, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import TOLERANCE, column_text
from rbm_utils.core.codes import (
    APPROVAL_COLUMNS,
    DECISION_OPEN_STATUSES,
    DECISION_STATUSES,
    FRAMEWORK_CHANGE_COLUMNS,
    KPI_STATUS_WORDS,
    DecisionStatus,
)
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import cell_number, cell_text, fmt_number, number_column

State = Mapping[str, pd.DataFrame]

#: The columns of sheet Decisions that :func:`follow_up` reads (a missing one reads blank).
DECISION_FIELDS = (
    "decision_id",
    "meeting_quarter",
    "concerns",
    "concerns_kind",
    "other_unit",
    "decision",
    "kind",
    "owner",
    "due_quarter",
    "status",
    "follow_up",
)
#: Columns of :func:`follow_up`.
FOLLOW_UP_COLUMNS = [
    "decision_id",
    "unit_code",
    "recorded_by",
    "meeting_quarter",
    "concerns",
    "concerns_kind",
    "other_unit",
    "kind",
    "decision",
    "owner",
    "due_quarter",
    "status",
    "overdue",
    "quarters_overdue",
    "follow_up",
    "then_quarter",
    "then_status",
    "now_status",
    "then_value",
    "now_value",
    "then_score",
    "now_score",
    "moved",
]
#: Statuses of a decision that close it: never overdue.
CLOSED_STATUSES: tuple[DecisionStatus, ...] = tuple(s for s in DECISION_STATUSES if s not in DECISION_OPEN_STATUSES)
#: Numeric columns of the two passed-through tables and their dtypes.
_NUMERIC = {"n_pending": "int64", "amount": "float64", "share": "float64"}


def recorded_decisions(state: State, previous_state: State | None = None) -> pd.DataFrame:
    """Every decision on record: sheet Decisions of ``state``, plus the decisions of
    ``previous_state`` that are no longer in it (the template carries only open decisions into
    the next workbook, so one closed last quarter is listed once more with its last status).
    Columns unit_code and :data:`DECISION_FIELDS`, all text.

    >>> recorded_decisions({}).columns.tolist()[:3]
    ['unit_code', 'decision_id', 'meeting_quarter']
    """
    frames = []
    for st in (state, previous_state or {}):
        df = st.get("Decisions")
        if df is None or df.empty:
            continue
        frames.append(pd.DataFrame({c: column_text(df, c) for c in ("unit_code", *DECISION_FIELDS)}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("unit_code", *DECISION_FIELDS)})
    out = pd.concat(frames, ignore_index=True)
    out = out[out["decision_id"].ne("")].drop_duplicates(["unit_code", "decision_id"], keep="first")
    return out.reset_index(drop=True)


def _lookup(frame: pd.DataFrame | None, key: str, period: str | None, fields: tuple[str, ...]) -> dict:
    """(unit_code, id[, period]) -> {field: value} of the last row of ``frame`` per key."""
    if frame is None or frame.empty:
        return {}
    cols = ["unit_code", key] + (["period"] if period else [])
    sub = frame.drop_duplicates(cols, keep="last")
    keys = zip(*(column_text(sub, c) for c in cols))
    values = zip(*(sub[f] if f in sub.columns else [None] * len(sub) for f in fields))
    return {k: dict(zip(fields, v)) for k, v in zip(keys, values)}


def _value_text(value: float, measure: str) -> str:
    return fmt_number(value, measure) or "none"


def _moved_kpi(then: dict | None, now: dict | None, since: str, measure: str) -> str:
    if now is None:
        return "the KPI is no longer in the framework"
    now_status, now_value = cell_text(now.get("status")), cell_number(now.get("current"))
    if then is None:
        return f"now {KPI_STATUS_WORDS.get(now_status, now_status)}, value {_value_text(now_value, measure)}"
    then_status, then_value = cell_text(then.get("status")), cell_number(then.get("current"))
    parts = []
    if then_status != now_status:
        parts.append(
            f"status {KPI_STATUS_WORDS.get(then_status, then_status)} -> {KPI_STATUS_WORDS.get(now_status, now_status)}"
        )
    same_value = (math.isnan(then_value) and math.isnan(now_value)) or abs(then_value - now_value) <= TOLERANCE
    if not same_value:
        parts.append(f"value {_value_text(then_value, measure)} -> {_value_text(now_value, measure)}")
    return "; ".join(parts) or f"no change since {since}"


def _moved_risk(then_score: float, now: dict | None, since: str) -> str:
    if now is None:
        return "the risk is no longer in the register"
    now_score = cell_number(now.get("score"))
    if cell_text(now.get("status")) == "closed":
        return "risk closed" + (f" (score was {then_score:.0f})" if not math.isnan(then_score) else "")
    if math.isnan(then_score):
        return f"score now {now_score:.0f}" if not math.isnan(now_score) else ""
    if math.isnan(now_score) or abs(now_score - then_score) <= TOLERANCE:
        return f"score unchanged at {then_score:.0f} since {since}"
    return f"score {then_score:.0f} -> {now_score:.0f}"


def _moved_assumption(then: str, now: str | None, since: str) -> str:
    if now is None:
        return "the assumption is no longer in the framework"
    if not then:
        return f"verdict now {now}" if now else ""
    return f"verdict {then} -> {now}" if then != now else f"verdict unchanged ({now}) since {since}"


class _Lookups:
    """What :func:`follow_up` reads of the analytics outputs, keyed by (unit_code, id[, period])."""

    def __init__(
        self,
        series: pd.DataFrame | None,
        previous_series: pd.DataFrame | None,
        progress: pd.DataFrame | None,
        register: pd.DataFrame | None,
        tests: pd.DataFrame | None,
        previous_tests: pd.DataFrame | None,
    ) -> None:
        self.kpi_now = _lookup(series, "kpi_id", "period", ("status", "current"))
        self.kpi_prev = _lookup(previous_series, "kpi_id", "period", ("status", "current"))
        progress_measures = _lookup(progress, "kpi_id", None, ("measure",))
        self.measures = {k: cell_text(v["measure"]) for k, v in progress_measures.items()}
        self.risk = _lookup(register, "risk_id", None, ("score", "previous_score", "status"))
        self.verdict_now = _lookup(tests, "assumption_id", "period", ("verdict",))
        self.verdict_prev = _lookup(previous_tests, "assumption_id", "period", ("verdict",))
        self.assumptions = {k[:2] for k in self.verdict_now}
        self.given = {"kpi": series is not None, "risk": register is not None, "assumption": tests is not None}

    def moved(self, unit: str, item: str, kind: str, meeting: float, q: Quarter) -> dict:
        """then/now figures and the ``moved`` text of one decision taken at quarter index ``meeting``."""
        at_q = meeting >= q.index
        then_q = str(Quarter.from_index(int(meeting))) if not math.isnan(meeting) else ""
        out: dict = dict(then_quarter=then_q, then_status="", now_status="", moved="")
        out.update(then_value=math.nan, now_value=math.nan, then_score=math.nan, now_score=math.nan)
        if not self.given.get(kind, False):
            pass  # nothing measured of what it concerns, or the figures were not given
        elif kind == "kpi":
            now = self.kpi_now.get((unit, item, str(q)))
            then = now if at_q else self.kpi_prev.get((unit, item, then_q)) or self.kpi_now.get((unit, item, then_q))
            for side, rec in (("then", then), ("now", now)):
                out[f"{side}_status"] = cell_text((rec or {}).get("status"))
                out[f"{side}_value"] = cell_number((rec or {}).get("current"))
            out["moved"] = _moved_kpi(then, now, then_q, self.measures.get((unit, item), "number"))
        elif kind == "assumption":
            before = None if at_q else self.verdict_prev.get((unit, item, then_q))
            before = before or self.verdict_now.get((unit, item, then_q)) or {}
            out["then_status"] = cell_text(before.get("verdict"))
            out["now_status"] = cell_text((self.verdict_now.get((unit, item, str(q))) or {}).get("verdict"))
            now_v = out["now_status"] if (unit, item) in self.assumptions else None
            out["moved"] = _moved_assumption(out["then_status"], now_v, then_q)
        elif kind == "risk":
            rec = self.risk.get((unit, item))
            if not at_q and not math.isnan(meeting):
                out["then_quarter"] = str(max(Quarter.from_index(int(meeting)), q.previous))
            out["now_score"] = cell_number((rec or {}).get("score"))
            out["then_score"] = out["now_score"] if at_q else cell_number((rec or {}).get("previous_score"))
            out["moved"] = _moved_risk(out["then_score"], rec, out["then_quarter"])
        if at_q:
            out["moved"] = "taken at this review"
        return out


def follow_up(
    state: State,
    quarter: QuarterLike,
    *,
    previous_state: State | None = None,
    series: pd.DataFrame | None = None,
    previous_series: pd.DataFrame | None = None,
    progress: pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
    tests: pd.DataFrame | None = None,
    previous_tests: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every decision taken at a review up to ``quarter`` Q, with its follow-up (columns
    :data:`FOLLOW_UP_COLUMNS`, docs/rules.md "Decisions and their follow-up").

    Decisions come from :func:`recorded_decisions` (meeting quarter Q or earlier). ``overdue``:
    due quarter before Q and status neither done nor dropped; ``quarters_overdue`` counts the
    quarters from the due quarter to Q (0 when not overdue).

    What moved, on what the decision concerns, between ``then_quarter`` and Q:

    - a KPI (``series``: :func:`rbm_utils.analytics.kpi.kpi_series` to Q): its status and
      current value at the meeting quarter, read from ``previous_series`` (the series of the
      state as it stood at Q-1) when the meeting was before Q, else from ``series``; now at Q;
    - an assumption (``tests``/``previous_tests``: assumption tests of the two states): its
      verdict at the meeting quarter and at Q, in then_status / now_status;
    - a risk (``register``: the risk register at Q with ``previous_score``): its score at
      Q-1 (the earliest the frozen state holds) for a meeting before Q; its score at Q now.

    A decision taken at Q is "taken at this review". A joint decision (``other_unit`` set) is
    listed for both units: ``unit_code`` is the unit whose review shows it, ``recorded_by``
    the unit whose workbook holds it (what it concerns is looked up in that unit). Sorted by
    unit, overdue first, then open, then closed decisions, each by due quarter and id.
    """
    q = Quarter.parse(quarter)
    qidx = q.index
    d = recorded_decisions(state, previous_state)
    meeting = index_of(d["meeting_quarter"])
    d = d.loc[(meeting <= qidx).fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)
    if d.empty:
        return empty_follow_up()
    meeting = index_of(d["meeting_quarter"]).to_numpy(dtype=float)
    due = index_of(d["due_quarter"]).to_numpy(dtype=float)
    closed = d["status"].isin(CLOSED_STATUSES).to_numpy()
    with np.errstate(invalid="ignore"):
        overdue = (due < qidx) & ~closed
    d["overdue"] = overdue
    d["quarters_overdue"] = np.where(overdue, qidx - np.nan_to_num(due, nan=qidx), 0).astype("int64")
    d["recorded_by"] = d["unit_code"]

    look = _Lookups(series, previous_series, progress, register, tests, previous_tests)
    rows = [
        look.moved(r["unit_code"], r["concerns"], r["concerns_kind"], mi, q)
        for r, mi in zip(d.to_dict("records"), meeting)
    ]
    d = pd.concat([d, pd.DataFrame(rows, index=d.index)], axis=1)
    joint = d[d["other_unit"].ne("") & d["other_unit"].ne(d["unit_code"])]
    d = pd.concat([d, joint.assign(unit_code=joint["other_unit"])], ignore_index=True)
    d = d.drop_duplicates(["unit_code", "decision_id"], keep="first")
    order = np.select([d["overdue"].to_numpy(dtype=bool), d["status"].isin(CLOSED_STATUSES).to_numpy()], [0, 2], 1)
    d = d.assign(_o=order, _d=index_of(d["due_quarter"]).fillna(np.inf))
    d = d.sort_values(["unit_code", "_o", "_d", "decision_id"], kind="stable")
    for c in ("then_value", "now_value", "then_score", "now_score"):
        d[c] = d[c].astype("float64")
    d["overdue"] = d["overdue"].astype(bool)
    return d[FOLLOW_UP_COLUMNS].reset_index(drop=True)


def empty_follow_up() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in FOLLOW_UP_COLUMNS})
    out["overdue"] = out["overdue"].astype(bool)
    out["quarters_overdue"] = out["quarters_overdue"].astype("int64")
    for c in ("then_value", "now_value", "then_score", "now_score"):
        out[c] = out[c].astype("float64")
    return out


def _pass_through(state: State, name: str, columns: list[str], quarter: Quarter) -> pd.DataFrame:
    """A frozen store table with ``columns`` first (missing ones blank), rows of ``quarter``."""
    df = state.get(name)
    if df is None or df.empty:
        return pd.DataFrame({c: pd.Series(dtype=_NUMERIC.get(c, object)) for c in columns})
    out = df.copy()
    for c in columns:
        if c not in out.columns:
            out[c] = np.nan if c in _NUMERIC else ""
    for c, dtype in _NUMERIC.items():
        if c in out.columns:
            number = number_column(out[c])
            out[c] = number.fillna(0).astype(dtype) if dtype == "int64" else number
    out = out[out["quarter"].astype(str).eq(str(quarter))] if len(out) else out
    rest = [c for c in out.columns if c not in columns]
    return out[[*columns, *rest]].reset_index(drop=True)


def approvals(state: State, quarter: QuarterLike) -> pd.DataFrame:
    """The approval state of each unit-quarter (the snapshot's ``Approvals``; columns
    :data:`APPROVAL_COLUMNS`): ``draft`` (not approved), ``approved`` (by whom and when; by
    the bureau's approver too when a change needed it) or ``pending`` (approved by the unit's
    approver, ``n_pending`` changes beyond the unit's authority await the bureau).

    >>> approvals({}, "2026-Q3").columns.tolist()[:3]
    ['unit_code', 'quarter', 'state']
    """
    return _pass_through(state, "Approvals", APPROVAL_COLUMNS, Quarter.parse(quarter))


def framework_changes(state: State, quarter: QuarterLike) -> pd.DataFrame:
    """Every change of a unit's framework against its last approved quarter, with the authority
    it needs (the snapshot's ``FrameworkChanges``; columns :data:`FRAMEWORK_CHANGE_COLUMNS`).

    >>> framework_changes({}, "2026-Q3").empty
    True
    """
    return _pass_through(state, "FrameworkChanges", FRAMEWORK_CHANGE_COLUMNS, Quarter.parse(quarter))


def pending_escalations(changes: pd.DataFrame) -> pd.DataFrame:
    """The changes that need the bureau's approver and do not have it yet: authority ``bureau``,
    status not ``approved`` (``pending``: the unit's approver approved the quarter, the bureau's
    has not; ``draft``: the quarter awaits the unit's approval first).

    >>> pending_escalations(framework_changes({}, "2026-Q3")).empty
    True
    """
    if changes is None:
        return framework_changes({}, "2026-Q1")
    keep = column_text(changes, "authority").eq("bureau") & column_text(changes, "status").ne("approved")
    return changes.loc[keep.to_numpy()].reset_index(drop=True)
