"""Approvals: who may approve a unit-quarter, the approval record, and the lock it puts on changes.

Example:
    >>> show_time("2026-10-03T14:02:11Z")
    '2026-10-03 14:02 UTC'
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core.config import Config, ConfigError
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.store.diff import SheetDiff
from rbm_utils.store.errors import ApprovalError
from rbm_utils.store.tables import TABLES


def show_time(iso: str) -> str:
    """``2026-10-03T14:02:11Z`` -> ``2026-10-03 14:02 UTC``."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    except (TypeError, ValueError):
        return str(iso)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def authorised_approver(unit_code: str, quarter: QuarterLike, by: str, config: Config) -> tuple[str, str]:
    """(quarter text, the approver's name as the settings spell it) when ``by`` may approve
    ``unit_code``; :class:`ApprovalError` otherwise."""
    try:
        unit = config.unit(unit_code)
    except ConfigError:
        raise ApprovalError(
            f"unknown unit {unit_code!r}: it is not listed in the workbench settings; there is nothing to approve"
        ) from None
    q = Quarter.parse_or_none(quarter)
    if q is None:
        raise ApprovalError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")
    text = str(q)
    who = " ".join(str(by or "").split())
    match = next((a for a in unit.approvers if a.casefold() == who.casefold()), None) if who else None
    if match is None:
        if not unit.approvers:
            raise ApprovalError(
                f"No approver is listed for {unit_code} in the workbench settings; nobody may approve {unit_code}"
            )
        role = unit.approver_role or "approver"
        raise ApprovalError(f"Only the {role} of {unit_code} ({' or '.join(unit.approvers)}) may approve {unit_code}")
    return text, match


def record_approval(conn: Connection, unit_code: str, text: str, match: str, approved_at: str) -> dict:
    """Insert the approval of ``unit_code`` ``text`` by ``match`` (inside the caller's write
    transaction); :class:`ApprovalError` when already approved or nothing was submitted."""
    subs, appr = TABLES["submissions"], TABLES["approvals"]
    done = conn.execute(
        sa.select(appr.c.approved_by, appr.c.approved_at).where(appr.c.unit_code == unit_code, appr.c.quarter == text)
    ).first()
    if done is not None:
        raise ApprovalError(
            f"{unit_code} {text} was already approved by {done.approved_by} on {show_time(done.approved_at)}"
        )
    has = conn.execute(
        sa.select(sa.func.count()).select_from(subs).where(subs.c.unit_code == unit_code, subs.c.quarter == text)
    ).scalar_one()
    if not has:
        raise ApprovalError(f"{unit_code} has no submission for {text}; there is nothing to approve")
    sid = conn.execute(
        sa.select(sa.func.max(subs.c.id)).where(subs.c.unit_code == unit_code, subs.c.quarter <= text)
    ).scalar_one()
    row = {
        "unit_code": unit_code,
        "quarter": text,
        "approved_by": match,
        "approved_at": approved_at,
        "submission_id": int(sid),
    }
    conn.execute(sa.insert(appr), [row])
    return row


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
