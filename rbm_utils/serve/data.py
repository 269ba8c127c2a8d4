"""What the dashboards read: the tables ``rbm review`` published, never the store.

Under the outputs folder (``$RBM_OUTPUTS``, set by ``rbm serve``) each published quarter
``<Q>/`` holds its frozen ``snapshot/``, one folder of tidy tables per reviewed unit
(``<Q>/<UNIT>/kpi_progress.parquet`` ...), the bureau's in ``<Q>/overview/``, and one folder per
joint review in ``<Q>/joint/<CLUSTER>-<REGION>/``. Nothing here computes an analysis: a page shows
the rows the batch published, so a manager sees exactly the published figures.

Every function takes the quarter, unit or pair as text and checks it against the listing of
what is published (:func:`rbm_utils.serve.params.pick`) before it builds a path. In a dashboard
kernel the listings hold only what the signed-in reader may see (:mod:`rbm_utils.serve.access`):
another unit's draft is not published as far as the page knows.

Example:
    >>> published_quarters(Path("/nonexistent"))
    []
    >>> publication("skipped_unchanged"), publication("timeout"), publication(None)
    ('published', 'failed', 'not reviewed')
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.analytics.bureau import OVERVIEW_TABLES, PUBLISHED_TABLES
from rbm_utils.core.codes import DECISION_OPEN_STATUSES, KPI_STATUSES
from rbm_utils.core.config import PROJECT_ROOT, Config
from rbm_utils.core.files import FolderView
from rbm_utils.core.quarters import Quarter
from rbm_utils.publish import frozen
from rbm_utils.publish.figures import FIGURES_FILE
from rbm_utils.publish.frozen import JOINT_TABLES
from rbm_utils.publish.refresh_state import UnitRefresh, read_refresh_state
from rbm_utils.serve import access
from rbm_utils.serve.params import pick

log = logging.getLogger(__name__)

#: Environment variables set by ``rbm serve`` for the dashboard kernels.
OUTPUTS_ENV = "RBM_OUTPUTS"
QUARTER_ENV = "RBM_QUARTER"
#: Folders of a published quarter.
OVERVIEW = "overview"
JOINT = "joint"
SNAPSHOT = "snapshot"
#: Run statuses that mean "published".
PUBLISHED_STATUSES = ("ok", "skipped_unchanged")
#: Snapshot tables the KPI drill-down and the provenance read (fixed names, never from input).
SNAPSHOT_TABLES = ("Actuals", "Approvals", "Milestones", "Unit")
#: Tables of the quarter's frozen analysis (``<Q>/analysis/``) a unit's page reads besides its
#: published folder: the very tables its review notebook shows (theory of change, assumptions,
#: work programme, synergies, scale-up; ``units/...`` one row set per unit).
FROZEN_TABLES = (
    "nodes",
    "edges",
    "layout",
    "stalls",
    "assumption_changes",
    "activities",
    "synergies",
    "scaleup",
    "units/flows",
    "units/statement",
)
#: Tables of the frozen analysis the bureau overview's page reads besides the overview folder:
#: those its notebook shows (units side by side, open risks per category, scale-up, links, flows).
OVERVIEW_FROZEN_TABLES = (
    "rollup_unit",
    "money_units",
    "bureau_risks",
    "scaleup",
    "scaleup_scores",
    "linkage_matrix",
    "synergies",
    "flows",
)


def outputs_dir(env: Mapping[str, str] | None = None) -> Path:
    """The published outputs folder: ``$RBM_OUTPUTS`` (set by ``rbm serve``), else ``outputs/``."""
    env = os.environ if env is None else env
    return Path(env.get(OUTPUTS_ENV) or PROJECT_ROOT / "outputs").resolve()


def folder_names(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder``, sorted, hidden ones left out ([] when unreadable)."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def published_quarters(outputs: Path) -> list[str]:
    """Quarters with a frozen snapshot under ``outputs``, newest first (folder names written ``YYYY-Qn``)."""
    found: dict[str, Quarter] = {}
    for name in folder_names(Path(outputs)):
        q = Quarter.parse_or_none(name)
        if q is not None and str(q) == name and (Path(outputs) / name / SNAPSHOT / "manifest.json").is_file():
            found[name] = q
    return sorted(found, key=found.__getitem__, reverse=True)


def default_quarter(outputs: Path, env: Mapping[str, str] | None = None) -> str | None:
    """``$RBM_QUARTER`` when published, else the newest published quarter."""
    env = os.environ if env is None else env
    quarters = published_quarters(outputs)
    return pick(env.get(QUARTER_ENV), quarters) or (quarters[0] if quarters else None)


def published_units(outputs: Path, quarter: str | None, config: Config) -> list[str]:
    """Unit codes of the settings (in their order) with published tables for ``quarter``."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return []
    have = set(folder_names(Path(outputs) / q))
    seen = access.current()  # in a dashboard kernel: only what the signed-in reader may see
    return [
        u
        for u in config.units
        if u in have
        and (Path(outputs) / q / u / "kpi_progress.parquet").is_file()
        and (seen is None or seen.unit(q, u))
    ]


