"""What a review shows of the loop it closes: the approval state of a unit-quarter, the decisions
of earlier reviews, the pending escalations and overdue decisions across units.

Pure functions over the frozen or published tables (``approvals``, ``framework_changes``,
``decisions`` of :func:`rbm_utils.analytics.bureau.analyse`), used alike by the review notebooks
(through :mod:`rbm_utils.present.reports`) and the dashboards, so both say the same words.
HTML from here is escaped; plain text is not.

Example:
    >>> ap = pd.DataFrame({"unit_code": ["AFR"], "state": ["approved"], "approved_by": ["Amara Diallo"],
    ...                    "approved_at": ["2026-10-12T09:30:00Z"]})
    >>> approval_text(ap, None, "AFR")
    'Approved by Amara Diallo on 2026-10-12.'
    >>> approval_text(None, None, "AFR")
    'Draft: not approved yet.'
    >>> pv = pd.DataFrame({"unit_code": ["AFR"], "submission_id": [7], "submitted_by": ["Ada"],
    ...                    "ingested_at": ["2026-10-12T09:30:00Z"]})
    >>> figures_text(pv, None, "AFR")
    'Draft — figures as of submission 7 by Ada, 2026-10-12 09:30 UTC.'
    >>> figures_text(pv, ap, "AFR")
    'Figures as of submission 7 by Ada, 2026-10-12 09:30 UTC.'
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from rbm_utils.analytics.decisions import FRAMEWORK_CHANGE_COLUMNS, pending_escalations
from rbm_utils.core.quarters import QuarterLike
from rbm_utils.core.text import cell_number, cell_text, escape_text
from rbm_utils.present.labels import APPROVAL_COLORS, APPROVAL_LABELS, text_color
from rbm_utils.store.authority import describe_change

#: Words of an approval state that is not recorded (a quarter never approved).
DRAFT = "draft"


def _day(stamp: object) -> str:
    """The date of a timestamp written ``YYYY-MM-DDThh:mm...`` (the text as it is otherwise).

    >>> _day("2026-10-12T09:30:00Z"), _day(None)
    ('2026-10-12', '')
    """
    text = cell_text(stamp)
    return text[:10] if len(text) >= 10 and text[4] == "-" and text[7] == "-" else text


def moment(stamp: object) -> str:
    """A time as ``YYYY-MM-DD hh:mm UTC`` (the text as it is when it is not a time).

    >>> moment("2026-10-12T09:30:00Z"), moment("2026-10-12T11:30:00+02:00"), moment("soon"), moment(None)
    ('2026-10-12 09:30 UTC', '2026-10-12 09:30 UTC', 'soon', '')
    """
    text = cell_text(stamp)
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        return text
    if pd.isna(t):
        return text
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%d %H:%M UTC")


def figures_text(provenance: pd.DataFrame | None, approvals: pd.DataFrame | None, unit: str) -> str:
    """Which submission ``unit``'s figures come from (``provenance``: the published table of
    :func:`rbm_utils.analytics.provenance.provenance`), in words: "Draft — figures as of
    submission N by NAME, TIME" while the unit-quarter is not approved (draft or pending),
    "Figures as of submission N …" once approved; empty when the unit has no submission."""
    if provenance is None or provenance.empty or "unit_code" not in provenance.columns:
        return ""
    rows = provenance[provenance["unit_code"].astype(str) == unit]
    if rows.empty:
        return ""
    row = rows.iloc[-1].to_dict()
    sid = cell_number(row.get("submission_id"))
    what = f"submission {int(sid)}" if not math.isnan(sid) else "the latest submission"
    who, when = cell_text(row.get("submitted_by")), moment(row.get("ingested_at"))
    said = what + (f" by {who}" if who else "") + (f", {when}" if when else "")
    approved = (cell_text(approval_row(approvals, unit).get("state")) or DRAFT) == "approved"
    return f"Figures as of {said}." if approved else f"Draft — figures as of {said}."


def approval_row(approvals: pd.DataFrame | None, unit: str) -> dict:
    """The approvals row of ``unit`` ({"state": "draft"} when there is none)."""
    if approvals is None or approvals.empty or "unit_code" not in approvals.columns:
        return {"state": DRAFT}
    rows = approvals[approvals["unit_code"].astype(str) == unit]
    return rows.iloc[-1].to_dict() if len(rows) else {"state": DRAFT}


def approval_label(approvals: pd.DataFrame | None, unit: str) -> str:
    """The approval state of ``unit``'s quarter in one word (Draft, Approved, Pending escalation).

    >>> approval_label(None, "AFR")
    'Draft'
    """
    state = cell_text(approval_row(approvals, unit).get("state")) or DRAFT
    return APPROVAL_LABELS.get(state, state)


def approval_labels(approvals: pd.DataFrame | None, units: Iterable[str]) -> list[str]:
    """:func:`approval_label` of each of ``units`` at once, in one pass over ``approvals`` (a
    bureau of 200 units: one filter of the table per unit took a tenth of a second).

    >>> ap = pd.DataFrame({"unit_code": ["AFR", "CYB", "AFR"], "state": ["draft", "pending", "approved"]})
    >>> approval_labels(ap, ["AFR", "CYB", "EUR"])
    ['Approved', 'Pending escalation', 'Draft']
    """
    states: dict[str, object] = {}
    if approvals is not None and not approvals.empty and "unit_code" in approvals.columns:
        state = approvals["state"].tolist() if "state" in approvals.columns else [None] * len(approvals)
        states = dict(zip(approvals["unit_code"].astype(str).tolist(), state, strict=True))  # a unit's last row
    words = []
    for unit in units:
        code = cell_text(states.get(unit)) or DRAFT
        words.append(APPROVAL_LABELS.get(code, code))
    return words


def unit_escalations(changes: pd.DataFrame | None, unit: str | None = None, currency: str = "") -> pd.DataFrame:
    """Changes that need the bureau's approver and do not have it yet (of ``unit``, or of every
    unit; status ``pending`` or, before the unit approved the quarter, ``draft``), each with
    ``change`` in words (with its amount and share; budget amounts in ``currency``)."""
    pending = pending_escalations(changes if changes is not None else pd.DataFrame(columns=FRAMEWORK_CHANGE_COLUMNS))
    if unit is not None and len(pending):
        pending = pending[pending["unit_code"].astype(str) == unit]
    pending = pending.reset_index(drop=True)
    pending.insert(len(pending.columns), "change", [describe_change(r, currency) for r in pending.to_dict("records")])
    return pending


def approval_text(
    approvals: pd.DataFrame | None,
    changes: pd.DataFrame | None,
    unit: str,
    bureau_role: str = "bureau approver",
    currency: str = "",
) -> str:
    """The approval state of ``unit``'s quarter in words (plain text): draft, approved by whom
    and when, or pending escalation with each change beyond the unit's authority and its amount."""
    row = approval_row(approvals, unit)
    state = cell_text(row.get("state")) or DRAFT
    who, when = cell_text(row.get("approved_by")), _day(row.get("approved_at"))
    by = f" by {who}" + (f" on {when}" if when else "") if who else ""
    if state == "approved":
        bureau, bwhen = cell_text(row.get("bureau_approved_by")), _day(row.get("bureau_approved_at"))
        also = f"; the changes beyond the unit's authority approved by {bureau}" if bureau else ""
        return f"Approved{by}{also}" + (f" on {bwhen}" if bureau and bwhen else "") + "."
    pending = unit_escalations(changes, unit, currency)
    what = "; ".join(pending["change"]) or cell_text(row.get("pending_summary"))
    stored = cell_number(row.get("n_pending"))
    n = len(pending) or (0 if math.isnan(stored) else int(stored))
    count = f"{n} change{'s' if n != 1 else ''}" if n else "changes"
    single = n == 1
    if state == "pending":
        return (
            f"Pending escalation: approved{by} within the unit's authority; {count} beyond it "
            f"{'awaits' if single else 'await'} the {bureau_role}" + (f": {what}." if what else ".")
        )
    if n or what:
        verb = "needs" if single else "need"
        return f"Draft: not approved yet; {count} beyond the unit's authority also {verb} the {bureau_role}: {what}."
    return "Draft: not approved yet."


