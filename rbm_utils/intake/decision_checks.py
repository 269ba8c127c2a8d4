"""Checks of the Decisions sheet: decisions taken at review meetings, followed up until closed.

A decision concerns an id of its kind (``concerns_kind``) that the workbook defines; for a joint
decision (``other_unit`` set) the other unit's stored state counts too, when the validator is
given it. The other unit is a configured unit other than this one; a decision is due no earlier
than its meeting; the meeting is not after the reporting quarter (nor before the workbench's
first quarter); a decision marked ``done`` or ``dropped`` carries a follow-up note.

Example:
    >>> CONCERNS["kpi"], CONCERNS["initiative"]
    (('KPIs', 'kpi_id'), ('Results', 'initiative'))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from rbm_utils.core.codes import DECISION_TARGETS
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import UNIT_CODE_RE
from rbm_utils.intake.context import Context, Record
from rbm_utils.intake.history import frame_records

SHEET = "Decisions"

#: Where the id of each kind of concern is defined: (sheet, column).
CONCERNS: dict[str, tuple[str, str]] = {
    "kpi": ("KPIs", "kpi_id"),
    "result": ("Results", "result_id"),
    "risk": ("Risks", "risk_id"),
    "assumption": ("Assumptions", "assumption_id"),
    "budget": ("Budget", "result_id"),
    "activity": ("Activities", "activity_id"),
    "initiative": ("Results", "initiative"),
}
if set(CONCERNS) != set(DECISION_TARGETS):  # the contract changed: fail loudly at import
    raise RuntimeError(f"decision targets {DECISION_TARGETS} and CONCERNS {tuple(CONCERNS)} differ")

#: Statuses that close a decision; each needs a follow-up note.
CLOSED = ("done", "dropped")

#: The stored state of another unit by its code (None when unknown), for joint decisions.
OtherState = Callable[[str], Mapping[str, pd.DataFrame] | None]


def check_decisions(ctx: Context, unit: Mapping[str, object], other_state: OtherState | None = None) -> None:
    """Every row of the Decisions sheet: what it concerns, the other unit, its quarters, its note.

    ``unit`` holds the Unit sheet's fields (its code and reporting quarter); ``other_state``
    gives another unit's stored state, where a joint decision's concern may be defined.
    """
    records = ctx.records.get(SHEET, [])
    if not records:
        return
    own = unit.get("unit_code")
    reporting = Quarter.parse_or_none(str(unit.get("reporting_quarter") or ""))
    first = Quarter.parse(ctx.config.first_quarter)
    known = {kind: _ids(ctx.records, sheet_name, column) for kind, (sheet_name, column) in CONCERNS.items()}
    others: dict[str, dict[str, set[str]]] = {}
    for rec in records:
        other = rec.get("other_unit")
        other_ok = other is None or _check_other_unit(ctx, rec, other, own)
        if other is not None and other_ok and other not in others:
            others[other] = _other_ids(other_state, other)
        _check_concern(ctx, rec, known, others.get(other, {}) if other is not None else {})
        _check_quarters(ctx, rec, reporting, first)
        if rec.get("status") in CLOSED and not rec.get("follow_up"):
            ctx.add(
                "decision_closed_without_note",
                SHEET,
                rec["_row"],
                "follow_up",
                None,
                f"Decision {rec.get('decision_id')} is {rec['status']}: say in follow_up what was done, "
                "or why it was dropped.",
            )


def _ids(frames: Mapping[str, list[Record]], sheet_name: str, column: str) -> set[str]:
    return {str(r[column]).strip() for r in frames.get(sheet_name, []) if r.get(column) is not None}


def _other_ids(other_state: OtherState | None, code: str) -> dict[str, set[str]]:
    """The ids of each kind in another unit's stored state (none without it)."""
    state = other_state(code) if other_state is not None else None
    if not state:
        return {}
    stored = {sheet_name: frame_records(state, sheet_name) for sheet_name, _ in CONCERNS.values()}
    return {kind: _ids(stored, sheet_name, column) for kind, (sheet_name, column) in CONCERNS.items()}


def _check_other_unit(ctx: Context, rec: Record, other: str, own: object) -> bool:
    """A joint decision's other unit is a configured unit, not this one; True when it is."""
    if UNIT_CODE_RE.match(other) and other in ctx.config.units and other != own:
        return True
    why = (
        "is this workbook's own unit; a joint decision names the other unit"
        if other == own
        else f"is not a unit listed in parameters/workbench.yaml (known: {', '.join(ctx.config.units)})"
    )
    ctx.add("decision_unknown_unit", SHEET, rec["_row"], "other_unit", other, f"Other unit '{other}' {why}.")
    return False


def _check_concern(
    ctx: Context, rec: Record, known: Mapping[str, set[str]], other_known: Mapping[str, set[str]]
) -> None:
    """The concerned id exists among the ids of its kind (a missing or unknown kind is reported already)."""
    kind, concerns = rec.get("concerns_kind"), rec.get("concerns")
    if kind not in CONCERNS or concerns is None or CONCERNS[kind][0] in ctx.unreadable:
        return
    concerns = str(concerns).strip()
    if concerns in known[kind] or concerns in other_known.get(kind, set()):
        return
    sheet_name, column = CONCERNS[kind]
    where = f"{column} of sheet {sheet_name}" + (" (nor in the other unit's stored framework)" if other_known else "")
    ctx.add(
        "decision_unknown_concern",
        SHEET,
        rec["_row"],
        "concerns",
        concerns,
        f"Decision {rec.get('decision_id')} concerns {kind} '{concerns}', which is no {where}.",
    )


def _check_quarters(ctx: Context, rec: Record, reporting: Quarter | None, first: Quarter) -> None:
    """The meeting is within the workbench's quarters up to the reporting one; the due quarter not before it."""
    meeting_text, due_text = rec.get("meeting_quarter"), rec.get("due_quarter")
    meeting = Quarter.parse_or_none(meeting_text) if meeting_text else None
    due = Quarter.parse_or_none(due_text) if due_text else None
    if meeting is not None and reporting is not None and meeting > reporting:
        ctx.add(
            "decision_meeting_after_report",
            SHEET,
            rec["_row"],
            "meeting_quarter",
            meeting_text,
            f"The meeting's quarter {meeting} is after the reporting quarter {reporting}; "
            "record the decision in the workbook of that quarter.",
        )
    elif meeting is not None and meeting < first:
        ctx.add(
            "before_first_quarter",
            SHEET,
            rec["_row"],
            "meeting_quarter",
            meeting_text,
            f"{meeting} is before the workbench's first quarter {first}.",
        )
    if meeting is not None and due is not None and due < meeting:
        ctx.add(
            "decision_due_before_meeting",
            SHEET,
            rec["_row"],
            "due_quarter",
            due_text,
            f"Decision {rec.get('decision_id')} is due in {due}, before the meeting that took it ({meeting}).",
        )
