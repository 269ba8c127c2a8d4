"""The landing page's badges of each unit, counted from its published tables, and the bureau-wide
table of them the batch writes into the quarter's folder once its notebooks are published.

The landing page shows one row per unit: KPI counts per status, red flags, the data health
score, the approval state, open and overdue decisions, what changed since last quarter and the
submission the figures come from. :func:`count_badges` counts them from the unit's published
tables (:data:`BADGE_TABLES`, read alone from ``<Q>/<UNIT>/``). Counting them for every unit on
every visit reads 7 files per unit (1,400 at 200 units), so the batch writes
``<Q>/unit_badges.parquet`` (:data:`BADGES_FILE`, :func:`write_bureau_badges`): one row per
published unit with those counts, built from the unit folders once the batch's jobs are done
(``rbm review``, ``rbm review --unit`` and a refresh), written whole by an atomic rename.

Each row carries ``badge_source`` (:func:`badge_source`): the size and modification time of each
of the unit's badge tables, taken before they are read. A unit folder is only ever replaced
whole (:func:`rbm_utils.publish.folders.publish_folder`), so a unit republished after the table
was written (a review whose overview was left unchanged, a failed overview, a folder restored
after a crash) has other files and another ``badge_source``: the dashboards then count that
unit from its own tables (:func:`stored_badges` gives what the table holds; the check is in
:func:`rbm_utils.serve.data.unit_badges`). A quarter published before this table existed has no
``unit_badges.parquet``: every unit is counted from its tables, as before.

Example:
    >>> counts = count_badges({"progress": pd.DataFrame({"status": ["on_track", "off_track", "on_track"]})},
    ...                       "AFR", "2026-Q3")
    >>> counts["n_kpis"], counts["n_on_track"], counts["approval"], counts["worse"]
    (3, 2, 'draft', 0)
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from rbm_utils.analytics.bureau import PUBLISHED_TABLES
from rbm_utils.core.codes import DECISION_OPEN_STATUSES, KPI_STATUSES
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.publish.folders import read_folder_tables

log = logging.getLogger(__name__)

#: The bureau-wide table of the units' badges, in the quarter's folder (``<Q>/unit_badges.parquet``).
BADGES_FILE = "unit_badges.parquet"
#: The published tables a unit's landing-page row is counted from (file stem -> key), read
#: alone: a landing page reads 7 small files of a unit, not all 25.
BADGE_TABLES = {
    stem: key
    for stem, key in PUBLISHED_TABLES.items()
    if key in ("progress", "red_flags", "data_health", "approvals", "decisions", "changes", "provenance")
}
#: What :func:`count_badges` counts from the published ``changes`` table (one column per direction).
CHANGE_DIRECTIONS = ("better", "worse", "new")
#: The columns of :func:`count_badges`, in order, by kind (how :func:`stored_badges` reads them back).
COUNT_COLUMNS = (
    "n_kpis",
    *(f"n_{s}" for s in KPI_STATUSES),
    "red_flags",
    "n_pending",
    "open_decisions",
    "overdue_decisions",
    *CHANGE_DIRECTIONS,
)
TEXT_COLUMNS = ("approval", "approved_by", "submitted_by", "figures_at")
#: The columns of :data:`BADGES_FILE`.
BADGE_COLUMNS = ("unit_code", "badge_source", *COUNT_COLUMNS, "data_health", *TEXT_COLUMNS, "submission_id")


def health_score(table: pd.DataFrame | None, quarter: str | None) -> float | None:
    """The score of ``quarter``'s row of a unit's published data_health table (None when absent).

    >>> health_score(pd.DataFrame({"quarter": ["2026-Q3"], "score": [87.5]}), "2026-Q3")
    87.5
    >>> health_score(None, "2026-Q3") is None
    True
    """
    if table is None or not len(table) or "score" not in table.columns:
        return None
    rows = table[table["quarter"].astype(str) == str(quarter)] if "quarter" in table.columns else table
    scores = rows["score"].dropna()
    return float(scores.iloc[0]) if len(scores) else None


def approval_fields(approvals: pd.DataFrame | None, unit: str) -> dict[str, Any]:
    """The unit's row of its published approvals table as landing-page fields: ``approval`` (state
    code, ``draft`` when none is published), ``approved_by`` and ``n_pending`` (changes waiting for
    the bureau).

    >>> approval_fields(pd.DataFrame({"unit_code": ["AFR"], "state": ["pending"], "approved_by": ["A. Director"],
    ...     "n_pending": [2]}), "AFR")
    {'approval': 'pending', 'approved_by': 'A. Director', 'n_pending': 2}
    >>> approval_fields(None, "AFR")["approval"]
    'draft'
    """
    rows = pd.DataFrame() if approvals is None or "unit_code" not in approvals.columns else approvals
    rows = rows[rows["unit_code"].astype(str) == unit] if len(rows) else rows
    if not len(rows):
        return {"approval": "draft", "approved_by": "", "n_pending": 0}
    row = rows.iloc[-1]
    pending = pd.to_numeric(pd.Series([row.get("n_pending")]), errors="coerce").fillna(0).iloc[0]
    return {
        "approval": str(row.get("state") or "draft"),
        "approved_by": "" if pd.isna(row.get("approved_by")) else str(row.get("approved_by") or ""),
        "n_pending": int(pending),
    }


def decision_counts(decisions: pd.DataFrame | None, unit: str) -> dict[str, int]:
    """Open decisions of ``unit`` (status open or in progress) and, of those, the overdue ones.

    >>> decision_counts(pd.DataFrame({"unit_code": ["AFR"] * 3, "status": ["open", "done", "in_progress"],
    ...     "overdue": [True, True, False]}), "AFR")
    {'open_decisions': 2, 'overdue_decisions': 1}
    """
    if decisions is None or not len(decisions) or "status" not in decisions.columns:
        return {"open_decisions": 0, "overdue_decisions": 0}
    own = decisions[decisions["unit_code"].astype(str) == unit] if "unit_code" in decisions.columns else decisions
    is_open = own["status"].astype(str).isin(DECISION_OPEN_STATUSES)
    late = own["overdue"].fillna(False).astype(bool) if "overdue" in own.columns else pd.Series(False, own.index)
    return {"open_decisions": int(is_open.sum()), "overdue_decisions": int((is_open & late).sum())}


def change_counts(changes: pd.DataFrame | None) -> dict[str, int]:
    """Items better, worse and new since last quarter in a published ``changes`` table.

    >>> change_counts(pd.DataFrame({"direction": ["better", "worse", "worse", "same"]}))
    {'better': 1, 'worse': 2, 'new': 0}
    """
    if changes is None or "direction" not in changes.columns:
        return dict.fromkeys(CHANGE_DIRECTIONS, 0)
    counts = changes["direction"].astype(str).value_counts()
    return {d: int(counts.get(d, 0)) for d in CHANGE_DIRECTIONS}


def figures_fields(provenance: pd.DataFrame | None, unit: str) -> dict[str, Any]:
    """The submission a unit's published figures come from (its ``provenance`` table):
    ``submission_id``, ``submitted_by``, ``figures_at`` (when it arrived); blank when unknown.

    >>> figures_fields(pd.DataFrame({"unit_code": ["AFR"], "submission_id": [7], "submitted_by": ["Ada"],
    ...                              "ingested_at": ["2026-10-12T09:30:00Z"]}), "AFR")["submission_id"]
    7
    """
    out: dict[str, Any] = {"submission_id": None, "submitted_by": "", "figures_at": ""}
    if provenance is None or provenance.empty or "unit_code" not in provenance.columns:
        return out
    rows = provenance[provenance["unit_code"].astype(str) == unit]
    if rows.empty:
        return out
    r = rows.iloc[-1]
    sid = pd.to_numeric(pd.Series([r.get("submission_id")]), errors="coerce").iloc[0]
    out["submission_id"] = None if pd.isna(sid) else int(sid)
    out["submitted_by"] = "" if pd.isna(r.get("submitted_by")) else str(r.get("submitted_by"))
    out["figures_at"] = "" if pd.isna(r.get("ingested_at")) else str(r.get("ingested_at"))
    return out


def count_badges(tables: Mapping[str, pd.DataFrame], unit: str, quarter: str | None) -> dict[str, Any]:
    """A unit's landing-page counts from its published tables (``{key: table}`` of :data:`BADGE_TABLES`,
    missing ones left out): ``n_kpis`` and ``n_<status>`` per KPI status, ``red_flags``,
    ``data_health`` (:func:`health_score`), :func:`approval_fields`, :func:`decision_counts`,
    :func:`change_counts` and :func:`figures_fields`, in that order.

    >>> count_badges({"red_flags": pd.DataFrame({"risk_id": ["R1", "R2"]})}, "AFR", "2026-Q3")["red_flags"]
    2
    """
    out: dict[str, Any] = {"n_kpis": 0, **{f"n_{s}": 0 for s in KPI_STATUSES}}
    prog = tables.get("progress")
    if prog is not None and len(prog):
        counts = prog["status"].value_counts()
        out["n_kpis"] = int(len(prog))
        out.update({f"n_{s}": int(counts.get(s, 0)) for s in KPI_STATUSES})
    out["red_flags"] = int(len(tables.get("red_flags", [])))
    out["data_health"] = health_score(tables.get("data_health"), quarter)
    out.update(approval_fields(tables.get("approvals"), unit))
    out.update(decision_counts(tables.get("decisions"), unit))
    out.update(change_counts(tables.get("changes")))
    out.update(figures_fields(tables.get("provenance"), unit))
    return out


def badge_source(folder: Path) -> str:
    """Which files a unit's badges are counted from: ``stem:size:mtime_ns`` of each of
    :data:`BADGE_TABLES` in ``folder`` (``stem:-`` when absent), a few ``stat`` calls, no file
    opened. A folder republished since has other files, hence another text.

    >>> badge_source(Path("/nonexistent")).split(";")[0]
    'kpi_progress:-'
    """
    parts = []
    base = os.fspath(folder)
    for stem in BADGE_TABLES:
        try:
            st = os.stat(os.path.join(base, f"{stem}.parquet"))
        except OSError:
            parts.append(f"{stem}:-")
            continue
        parts.append(f"{stem}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def read_badge_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """The :data:`BADGE_TABLES` of a unit's published folder, all from one version of it
    (:func:`rbm_utils.publish.folders.read_folder_tables`); {} when the folder is absent."""
    return read_folder_tables(Path(folder), BADGE_TABLES)


def bureau_badges(quarter_dir: Path, units: Iterable[str]) -> pd.DataFrame:
    """One row per unit of ``units`` with a published review in ``quarter_dir`` (its
    ``kpi_progress.parquet``): ``unit_code``, ``badge_source`` then :func:`count_badges`
    (columns :data:`BADGE_COLUMNS`). The source is taken before the tables are read: a folder
    replaced in between is then seen as changed, never the other way round.
    """
    quarter = Path(quarter_dir).name
    rows = []
    for code in units:
        folder = Path(quarter_dir) / code
        if not (folder / "kpi_progress.parquet").is_file():
            continue
        source = badge_source(folder)
        rows.append(
            {"unit_code": code, "badge_source": source, **count_badges(read_badge_tables(folder), code, quarter)}
        )
    frame = pd.DataFrame(rows, columns=list(BADGE_COLUMNS))
    for c in ("unit_code", "badge_source", *TEXT_COLUMNS):
        frame[c] = frame[c].astype(object)
    for c in COUNT_COLUMNS:
        frame[c] = frame[c].astype("int64")
    frame["data_health"] = pd.to_numeric(frame["data_health"], errors="coerce").astype("float64")
    frame["submission_id"] = pd.to_numeric(frame["submission_id"], errors="coerce").astype("Int64")
    return frame


def write_bureau_badges(quarter_dir: Path, units: Iterable[str]) -> Path:
    """Write :func:`bureau_badges` of ``quarter_dir`` as ``quarter_dir/unit_badges.parquet``, whole
    (an atomic rename: a landing page reads the old table or the new one, never a torn file)."""
    buf = io.BytesIO()
    bureau_badges(quarter_dir, units).to_parquet(buf, index=False)
    return atomic_write_bytes(Path(quarter_dir) / BADGES_FILE, buf.getvalue())


def stored_badges(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{unit: (badge_source, counts)}`` from a published :data:`BADGES_FILE`, the counts typed as
    :func:`count_badges` gives them; {} when the file is absent, unreadable or of another form
    (the caller then counts every unit from its tables)."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        if Path(path).exists():
            log.warning("unit badges %s unreadable, counted from the units' tables: %s", path, exc)
        return {}
    if list(frame.columns) != list(BADGE_COLUMNS):
        return {}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    order = count_badges({}, "", None)  # the keys in count_badges' order
    for rec in frame.to_dict("records"):
        counts: dict[str, Any] = {}
        for k in order:
            v = rec[k]
            if k in COUNT_COLUMNS:
                counts[k] = int(v)
            elif k in TEXT_COLUMNS:
                counts[k] = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
            else:  # data_health, submission_id: missing when unknown
                counts[k] = None if v is None or pd.isna(v) else (float(v) if k == "data_health" else int(v))
        out[str(rec["unit_code"])] = (str(rec["badge_source"]), counts)
    return out
