"""Approvals: who may approve a unit-quarter, the approval events, and the lock they put on changes.

A unit's own approver or a bureau approver (``authority.bureau`` of the settings) approves; the
first approval locks the quarter; changes beyond the unit's authority keep it ``pending`` until
a bureau approver approves it as well (:mod:`rbm_utils.store.escalation`). Every approval event
is also a ``change_log`` row of sheet :data:`APPROVAL_SHEET`.

Example:
    >>> show_time("2026-10-03T14:02:11Z")
    '2026-10-03 14:02 UTC'
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core.config import Authority, Config, ConfigError
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.store.authority import changes_view
from rbm_utils.store.diff import SheetDiff
from rbm_utils.store.errors import ApprovalError
from rbm_utils.store.escalation import approval_rows, change_statuses, latest_submission, quarter_changes, state_of
from rbm_utils.store.tables import TABLES

#: The ``change_log`` sheet of approval events (fields approved_by/at, bureau_approved_by/at).
APPROVAL_SHEET = "approval"


def show_time(iso: str) -> str:
    """``2026-10-03T14:02:11Z`` -> ``2026-10-03 14:02 UTC``."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    except (TypeError, ValueError):
        return str(iso)
    return t.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Approver:
    """Who approves, as the settings spell the name, and at which level(s) they may."""

    name: str
    unit_level: bool  # one of the unit's own approvers
    bureau_level: bool  # a bureau approver (any unit)
    role: str
    user: str = ""  # the registered person's sign-in name ("" when recorded by the store API alone)


def _match(who: str, names: tuple[str, ...]) -> str | None:
    return next((a for a in names if a.casefold() == who.casefold()), None) if who else None


def authorised_approver(unit_code: str, quarter: QuarterLike, by: str, config: Config) -> tuple[str, Approver]:
    """(quarter text, the :class:`Approver`) when ``by`` may approve ``unit_code``: one of the
    unit's approvers or a bureau approver (names matched ignoring case and extra spaces);
    :class:`ApprovalError` naming who may otherwise."""
    try:
        unit = config.unit(unit_code)
    except ConfigError:
        raise ApprovalError(
            f"unknown unit {unit_code!r}: it is not listed in the workbench settings; there is nothing to approve"
        ) from None
    q = Quarter.parse_or_none(quarter)
    if q is None:
        raise ApprovalError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")
    who = " ".join(str(by or "").split())
    auth = config.authority
    own, bureau = _match(who, unit.approvers), _match(who, auth.bureau_approvers)
    if own is None and bureau is None:
        role = unit.approver_role or "approver"
        may = [f"the {role} of {unit_code} ({' or '.join(unit.approvers)})"] if unit.approvers else []
        may += [f"the {auth.bureau_role} ({' or '.join(auth.bureau_approvers)})"] if auth.bureau_approvers else []
        if not may:
            raise ApprovalError(
                f"No approver is listed for {unit_code} in the workbench settings; nobody may approve {unit_code}"
            )
        raise ApprovalError(f"Only {' or '.join(may)} may approve {unit_code}")
    name = own or bureau or ""
    role = (unit.approver_role or "approver") if own else auth.bureau_role
    return str(q), Approver(name, own is not None, bureau is not None, role)


def _log_event(
    conn: Connection, unit_code: str, quarter: str, sid: int, prefix: str, by: str, at: str, user: str = ""
) -> None:
    """The approval event in ``change_log`` (sheet ``approval``): who and when, and the signed-in user."""
    fields = [(f"{prefix}approved_by", by), (f"{prefix}approved_at", at)]
    fields += [(f"{prefix}approved_by_user", user)] if user else []
    key = json.dumps([quarter])
    conn.execute(
        sa.insert(TABLES["change_log"]),
        [
            {
                "submission_id": sid,
                "unit_code": unit_code,
                "sheet": APPROVAL_SHEET,
                "key": key,
                "field": f,
                "old": None,
                "new": json.dumps(v, ensure_ascii=False),
            }
            for f, v in fields
        ],
    )


