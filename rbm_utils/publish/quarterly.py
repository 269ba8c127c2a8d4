"""``rbm review``: freeze the quarter, compute its analysis once, run every review notebook, publish.

1. Freeze the store's bureau state (and the previous quarter's, for trends) into
   ``outputs/<Q>/snapshot/`` (:mod:`rbm_utils.store.snapshot`).
2. Compute the analytics once from that snapshot and freeze every table a notebook or a
   dashboard shows into ``outputs/<Q>/analysis/`` (:mod:`rbm_utils.publish.frozen`). Each
   unit's tidy tables are published beside its notebook (``kpi_progress.parquet`` ...), each
   joint pair's beside its joint review (``risks.parquet`` ...). The notebooks read the frozen
   analysis and never recompute it (:func:`rbm_utils.analytics.bureau.analyse` refuses to run
   in a batch job), so a published table and the notebook's figure are the same numbers.
3. Run ``notebooks/quarterly_review.ipynb`` per unit and ``joint_review.ipynb`` per
   cluster x region pair with work in common, with bounded parallelism
   (:func:`rbm_utils.publish.runner.run_notebooks`), and ``bdt_overview.ipynb`` (started first:
   it reads the frozen analysis only). Then the table of every unit's landing-page badges is
   counted from the unit folders as published (:mod:`rbm_utils.publish.badges`).
4. Write ``outputs/<Q>/run_report.json``; any failure makes the exit status non-zero.

Example:
    >>> report = review_quarter("2026-Q3", all_units=True)     # doctest: +SKIP
    >>> report["ok"]                                            # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rbm_utils.analytics import bureau as analysis
from rbm_utils.core.config import PROJECT_ROOT, Authority, Config, load_config
from rbm_utils.core.files import atomic_write_json
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.publish import badges, frozen
from rbm_utils.publish.assets import ASSETS_DIR
from rbm_utils.publish.jobs import Job, JobResult
from rbm_utils.publish.runner import check_not_starting_job, job_server, run_notebooks, write_run_report
from rbm_utils.store.database import Store
from rbm_utils.store.snapshot import PREVIOUS_PREFIX, PublishedError, freeze_snapshot, load_snapshot

log = logging.getLogger(__name__)

NOTEBOOKS = PROJECT_ROOT / "notebooks"
UNIT_TEMPLATE = NOTEBOOKS / "quarterly_review.ipynb"
JOINT_TEMPLATE = NOTEBOOKS / "joint_review.ipynb"
OVERVIEW_TEMPLATE = NOTEBOOKS / "bdt_overview.ipynb"
UNIT_PARAMETERS = PROJECT_ROOT / "parameters" / "units"
OVERVIEW_NAME = "overview"
FAILED = ("failed", "dead_kernel", "timeout", "locked")


#: Writes a review's exports (the Excel pack, the PDF) into its folder before the folder is published:
#: ``exports(folder, quarter_dir, unit)``, ``unit`` None for the overview. ``cli.py`` passes
#: :mod:`rbm_utils.exchange`'s writers (a later stage, which this module may not import).
ReviewExports = Callable[[Path, Path, str | None], None]


class ReviewError(RuntimeError):
    """The quarter cannot be reviewed (no data, published with other content, bad selection)."""


class _WithPrevious:
    """A store whose bureau state also carries the previous quarter's tables (``Previous_*``);
    the approval states and framework changes of the quarter come from the store itself."""

    def __init__(self, store: Store):
        self.store = store

    def bureau_state(self, quarter: Quarter) -> dict[str, pd.DataFrame]:
        cur = self.store.bureau_state(quarter)
        prev = self.store.bureau_state(quarter.previous)
        return {**cur, **{PREVIOUS_PREFIX + k: v for k, v in prev.items()}}

    def approval_states(self, quarter: Quarter, authority: Authority | None = None, currency: str = "") -> pd.DataFrame:
        return self.store.approval_states(quarter, authority, currency)

    def framework_changes(self, quarter: Quarter, authority: Authority | None = None) -> pd.DataFrame:
        return self.store.framework_changes(quarter, authority)

    def approval_tables(
        self, quarter: Quarter, authority: Authority | None = None, currency: str = ""
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self.store.approval_tables(quarter, authority, currency)


def unit_parameters(unit: str, config: Config) -> dict[str, Any]:
    """The flat papermill parameters of a unit: ``parameters/units/<UNIT>.yaml`` if present."""
    config.unit(unit)
    path = UNIT_PARAMETERS / f"{unit}.yaml"
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ReviewError(f"{path}: expected flat key: value pairs")
        return {str(k): v for k, v in data.items()}
    return {"unit": unit}


def _tables_writer(
    results: Mapping[str, pd.DataFrame],
    unit: str | None,
    exports: ReviewExports | None = None,
) -> Callable[[Path, Job], None]:
    """extra_files callback: write the tidy tables of one unit (or the bureau) into staging, then its exports."""

    def write(staging: Path, job: Job) -> None:
        view = analysis.unit_view(results, unit) if unit else results
        published = analysis.PUBLISHED_TABLES if unit else {**analysis.PUBLISHED_TABLES, **analysis.OVERVIEW_TABLES}
        for stem, key in published.items():
            frame = view.get(key)
            if isinstance(frame, pd.DataFrame):
                frame.to_parquet(staging / f"{stem}.parquet", index=False)
        if exports is not None:
            exports(staging, Path(job.publish_dir).parent, unit)

    return write


def _joint_writer(tables: Mapping[str, pd.DataFrame]) -> Callable[[Path, Job], None]:
    """extra_files callback: write one joint pair's tables (``<key>.parquet``) into staging."""

    def write(staging: Path, job: Job) -> None:
        for key in frozen.JOINT_TABLES:
            tables[key].to_parquet(staging / f"{key}.parquet", index=False)

    return write