def has_overview(outputs: Path, quarter: str | None) -> bool:
    """True when the bureau overview of ``quarter`` is published."""
    q = pick(quarter, published_quarters(outputs))
    seen = access.current()
    return (
        q is not None
        and (Path(outputs) / q / OVERVIEW / "kpi_progress.parquet").is_file()
        and (seen is None or seen.review(q, OVERVIEW))
    )


def published_joint(outputs: Path, quarter: str | None, config: Config) -> list[str]:
    """Published joint reviews ``CLUSTER-REGION`` whose two codes are a cluster and a region of the settings."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return []
    valid = {f"{c}-{r}" for c in config.clusters for r in config.regions}
    seen = access.current()
    return [n for n in folder_names(Path(outputs) / q / JOINT) if n in valid and (seen is None or seen.review(q, n))]


def run_status(outputs: Path, quarter: str | None) -> dict[str, str]:
    """Job name -> status from the quarter's ``run_report.json`` ({} when absent or unreadable)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return {}
    try:
        report = json.loads((Path(outputs) / q / "run_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    jobs = report.get("jobs", []) if isinstance(report, dict) else []
    return {str(j.get("name")): str(j.get("status")) for j in jobs if isinstance(j, dict)}


def publication(status: str | None) -> str:
    """Badge word for a run status: published, failed or not reviewed."""
    if status in PUBLISHED_STATUSES:
        return "published"
    return "not reviewed" if status is None else "failed"


def load_tables(outputs: Path, quarter: str | None, folder: str | None, config: Config) -> dict[str, pd.DataFrame]:
    """The published tidy tables of one unit (``folder`` a unit code) or of the bureau
    (``folder`` = ``"overview"``), keyed like :func:`rbm_utils.analytics.bureau.analyse`.

    ``quarter`` and ``folder`` must be published; anything else raises ``ValueError``.
    """
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        raise ValueError(f"quarter {quarter!r} is not published")
    f = (
        OVERVIEW
        if folder == OVERVIEW and has_overview(outputs, q)
        else pick(folder, published_units(outputs, q, config))
    )
    if f is None:
        raise ValueError(f"{folder!r} has no published review for {q}")
    published = {**PUBLISHED_TABLES, **OVERVIEW_TABLES} if f == OVERVIEW else PUBLISHED_TABLES
    return read_folder_tables(Path(outputs) / q / f, published)


def read_folder_tables(folder: Path, stems: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """``{key: table}`` for each ``stem: key`` whose ``<stem>.parquet`` is in ``folder``, all from
    one version of the folder (:class:`rbm_utils.core.files.FolderView`: a refresh swapping the
    folder meanwhile never mixes two versions or tears a file)."""
    out: dict[str, pd.DataFrame] = {}
    try:
        view = FolderView(folder)
    except FileNotFoundError:
        return out
    with view:
        for stem, key in stems.items():
            name = f"{stem}.parquet"
            if view.is_file(name):
                with view.open(name) as fh:
                    out[key] = pd.read_parquet(fh)
    return out


def load_figures(outputs: Path, quarter: str | None, unit: str | None, config: Config) -> dict[str, list[dict]]:
    """The figures the unit's published review notebook drew (``<Q>/<UNIT>/figures.json``,
    :mod:`rbm_utils.publish.figures`): ``{name: [figure JSON, ...]}``; ``{}`` when the quarter
    or unit is not published, the file is absent (published before the batch kept figures) or
    unreadable. Only lists of figures (dicts with ``data`` and ``layout``) are kept."""
    q = pick(quarter, published_quarters(outputs))
    u = pick(unit, published_units(outputs, q, config)) if q else None
    if q is None or u is None:
        return {}
    try:
        with FolderView(Path(outputs) / q / u) as view:
            figs = json.loads(view.read_text(FIGURES_FILE))
    except (OSError, ValueError):
        return {}
    if not isinstance(figs, dict):
        return {}
    return {str(k): v for k, v in figs.items() if isinstance(v, list) and v and all(_is_figure(f) for f in v)}


def _is_figure(f: object) -> bool:
    return isinstance(f, dict) and isinstance(f.get("data"), list) and isinstance(f.get("layout"), dict)


def load_joint_tables(outputs: Path, quarter: str | None, pair: str | None, config: Config) -> dict[str, pd.DataFrame]:
    """The frozen tables of a joint review (:data:`rbm_utils.publish.frozen.JOINT_TABLES`, one parquet
    file each in ``<Q>/joint/<CLUSTER>-<REGION>/``), keyed like
    :func:`rbm_utils.analytics.bureau.joint_view`; tables the batch did not publish are left out
    (``{}`` when none is: the quarter was published before the batch froze joint tables).

    ``quarter`` and ``pair`` must be published; anything else raises ``ValueError``.
    """
    q = pick(quarter, published_quarters(outputs))
    p = pick(pair, published_joint(outputs, q, config)) if q else None
    if q is None or p is None:
        raise ValueError(f"no published joint review {pair!r} for {quarter!r}")
    return read_folder_tables(Path(outputs) / q / JOINT / p, {key: key for key in JOINT_TABLES})


def load_snapshot_table(outputs: Path, quarter: str | None, name: str) -> pd.DataFrame:
    """One table of the quarter's frozen snapshot; ``name`` one of :data:`SNAPSHOT_TABLES`."""
    q = pick(quarter, published_quarters(outputs))
    n = pick(name, SNAPSHOT_TABLES)
    if q is None or n is None:
        raise ValueError(f"no snapshot table {name!r} for {quarter!r}")
    found = read_folder_tables(Path(outputs) / q / SNAPSHOT, {n: n})
    return found.get(n, pd.DataFrame(columns=["unit_code", "kpi_id", "period"]))


def load_frozen_tables(
    outputs: Path, quarter: str | None, unit: str | None, names: tuple[str, ...] = FROZEN_TABLES
) -> dict[str, pd.DataFrame]:
    """The tables ``names`` (:data:`FROZEN_TABLES` or :data:`OVERVIEW_FROZEN_TABLES`, fixed
    names, never from input) of ``quarter``'s frozen analysis, each cut to ``unit``'s rows when given
    (``units/...`` tables without their ``unit_code``, as the review notebook reads them), keyed
    by their last name (``flows``, ``statement``...); each file checked against the analysis
    manifest; tables the batch did not freeze are left out ({} when there is no analysis)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        raise ValueError(f"quarter {quarter!r} is not published")
    folder = frozen.analysis_dir(Path(outputs) / q / SNAPSHOT)
    try:
        fa = frozen.FrozenAnalysis(folder, frozen.read_manifest(folder))
    except frozen.FrozenAnalysisError as exc:
        log.warning("no frozen analysis for %s: %s", q, exc)
        return {}
    out: dict[str, pd.DataFrame] = {}
    for tid in names:
        if tid not in fa.manifest.get("tables", {}):
            continue
        df = fa.table(tid)
        if unit is not None and "unit_code" in df.columns:
            df = frozen.unit_rows(df, unit) if tid.startswith("units/") else df[df["unit_code"] == unit]
        out[tid.split("/")[-1]] = df.reset_index(drop=True)
    return out


def snapshot_manifest(outputs: Path, quarter: str | None) -> dict[str, Any]:
    """The manifest of ``quarter``'s frozen snapshot ({} when unreadable)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return {}
    try:
        found = json.loads((Path(outputs) / q / SNAPSHOT / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


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


#: What :func:`unit_badges` counts from the published ``changes`` table (one column per direction).
CHANGE_DIRECTIONS = ("better", "worse", "new")


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


def refresh_fields(entry: UnitRefresh | None) -> dict[str, Any]:
    """A unit's between-review refresh (``outputs/<Q>/refresh.json``): ``refresh`` (status, blank
    when none ran), ``refreshed_at`` (when the last refresh finished, for a finished one),
    ``refresh_submission`` and ``refresh_message`` (a failure in words).

    >>> refresh_fields(UnitRefresh("AFR", "failed", 8, message="the store is unreachable"))["refresh_message"]
    'the store is unreachable'
    """
    if entry is None:
        return {"refresh": "", "refreshed_at": "", "refresh_submission": None, "refresh_message": ""}
    return {
        "refresh": entry.status,
        "refreshed_at": (entry.finished_at or "") if entry.status == "done" else "",
        "refresh_submission": entry.submission_id,
        "refresh_message": entry.message or "",
    }


#: The published tables a unit's landing-page row is counted from (file stem -> key), read
#: alone: a landing page of 200 units reads 7 small files per unit, not all 25.
BADGE_TABLES = {
    stem: key
    for stem, key in PUBLISHED_TABLES.items()
    if key in ("progress", "red_flags", "data_health", "approvals", "decisions", "changes", "provenance")
}


def unit_badges(outputs: Path, quarter: str | None, config: Config) -> pd.DataFrame:
    """One row per unit of the settings: publication word, KPI counts per status (``n_<status>``
    for each of :data:`rbm_utils.core.codes.KPI_STATUSES`), red flags, the data health score
    (``data_health``, 0-100; missing when the unit's data_health table is not published), the
    approval state (:func:`approval_fields`), open and overdue decisions (:func:`decision_counts`)
    and what changed since last quarter (:func:`change_counts`). Read from published tables only."""
    q = pick(quarter, published_quarters(outputs))
    status = run_status(outputs, q) if q else {}
    units = set(published_units(outputs, q, config)) if q else set()
    refresh = read_refresh_state(Path(outputs), q) if q else {}
    rows = []
    for code, u in config.units.items():
        pub = publication(status.get(code)) if code in units or code in status else "not reviewed"
        if code in units and pub == "not reviewed":
            pub = "published"  # tables present but no run report entry (e.g. report rewritten)
        row: dict[str, Any] = {
            "unit_code": code,
            "name": u.name,
            "type": u.type,
            "publication": pub,
            "n_kpis": 0,
            "red_flags": 0,
            "data_health": None,
            "approval": "",
            "approved_by": "",
            "n_pending": 0,
            "open_decisions": 0,
            "overdue_decisions": 0,
        }
        row.update({f"n_{s}": 0 for s in KPI_STATUSES})
        row.update(dict.fromkeys(CHANGE_DIRECTIONS, 0))
        if code in units:
            t = read_folder_tables(Path(outputs) / str(q) / code, BADGE_TABLES)
            prog = t.get("progress")
            if prog is not None and len(prog):
                counts = prog["status"].value_counts()
                row["n_kpis"] = int(len(prog))
                row.update({f"n_{s}": int(counts.get(s, 0)) for s in KPI_STATUSES})
            row["red_flags"] = int(len(t.get("red_flags", [])))
            row["data_health"] = health_score(t.get("data_health"), q)
            row.update(approval_fields(t.get("approvals"), code))
            row.update(decision_counts(t.get("decisions"), code))
            row.update(change_counts(t.get("changes")))
            row.update(figures_fields(t.get("provenance"), code))
        row.update(refresh_fields(refresh.get(code)))
        rows.append(row)
    return pd.DataFrame(rows)


def top_agenda(outputs: Path, quarter: str | None, config: Config, n: int = 10) -> pd.DataFrame:
    """The ``n`` items of ``quarter``'s published agenda that most need the bureau's decision
    (lowest ``rank``): the overview's agenda, else the published units' agendas together
    (empty when none is published)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return pd.DataFrame()
    folders = [OVERVIEW] if has_overview(outputs, q) else published_units(outputs, q, config)
    parts = [load_tables(outputs, q, f, config).get("agenda") for f in folders]
    frames = [p for p in parts if p is not None and len(p) and "rank" in p.columns]
    if not frames:
        return pd.DataFrame()
    agenda = pd.concat(frames, ignore_index=True)
    return agenda.sort_values("rank", kind="stable").head(n).reset_index(drop=True)