def record_approval(
    conn: Connection, unit_code: str, text: str, approver: Approver, approved_at: str, authority: Authority
) -> dict:
    """Record ``approver``'s approval of ``unit_code`` ``text`` (inside the caller's write transaction).

    The first approval (unit approver, or a bureau approver) locks the quarter; a bureau
    approver's approval also covers the changes beyond the unit's authority, which otherwise
    keep the quarter ``pending`` until a bureau approver approves it as a second event. Each
    event is written to ``change_log`` too. :class:`ApprovalError` when there is nothing to approve.
    Returns the approval: unit_code, quarter, approved_by, approved_at, submission_id,
    bureau_approved_by, bureau_approved_at, state, by, role, changes (records, with status).
    """
    subs = TABLES["submissions"]
    done, bdone = approval_rows(conn, unit_code, text)
    changes = quarter_changes(conn, unit_code, text, authority)
    needs = bool((changes["authority"] == "bureau").any())
    bureau_who = f"the {authority.bureau_role} ({' or '.join(authority.bureau_approvers) or 'nobody is listed'})"
    if done is not None:
        said = f"{unit_code} {text} was already approved by {done.approved_by} on {show_time(done.approved_at)}"
        if bdone is not None:
            raise ApprovalError(f"{said} and by {bdone.approved_by} on {show_time(bdone.approved_at)}")
        if not needs:
            raise ApprovalError(said + ("; none of its changes needs the bureau" if approver.bureau_level else ""))
        if not approver.bureau_level:
            raise ApprovalError(f"{said}; its changes beyond the unit's authority await {bureau_who}")
        sid = int(done.submission_id)
    else:
        has = conn.execute(
            sa.select(sa.func.count()).select_from(subs).where(subs.c.unit_code == unit_code, subs.c.quarter == text)
        ).scalar_one()
        if not has:
            raise ApprovalError(f"{unit_code} has no submission for {text}; there is nothing to approve")
        sid = int(latest_submission(conn, unit_code, text) or 0)
        conn.execute(
            sa.insert(TABLES["approvals"]),
            [
                {
                    "unit_code": unit_code,
                    "quarter": text,
                    "approved_by": approver.name,
                    "approved_at": approved_at,
                    "submission_id": sid,
                }
            ],
        )
        _log_event(conn, unit_code, text, sid, "", approver.name, approved_at, approver.user)
    if needs and approver.bureau_level:
        conn.execute(
            sa.insert(TABLES["bureau_approvals"]),
            [
                {
                    "unit_code": unit_code,
                    "quarter": text,
                    "approved_by": approver.name,
                    "approved_at": approved_at,
                    "submission_id": sid,
                }
            ],
        )
        _log_event(conn, unit_code, text, sid, "bureau_", approver.name, approved_at, approver.user)
    done, bdone = approval_rows(conn, unit_code, text)
    state = state_of(True, bdone is not None, changes)
    return {
        "unit_code": unit_code,
        "quarter": text,
        "approved_by": done.approved_by,
        "approved_at": done.approved_at,
        "submission_id": sid,
        "bureau_approved_by": bdone.approved_by if bdone is not None else "",
        "bureau_approved_at": bdone.approved_at if bdone is not None else "",
        "state": state,
        "by": approver.name,
        "role": approver.role,
        "changes": changes.assign(status=change_statuses(state, bdone is not None, changes)).to_dict("records"),
    }


def approval_summary(rec: dict, authority: Authority, currency: str = "") -> str:
    """What an approval (:func:`record_approval`'s answer) did, in words: who approved, the changes
    the bureau approved, what still awaits the bureau approver (with amounts), the state."""
    unit, quarter, who = rec["unit_code"], rec["quarter"], f"{rec['by']} ({rec['role']})"
    changes = pd.DataFrame(rec["changes"])

    def table(frame: pd.DataFrame) -> str:
        return textwrap.indent(changes_view(frame, currency).to_string(index=False), "  ")

    lines = []
    if rec["approved_by"] == rec["by"]:
        lines.append(
            f"{unit} {quarter} approved by {who} at {rec['approved_at']}; later changes to it will be refused."
        )
    if rec["bureau_approved_by"] == rec["by"]:
        lines.append(
            f"Changes of {unit} {quarter} beyond the unit's authority approved by {who} at {rec['bureau_approved_at']}:"
        )
        lines.append(table(changes[changes["authority"] == "bureau"]))
    if rec["state"] == "pending":
        waiting = changes[changes["status"] == "pending"]
        lines.append(
            f"Pending: {len(waiting)} change(s) beyond the unit's authority await the {authority.bureau_role} "
            f"({' or '.join(authority.bureau_approvers) or 'nobody is listed in the settings'}): "
            f"rbm approve {unit} {quarter} (signed in as one of them)"
        )
        lines.append(table(waiting))
    elif not changes.empty and rec["approved_by"] == rec["by"]:
        lines.append(f"{len(changes)} change(s) of the framework since the last approved quarter, all approved:")
        lines.append(table(changes))
    lines.append(f"{unit} {quarter} is {rec['state']}.")
    return "\n".join(lines)


def lock_refusal(conn: Connection, unit_code: str, quarter: Quarter, diffs: list[SheetDiff]) -> str:
    """Why the submission is refused by an approval, or "" if it is not."""
    appr = TABLES["approvals"]
    approved = {r.quarter: r for r in conn.execute(sa.select(appr).where(appr.c.unit_code == unit_code))}
    if not approved:
        return ""

    def said(q: str) -> str:
        a = approved[q]
        return (
            f"{unit_code} {q} was approved by {a.approved_by} on {show_time(a.approved_at)}; changes to it are refused"
        )

    if str(quarter) in approved:
        return said(str(quarter))
    later = sorted((q for q in approved if Quarter.parse(q) > quarter), key=Quarter.parse)
    if later:
        return f"{said(later[-1])} (a submission for the earlier quarter {quarter} would change the approved figures)"
    hits: dict[str, list[str]] = {}
    for d in diffs:
        if not d.sheet.periodic:
            continue
        pidx = d.sheet.column_names.index(d.sheet.periodic)
        for vals in d.touched():
            if vals[pidx] in approved and d.sheet.name not in hits.setdefault(vals[pidx], []):
                hits[vals[pidx]].append(d.sheet.name)
    return "; ".join(f"{said(q)} ({' and '.join(hits[q])} rows of {q} differ)" for q in sorted(hits))