@dataclass
class ReviewPlan:
    quarter: Quarter
    jobs: list[Job]
    overview: Job | None
    snapshot_dir: Path
    manifest: dict
    analysis_manifest: dict = field(default_factory=dict)
    #: every unit of the settings (the landing page's badge table lists those published)
    all_units: list[str] = field(default_factory=list)


def plan_review(
    quarter: QuarterLike,
    *,
    units: Sequence[str] = (),
    all_units: bool = False,
    joint: Sequence[str] | None = None,
    store_url: str | None = None,
    outputs: str | Path | None = None,
    force: bool = False,
    config: Config | None = None,
    overview: bool = True,
    exports: ReviewExports | None = None,
    update: bool = False,
) -> ReviewPlan:
    """Freeze the snapshot, compute and freeze its analysis, and build the jobs (no notebook runs yet).
    ``exports`` writes each unit review's and the overview's exports before they are published.
    ``update``: a quarter published before the store changed is frozen again (the old snapshot
    archived, as with ``force``), but only the reviews whose inputs changed run again."""
    q = Quarter.parse(quarter)
    config = config or load_config()
    out = Path(outputs or PROJECT_ROOT / "outputs").resolve()
    quarter_dir = out / str(q)
    selected = list(config.units) if all_units else list(dict.fromkeys(units))
    for u in selected:
        config.unit(u)
    if not selected:
        raise ReviewError("name the units to review (--unit U ...) or --all")
    with Store(store_url or config.store_url) as st:
        have = set(st.units())
        missing = [u for u in selected if u not in have]
        if all_units:
            selected = [u for u in selected if u in have]
        elif missing:
            raise ReviewError(f"no submission in the store for {', '.join(missing)}; ingest their workbooks first")
        if not selected:
            raise ReviewError("the store holds no submission; ingest the units' workbooks first (make run does)")
        try:
            manifest = freeze_snapshot(_WithPrevious(st), str(q), out, config, force=force or update)
        except PublishedError as exc:
            raise ReviewError(str(exc)) from None
    snap_dir = quarter_dir / "snapshot"
    state, previous = frozen.split_previous(load_snapshot(snap_dir))
    # The one computation of the quarter's analysis: notebooks and dashboards read it frozen.
    results = analysis.analyse(state, q, config, previous_state=previous or None)
    pairs = analysis.joint_pairs(state, config)
    joint_tables = frozen.joint_tables(state, results, config, pairs)
    analysis_manifest = frozen.freeze_analysis(
        quarter_dir, manifest, results, frozen.per_unit_tables(state, results, q, config), joint_tables
    )
    common = {
        "quarter": str(q),
        "snapshot_dir": str(snap_dir),
        "config_path": str(config.path.resolve()) if config.path else "",
    }
    # plotly.js once for the quarter's pages, which load it by a relative path (publish/assets.py)
    assets = quarter_dir / ASSETS_DIR
    jobs: list[Job] = []
    for u in selected:
        params = {**unit_parameters(u, config), **common, "unit": u}
        jobs.append(Job(u, UNIT_TEMPLATE, params, quarter_dir / u, _tables_writer(results, u, exports), assets))
    wanted = None if joint is None else {p.upper() for p in joint}
    for rec in pairs.itertuples(index=False):
        name = frozen.pair_name(rec.cluster, rec.region)
        if wanted is not None and name not in wanted:
            continue
        if wanted is None and not (all_units or rec.cluster in selected or rec.region in selected):
            continue
        params = {"cluster": rec.cluster, "region": rec.region, **common}
        jobs.append(
            Job(
                f"joint-{name}",
                JOINT_TEMPLATE,
                params,
                quarter_dir / "joint" / name,
                _joint_writer(joint_tables[name]),
                assets,
            )
        )
    unknown = (wanted or set()) - set(joint_tables)
    if unknown:
        raise ReviewError(f"no cluster x region pair with work in common named {', '.join(sorted(unknown))}")
    ov = (
        Job(
            OVERVIEW_NAME,
            OVERVIEW_TEMPLATE,
            dict(common),
            quarter_dir / OVERVIEW_NAME,
            _tables_writer(results, None, exports),
            assets,
        )
        if overview
        else None
    )
    return ReviewPlan(q, jobs, ov, snap_dir, manifest, analysis_manifest, list(config.units))


