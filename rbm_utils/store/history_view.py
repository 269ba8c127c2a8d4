"""``rbm history``: a unit's submissions, one line each, and their changes on request.

The change log holds one row per changed value (a new Actuals row is five of them). The summary
counts *rows* instead: per submission and sheet, the rows added (every value new), removed
(every value gone) and changed, written ``Actuals +13 ~1``. Details come per submission or per
KPI, one line per changed value, the file's hash shortened to 8 characters.

Example:
    >>> subs = pd.DataFrame({"id": [7], "quarter": ["2026-Q3"], "file_name": ["AFR.xlsx"], "sha256": ["ab" * 32],
    ...     "submitted_by": ["Ann"], "ingested_by": ["ann"], "ingested_at": ["2026-10-05T12:19:00Z"],
    ...     "n_warnings": [2], "n_changes": [6]})
    >>> ch = pd.DataFrame({"submission_id": [7] * 3, "sheet": ["Actuals", "Actuals", "KPIs"],
    ...     "key": ['["K1", "2026-Q3", ""]', '["K1", "2026-Q3", ""]', '["K1"]'],
    ...     "field": ["kpi_id", "value", "target_value"], "old": [None, None, "10"], "new": ['"K1"', "3.0", "12"]})
    >>> submission_lines(subs, ch).iloc[0].to_dict()["what changed"]
    'Actuals +1; KPIs ~1'
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

__all__ = ["HASH_CHARS", "approval_events", "change_lines", "row_counts", "submission_lines"]

#: Characters of a file's SHA-256 shown (enough to tell two files apart by eye).
HASH_CHARS = 8


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or v in ("null", '""')


def row_counts(changes: pd.DataFrame) -> pd.DataFrame:
    """Rows added, changed and removed per submission and sheet: columns submission_id, sheet,
    added, changed, removed."""
    cols = ["submission_id", "sheet", "added", "changed", "removed"]
    if changes is None or changes.empty:
        return pd.DataFrame(columns=cols)
    c = changes.assign(was=changes["old"].map(_missing), gone=changes["new"].map(_missing))
    per_row = c.groupby(["submission_id", "sheet", "key"], sort=False).agg(was=("was", "all"), gone=("gone", "all"))
    per_row["kind"] = "changed"
    per_row.loc[per_row["was"] & ~per_row["gone"], "kind"] = "added"
    per_row.loc[per_row["gone"] & ~per_row["was"], "kind"] = "removed"
    table = pd.crosstab([per_row.index.get_level_values(0), per_row.index.get_level_values(1)], per_row["kind"])
    table = table.reindex(columns=["added", "changed", "removed"], fill_value=0).reset_index()
    table.columns = cols
    return table


def _said(counts: pd.DataFrame) -> str:
    parts = []
    for _, r in counts.iterrows():
        signs = [f"{s}{int(n)}" for s, n in (("+", r["added"]), ("~", r["changed"]), ("-", r["removed"])) if n]
        parts.append(f"{'approved' if r['sheet'] == 'approval' else r['sheet']} {' '.join(signs)}")
    return "; ".join(parts) or "no change"


def _when(value: object) -> str:
    t = pd.to_datetime(value, errors="coerce", utc=True)
    return "" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M")


def _forced(over: Any) -> str:
    """``forced over submission M; `` for a submission stored by ``rbm ingest --force-over M``."""
    return "" if over is None or pd.isna(over) else f"forced over submission {int(over)}; "


def submission_lines(subs: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """One line per submission: id, quarter, received (UTC, to the minute), by, file (name and
    short hash), warnings, what changed (rows per sheet: ``+`` added, ``~`` changed, ``-`` removed; first,
    for a submission stored by ``rbm ingest --force-over M``, the submission M it replaced)."""
    counts = row_counts(changes)
    rows = []
    for _, s in subs.iterrows():
        by = str(s.get("submitted_by") or "") or str(s.get("ingested_by") or "")
        rows.append(
            {
                "id": int(s["id"]),
                "quarter": s["quarter"],
                "received": _when(s.get("ingested_at")),
                "by": by,
                "file": f"{s.get('file_name') or ''} {str(s.get('sha256') or '')[:HASH_CHARS]}".strip(),
                "warnings": int(s.get("n_warnings") or 0),
                "what changed": _forced(s.get("forced_over")) + _said(counts[counts["submission_id"] == s["id"]]),
            }
        )
    return pd.DataFrame(rows, columns=["id", "quarter", "received", "by", "file", "warnings", "what changed"])


def _key_text(key: object) -> str:
    try:
        parts = json.loads(str(key))
    except ValueError:
        return str(key)
    return " / ".join(str(p) for p in parts if p not in ("", None)) if isinstance(parts, list) else str(parts)


def _value_text(v: object) -> str:
    if _missing(v):
        return ""
    try:
        x = json.loads(str(v))
    except ValueError:
        return str(v)
    return x if isinstance(x, str) else json.dumps(x)


def change_lines(changes: pd.DataFrame, submission: int | None = None, kpi: str | None = None) -> pd.DataFrame:
    """The changed values of one submission and/or of one KPI (its KPIs, Milestones and Actuals
    rows, and any row naming it): submission, sheet, row (its key), field, old, new.

    >>> ch = pd.DataFrame({"submission_id": [7, 8], "sheet": ["KPIs", "Risks"], "key": ['["K1"]', '["R1"]'],
    ...     "field": ["target_value", "impact"], "old": ["10", "3"], "new": ["12", "4"]})
    >>> change_lines(ch, kpi="K1").values.tolist()
    [[7, 'KPIs', 'K1', 'target_value', '10', '12']]
    """
    cols = ["submission", "sheet", "row", "field", "old", "new"]
    if changes is None or changes.empty:
        return pd.DataFrame(columns=cols)
    c = changes
    if submission is not None:
        c = c[c["submission_id"] == submission]
    if kpi is not None:
        names = c["key"].map(lambda k: kpi in (json.loads(k) if str(k).startswith("[") else [k]))
        c = c[names | (c["new"].astype(str) == json.dumps(kpi)) & (c["field"] == "kpi_id")]
    out = pd.DataFrame(
        {
            "submission": c["submission_id"].astype(int).to_numpy(),
            "sheet": c["sheet"].to_numpy(),
            "row": c["key"].map(_key_text).to_numpy(),
            "field": c["field"].to_numpy(),
            "old": c["old"].map(_value_text).to_numpy(),
            "new": c["new"].map(_value_text).to_numpy(),
        },
        columns=cols,
    )
    return out[(out["old"] != "") | (out["new"] != "")].reset_index(drop=True)  # an empty cell of a new row


#: Columns of :func:`approval_events`.
EVENT_COLUMNS = ["quarter", "what", "by", "signed in as", "at", "reason"]
_EVENT_START = {"approved_by": "approved", "bureau_approved_by": "approved for the bureau", "unlocked_by": "unlocked"}


def approval_events(changes: pd.DataFrame) -> pd.DataFrame:
    """Who approved, approved for the bureau or unlocked which quarter, when and why, oldest first,
    from the change log's ``approval`` rows (columns :data:`EVENT_COLUMNS`).

    >>> ch = pd.DataFrame({"sheet": ["approval"] * 5, "key": ['["2026-Q3"]'] * 5,
    ...     "field": ["approved_by", "approved_at", "approved_by_user", "unlocked_by", "unlock_reason"],
    ...     "old": [None] * 5, "new": ['"Amara Diallo"', '"2026-10-03T14:02:11Z"', '"amara.diallo"',
    ...     '"nadia.rahman"', '"typo in K1"']})
    >>> approval_events(ch)[["what", "by", "signed in as", "reason"]].values.tolist()
    [['approved', 'Amara Diallo', 'amara.diallo', ''], ['unlocked', 'nadia.rahman', 'nadia.rahman', 'typo in K1']]
    """
    events: list[dict[str, str]] = []
    rows = changes[changes["sheet"] == "approval"] if changes is not None and not changes.empty else changes
    for _, r in (rows if rows is not None else pd.DataFrame()).iterrows():
        field, new = str(r["field"]), _value_text(r["new"])
        if field in _EVENT_START and new:
            user = new if field == "unlocked_by" else ""
            events.append(
                dict.fromkeys(EVENT_COLUMNS, "")
                | {"quarter": _key_text(r["key"]), "what": _EVENT_START[field], "by": new, "signed in as": user}
            )
        elif events and new:
            if field.endswith("_at"):
                events[-1]["at"] = _when(new)
            elif field.endswith("_user"):
                events[-1]["signed in as"] = new
            elif field == "unlock_reason":
                events[-1]["reason"] = new
    return pd.DataFrame(events, columns=EVENT_COLUMNS)
