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
from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.config import PROJECT_ROOT, Config
from rbm_utils.core.files import FolderView
from rbm_utils.core.quarters import Quarter
from rbm_utils.publish import badges, frozen
from rbm_utils.publish.badges import BADGE_TABLES as BADGE_TABLES
from rbm_utils.publish.badges import CHANGE_DIRECTIONS as CHANGE_DIRECTIONS
from rbm_utils.publish.badges import approval_fields as approval_fields
from rbm_utils.publish.badges import change_counts as change_counts
from rbm_utils.publish.badges import decision_counts as decision_counts
from rbm_utils.publish.badges import figures_fields as figures_fields
from rbm_utils.publish.badges import health_score as health_score
from rbm_utils.publish.figures import FIGURES_FILE
from rbm_utils.publish.folders import read_folder_tables as read_folder_tables
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


def unit_badges(outputs: Path, quarter: str | None, config: Config) -> pd.DataFrame:
    """One row per unit of the settings: publication word, KPI counts per status (``n_<status>``
    for each of :data:`rbm_utils.core.codes.KPI_STATUSES`), red flags, the data health score
    (``data_health``, 0-100; missing when the unit's data_health table is not published), the
    approval state (:func:`approval_fields`), open and overdue decisions (:func:`decision_counts`)
    and what changed since last quarter (:func:`change_counts`). Read from published tables only:
    a unit's counts come from the overview's bureau table of badges
    (:mod:`rbm_utils.publish.badges`) while its ``badge_source`` still matches the unit's folder,
    else (republished since, or a quarter published without that table) from its own tables."""
    q = pick(quarter, published_quarters(outputs))
    status = run_status(outputs, q) if q else {}
    units = set(published_units(outputs, q, config)) if q else set()
    refresh = read_refresh_state(Path(outputs), q) if q else {}
    stored = badges.stored_badges(Path(outputs) / q / badges.BADGES_FILE) if q else {}
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
            folder = Path(outputs) / str(q) / code
            hit = stored.get(code)
            if hit is not None and hit[0] == badges.badge_source(folder):
                row.update(hit[1])
            else:  # not in the bureau table, or republished since it was written
                row.update(badges.count_badges(read_folder_tables(folder, BADGE_TABLES), code, q))
        row.update(refresh_fields(refresh.get(code)))
        rows.append(row)
    return pd.DataFrame(rows)


#: The published table :func:`top_agenda` reads (file stem -> key).
AGENDA_TABLE = {stem: key for stem, key in PUBLISHED_TABLES.items() if key == "agenda"}


def top_agenda(outputs: Path, quarter: str | None, config: Config, n: int = 10) -> pd.DataFrame:
    """The ``n`` items of ``quarter``'s published agenda that most need the bureau's decision
    (lowest ``rank``): the overview's agenda, else the published units' agendas together
    (empty when none is published)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return pd.DataFrame()
    folders = [OVERVIEW] if has_overview(outputs, q) else published_units(outputs, q, config)
    # the agenda table alone (folders checked just above), not every table of the overview
    parts = [read_folder_tables(Path(outputs) / q / f, AGENDA_TABLE).get("agenda") for f in folders]
    frames = [p for p in parts if p is not None and len(p) and "rank" in p.columns]
    if not frames:
        return pd.DataFrame()
    agenda = pd.concat(frames, ignore_index=True)
    return agenda.sort_values("rank", kind="stable").head(n).reset_index(drop=True)
