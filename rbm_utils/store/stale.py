"""Lost updates: a workbook made from an older submission is not stored over someone else's newer one.

``rbm template --from-store`` writes the store's latest submission of the unit into the Unit
sheet (``based_on_submission``). The store replaces a unit's framework with every submission,
whatever its quarter, so a workbook made from submission N lacks what was stored after N. When
a submission after N was made by someone else (another ``submitted_by``), storing the workbook
would silently undo their changes: it is refused (``stale_submission``), naming both, unless
``force_over`` names the newest such submission (``rbm ingest --force-over M``), which is then
recorded with the new submission. The officer's own later submissions (the same workbook
ingested again after a correction, or stored over another's by ``--force-over``) hold what came
before them: only someone else's submissions after the officer's latest count. A workbook
without the field (an older template, a first submission) is stored as before.

Example:
    >>> rows = [{"id": 5, "quarter": "2026-Q3", "submitted_by": "Ann", "ingested_at": "2026-10-05T12:19:00Z"},
    ...         {"id": 7, "quarter": "2026-Q3", "submitted_by": "Bo", "ingested_at": "2026-10-06T09:00:00Z"}]
    >>> refusal, forced = stale_check(rows, "AFR", "Ann", based_on=5, force_over=None)
    >>> refusal.split(";")[0]
    'AFR: this workbook was made from submission 5 (2026-Q3, by Ann, 2026-10-05 12:19 UTC), but submission 7 (2026-Q3, by Bo, 2026-10-06 09:00 UTC) was stored since'
    >>> stale_check(rows, "AFR", "Ann", based_on=5, force_over=7), stale_check(rows, "AFR", "Bo", based_on=5, force_over=None)
    ((None, 7), (None, None))
    >>> rows.append({"id": 8, "quarter": "2026-Q3", "submitted_by": "Ann", "ingested_at": "2026-10-06T10:00:00Z"})
    >>> stale_check(rows, "AFR", "Ann", based_on=5, force_over=None)  # Ann stored 8 over Bo's 7
    (None, None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.store.tables import TABLES

__all__ = ["stale_check", "stale_refusal"]


def _person(name: Any) -> str:
    return " ".join(str(name or "").split()).casefold()


def _said(row: Mapping[str, Any]) -> str:
    when = str(row.get("ingested_at") or "").replace("T", " ")[:16]
    return f"submission {row['id']} ({row.get('quarter')}, by {row.get('submitted_by') or 'nobody named'}, {when} UTC)"


def stale_check(
    rows: Sequence[Mapping[str, Any]], unit_code: str, submitted_by: str, based_on: int | None, force_over: int | None
) -> tuple[str | None, int | None]:
    """(why the workbook is refused or None, the submission it is stored over by ``force_over`` or None).

    ``rows``: the unit's submissions (id, quarter, submitted_by, ingested_at), oldest first.
    """
    if based_on is None or not rows:
        return None, None
    base = next((r for r in rows if int(r["id"]) == int(based_on)), None)
    me = _person(submitted_by)
    mine = [int(r["id"]) for r in rows if int(r["id"]) > int(based_on) and _person(r["submitted_by"]) == me]
    since = max([int(based_on), *mine])  # my own later submissions hold what came before them
    # a base this store does not know: the workbook was not made from it, nothing it holds is known
    newer = (
        list(rows) if base is None else [r for r in rows if int(r["id"]) > since and _person(r["submitted_by"]) != me]
    )
    if not newer:
        return None, None
    latest = newer[-1]
    if force_over is not None and int(force_over) == int(latest["id"]):
        return None, int(latest["id"])
    start = (
        f"this workbook was made from {_said(base)}"
        if base is not None
        else f"this workbook says it was made from submission {based_on}, which is not a submission of {unit_code} in this store"
    )
    asked = (
        f" (--force-over {force_over} does not name the newest one, {latest['id']})" if force_over is not None else ""
    )
    return (
        f"{unit_code}: {start}, but {_said(latest)} was stored since; storing this workbook would undo "
        f"those changes{asked}. Start again from the store (rbm template {unit_code} --from-store) and redo "
        f"your changes, or, to replace them anyway, ingest with --force-over {latest['id']}",
        None,
    )


def stale_refusal(
    conn: Connection, unit_code: str, submitted_by: str, based_on: int | None, force_over: int | None
) -> tuple[str | None, int | None]:
    """:func:`stale_check` against the unit's submissions in the store (inside the writing transaction)."""
    if based_on is None:
        return None, None
    subs = TABLES["submissions"]
    rows = conn.execute(
        sa.select(subs.c.id, subs.c.quarter, subs.c.submitted_by, subs.c.ingested_at)
        .where(subs.c.unit_code == unit_code)
        .order_by(subs.c.id)
    ).mappings()
    return stale_check([dict(r) for r in rows], unit_code, submitted_by, based_on, force_over)