def approval_html(
    approvals: pd.DataFrame | None,
    changes: pd.DataFrame | None,
    unit: str,
    bureau_role: str = "bureau approver",
    currency: str = "",
    provenance: pd.DataFrame | None = None,
) -> str:
    """:func:`approval_text` as an escaped paragraph with a coloured state badge, followed by
    :func:`figures_text` (which submission the figures come from) when ``provenance`` is given."""
    state = cell_text(approval_row(approvals, unit).get("state")) or DRAFT
    color = APPROVAL_COLORS.get(state, APPROVAL_COLORS[DRAFT])
    badge = (
        f'<span class="rbm-approval-state" style="display:inline-block;padding:1px 7px;border-radius:9px;'
        f'color:{text_color(color)};background:{color}">{escape_text(APPROVAL_LABELS.get(state, state))}</span>'
    )
    figures = figures_text(provenance, approvals, unit)
    as_of = f'<br><span class="rbm-figures-as-of">{escape_text(figures)}</span>' if figures else ""
    words = escape_text(approval_text(approvals, changes, unit, bureau_role, currency))
    return f'<p class="rbm-approval">{badge} {words}{as_of}</p>'


def earlier(decisions: pd.DataFrame | None, quarter: QuarterLike) -> pd.DataFrame:
    """Decisions of the reviews before ``quarter`` (meeting quarter earlier)."""
    if decisions is None or decisions.empty:
        return pd.DataFrame() if decisions is None else decisions
    return decisions[decisions["meeting_quarter"].astype(str) != str(quarter)].reset_index(drop=True)


def taken_at(decisions: pd.DataFrame | None, quarter: QuarterLike) -> pd.DataFrame:
    """Decisions of the review meeting of ``quarter`` itself."""
    if decisions is None or decisions.empty:
        return pd.DataFrame() if decisions is None else decisions
    return decisions[decisions["meeting_quarter"].astype(str) == str(quarter)].reset_index(drop=True)


def overdue(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Overdue decisions across units, each once (a joint decision under the unit that recorded it).

    >>> d = pd.DataFrame({"unit_code": ["AFR", "CYB"], "recorded_by": ["AFR", "AFR"], "overdue": [True, True]})
    >>> len(overdue(d))
    1
    """
    if decisions is None or decisions.empty:
        return pd.DataFrame() if decisions is None else decisions
    own = decisions["unit_code"].astype(str) == decisions["recorded_by"].astype(str)
    return decisions[own & decisions["overdue"].astype(bool)].reset_index(drop=True)