def batch_order(plan: ReviewPlan) -> list[Job]:
    """The plan's jobs in the order the batch starts them: the overview first (it reads the
    frozen analysis, not the units' pages, and is the longest notebook: started first, it
    runs beside the reviews instead of alone after them, one core idle), then the plan's."""
    return ([plan.overview] if plan.overview is not None else []) + list(plan.jobs)


def report_order(results: list[JobResult]) -> list[JobResult]:
    """``results`` with the overview's last, as the run report lists it (units, joint reviews,
    then the overview)."""
    return [r for r in results if r.name != OVERVIEW_NAME] + [r for r in results if r.name == OVERVIEW_NAME]


def review_quarter(
    quarter: QuarterLike,
    *,
    units: Sequence[str] = (),
    all_units: bool = False,
    joint: Sequence[str] | None = None,
    store_url: str | None = None,
    outputs: str | Path | None = None,
    workers: int = 3,
    force: bool = False,
    cell_timeout: int = 600,
    job_timeout: int = 1800,
    progress: bool = True,
    config: Config | None = None,
    scheduler: str | None = None,
    exports: ReviewExports | None = None,
    update: bool = False,
) -> dict[str, Any]:
    """Run the quarterly batch. Returns the run report (also written to run_report.json).

    With ``scheduler`` (a Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``) the notebooks
    run on that cluster (:mod:`rbm_utils.publish.dask`; ``workers`` is then the cluster's);
    snapshot, tidy tables and publishing stay here. ``exports`` (:data:`ReviewExports`) adds each
    unit review's and the overview's exports to its folder before the folder is published.
    """
    check_not_starting_job()
    started = time.time()
    # the local runner's warm job server starts now: its imports overlap the snapshot and the analysis
    with contextlib.nullcontext() if scheduler else job_server(start=True):
        plan = plan_review(
            quarter,
            units=units,
            all_units=all_units,
            joint=joint,
            store_url=store_url,
            outputs=outputs,
            force=force,
            config=config,
            exports=exports,
            update=update,
        )
        quarter_dir = plan.snapshot_dir.parent
        staging = quarter_dir.parent / ".staging" / str(plan.quarter)
        if scheduler:
            from rbm_utils.publish.dask import connect, run_notebooks_distributed

            client = connect(scheduler)
            try:
                results: list[JobResult] = run_notebooks_distributed(
                    batch_order(plan),
                    client,
                    cell_timeout=cell_timeout,
                    job_timeout=job_timeout,
                    staging_root=staging,
                    progress=progress,
                    force=force,
                )
            finally:
                client.close()
        else:
            results = run_notebooks(
                batch_order(plan),
                workers=workers,
                cell_timeout=cell_timeout,
                job_timeout=job_timeout,
                staging_root=staging,
                progress=progress,
                force=force,
            )
    results = report_order(results)
    badges.write_bureau_badges(quarter_dir, plan.all_units)  # the landing page's rows, one file
    report_path = write_run_report(results, quarter_dir / "run_report.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["snapshot_content_sha256"] = plan.manifest.get("content_sha256")
    report["analysis_content_sha256"] = plan.analysis_manifest.get("content_sha256")
    report["ok"] = not any(r.status in FAILED for r in results)
    report["seconds"] = round(time.time() - started, 2)
    atomic_write_json(report_path, report)
    return report
