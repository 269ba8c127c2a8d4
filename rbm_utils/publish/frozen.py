"""The quarter's analysis, frozen beside its snapshot: computed once by the batch, read everywhere.

``rbm review`` computes :func:`rbm_utils.analytics.bureau.analyse` once on the frozen snapshot
and writes every table a review notebook or a dashboard shows into ``outputs/<Q>/analysis/``:

- ``<key>.parquet`` for each key of ``analyse()``'s result, bureau-wide;
- ``units/<name>.parquet`` for what a review shows of one unit and cannot cut from a bureau
  table (:data:`UNIT_TABLES`: the unit's money flows, its risk heat map, its results
  statement), each with a leading ``unit_code``;
- ``joint/<CLUSTER>-<REGION>/<key>.parquet`` for each cluster x region pair with work in
  common (:data:`JOINT_TABLES`, the keys of :func:`rbm_utils.analytics.bureau.joint_view`);
- ``manifest.json``: the snapshot's ``content_sha256`` the tables were computed from, and per
  table its file, rows, columns, dtypes, file sha256 and content sha256.

The folder is staged next to its place and swapped in whole (:func:`freeze_analysis`); when its
content is unchanged it is left as it is. Notebooks and dashboards read it with
:func:`load_analysis` and only filter what they read (:func:`unit_rows`).

Example:
    >>> sorted(UNIT_TABLES)
    ['flows', 'risk_heatmap', 'statement']
    >>> analysis_dir("outputs/2026-Q3/snapshot").as_posix()
    'outputs/2026-Q3/analysis'
    >>> unit_rows(pd.DataFrame({"unit_code": ["AFR", "CYB"], "n": [1, 2]}), "CYB")
       n
    0  2
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rbm_utils.analytics import bureau
from rbm_utils.analytics.finance import money_flows
from rbm_utils.analytics.risks import risk_heatmap
from rbm_utils.analytics.statement import results_statement
from rbm_utils.core.config import Config
from rbm_utils.core.files import atomic_write_json, exchange_dirs, sha256_file, utc_stamp
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.publish.jobs import ANALYSIS_FOLDER
from rbm_utils.store.snapshot import PREVIOUS_PREFIX, table_content_sha256

log = logging.getLogger(__name__)

ANALYSIS_DIR = ANALYSIS_FOLDER
UNITS_DIR = "units"
JOINT_DIR = "joint"
MANIFEST = "manifest.json"
ARCHIVE_DIR = "archive"
MANIFEST_VERSION = 1
#: Per-unit tables beside ``analyse()``'s, each with a leading ``unit_code``.
UNIT_TABLES = ("flows", "risk_heatmap", "statement")
#: Tables of one joint review (the keys of :func:`rbm_utils.analytics.bureau.joint_view`).
JOINT_TABLES = (
    "cluster_kpis_in_region",
    "cluster_activities",
    "region_results",
    "region_kpis",
    "risks",
    "assumptions",
    "money",
    "money_summary",
    "agenda",
    "decisions",
)
_LOCK_WAIT_S = 60.0


class FrozenAnalysisError(RuntimeError):
    """The frozen analysis is missing, altered, or was computed from another snapshot."""


def analysis_dir(snapshot_dir: str | Path) -> Path:
    """The frozen analysis of a snapshot: its sibling folder ``analysis/``."""
    return Path(snapshot_dir).parent / ANALYSIS_DIR


def pair_name(cluster: str, region: str) -> str:
    """>>> pair_name("CYB", "AFR")
    'CYB-AFR'
    """
    return f"{cluster}-{region}"


def split_previous(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Split snapshot tables into (current state, previous quarter's state ``Previous_*``).

    >>> split_previous({"KPIs": 1, "Previous_KPIs": 2})
    ({'KPIs': 1}, {'KPIs': 2})
    """
    cur = {k: v for k, v in tables.items() if not k.startswith(PREVIOUS_PREFIX)}
    prev = {k[len(PREVIOUS_PREFIX) :]: v for k, v in tables.items() if k.startswith(PREVIOUS_PREFIX)}
    return cur, prev


def unit_rows(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The rows of a per-unit table that belong to ``unit``, without the ``unit_code`` column."""
    return frame[frame["unit_code"] == unit].drop(columns="unit_code").reset_index(drop=True)


# --------------------------------------------------------------------------- computing


def _stack(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One table of per-unit frames, ``unit_code`` first; empty frames only where all are empty
    (so they cannot turn a float column into object)."""
    tagged = [f.assign(unit_code=u)[["unit_code", *f.columns]] for u, f in frames.items()]
    full = [f for f in tagged if len(f)]
    return pd.concat(full or tagged[:1], ignore_index=True) if tagged else pd.DataFrame(columns=["unit_code"])


def per_unit_tables(
    state: bureau.State,
    results: Mapping[str, pd.DataFrame],
    quarter: QuarterLike,
    config: Config,
    units: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """:data:`UNIT_TABLES` for ``units`` (default: every unit of the settings).

    ``flows`` is :func:`rbm_utils.analytics.finance.money_flows` on the unit's own rows,
    ``risk_heatmap`` the heat map of the unit's risks, ``statement`` its results statement
    (one row, column ``statement``, Markdown).
    """
    q = Quarter.parse(quarter)
    codes = list(config.units) if units is None else list(units)
    flows, heat, text = {}, {}, {}
    register = results["risks"]
    for u in codes:
        flows[u] = money_flows(bureau.unit_state(state, u), q, programme_names=config.action_plan.programmes)
        heat[u] = risk_heatmap(register[register["unit_code"] == u].reset_index(drop=True), config.thresholds)
        text[u] = pd.DataFrame(
            {
                "statement": [
                    results_statement(state, results["progress"], u, q, config.currency, money=results["money"])
                ]
            }
        )
    return {"flows": _stack(flows), "risk_heatmap": _stack(heat), "statement": _stack(text)}


def joint_tables(
    state: bureau.State, results: Mapping[str, pd.DataFrame], config: Config, pairs: pd.DataFrame | None = None
) -> dict[str, dict[str, pd.DataFrame]]:
    """:func:`rbm_utils.analytics.bureau.joint_view` of every pair with work in common
    (``pairs``, default :func:`rbm_utils.analytics.bureau.joint_pairs`), by pair name."""
    pairs = bureau.joint_pairs(state, config) if pairs is None else pairs
    return {
        pair_name(r.cluster, r.region): bureau.joint_view(state, results, r.cluster, r.region, config)
        for r in pairs.itertuples(index=False)
    }


# --------------------------------------------------------------------------- files


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="snappy")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _read_table(path: Path, entry: Mapping[str, Any]) -> pd.DataFrame:
    """A table as written: text columns that were ``object`` come back ``object`` (missing as None)."""
    df = pq.read_table(path).to_pandas()
    for col, dtype in dict(entry.get("dtypes") or {}).items():
        if dtype == "object" and col in df.columns and df[col].dtype != object:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def _tables(
    results: Mapping[str, pd.DataFrame],
    per_unit: Mapping[str, pd.DataFrame],
    joint: Mapping[str, Mapping[str, pd.DataFrame]],
) -> dict[str, pd.DataFrame]:
    """Every frozen table by its id, the file's path under the folder without ``.parquet``."""
    out = {key: frame for key, frame in results.items() if isinstance(frame, pd.DataFrame)}
    out |= {f"{UNITS_DIR}/{name}": frame for name, frame in per_unit.items()}
    for pair, tables in joint.items():
        out |= {f"{JOINT_DIR}/{pair}/{key}": frame for key, frame in tables.items()}
    return out


def _content(snapshot_sha: str, entries: Mapping[str, Mapping[str, Any]]) -> str:
    payload = [
        MANIFEST_VERSION,
        snapshot_sha,
        sorted((tid, e["content_sha256"], sorted(e["dtypes"].items())) for tid, e in entries.items()),
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode("utf-8")).hexdigest()


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a frozen analysis; :class:`FrozenAnalysisError` when absent or unreadable."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FrozenAnalysisError(
            f"no frozen analysis at {path.parent}: run the quarterly review (rbm review) to compute it"
        ) from None
    except (OSError, ValueError) as exc:
        raise FrozenAnalysisError(f"frozen analysis manifest {path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise FrozenAnalysisError(f"frozen analysis manifest {path} lists no tables")
    return manifest


def freeze_analysis(
    quarter_dir: str | Path,
    snapshot_manifest: Mapping[str, Any],
    results: Mapping[str, pd.DataFrame],
    per_unit: Mapping[str, pd.DataFrame],
    joint: Mapping[str, Mapping[str, pd.DataFrame]],
) -> dict:
    """Write the analysis into ``quarter_dir/analysis/`` as a whole and return its manifest.

    Left as it is when its content (tables, dtypes, snapshot) is unchanged; otherwise staged
    in ``quarter_dir`` and swapped in (:func:`rbm_utils.core.files.exchange_dirs`, or two
    renames where the exchange is unsupported), the previous folder moved to
    ``quarter_dir/archive/<UTC timestamp>/analysis``.
    """
    quarter_dir = Path(quarter_dir)
    final = quarter_dir / ANALYSIS_DIR
    tables = _tables(results, per_unit, joint)
    entries: dict[str, dict[str, Any]] = {
        tid: {
            "file": f"{tid}.parquet",
            "rows": int(len(df)),
            "columns": [str(c) for c in df.columns],
            "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
            "content_sha256": table_content_sha256(df),
        }
        for tid, df in sorted(tables.items())
    }
    snapshot_sha = str(snapshot_manifest.get("content_sha256", ""))
    content = _content(snapshot_sha, entries)
    (quarter_dir / ".locks").mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(quarter_dir / ".locks" / "analysis.lock"), timeout=_LOCK_WAIT_S):
        if final.exists():
            try:
                old = read_manifest(final)
            except FrozenAnalysisError:
                old = {}
            if old.get("content_sha256") == content:
                log.info("analysis %s unchanged (content %s); left as it is", quarter_dir.name, content[:12])
                return old
        tmp = quarter_dir / f".analysis-tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        swapped = False  # after the exchange tmp holds the previous analysis: archive it, never delete it
        try:
            for tid, df in tables.items():
                _write_table(df, tmp / entries[tid]["file"])
                entries[tid]["sha256"] = sha256_file(tmp / entries[tid]["file"])
            manifest = {
                "manifest_version": MANIFEST_VERSION,
                "quarter": snapshot_manifest.get("quarter"),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "snapshot_content_sha256": snapshot_sha,
                "results": sorted(k for k in results if isinstance(results[k], pd.DataFrame)),
                "unit_tables": sorted(per_unit),
                "joint_pairs": sorted(joint),
                "tables": entries,
                "content_sha256": content,
            }
            atomic_write_json(tmp / MANIFEST, manifest)
            if final.exists():
                archive = quarter_dir / ARCHIVE_DIR / utc_stamp()
                archive.mkdir(parents=True)
                if exchange_dirs(tmp, final):
                    swapped = True
                    os.rename(tmp, archive / ANALYSIS_DIR)
                else:
                    os.rename(final, archive / ANALYSIS_DIR)
                    os.rename(tmp, final)
                log.info("analysis %s replaced; the previous one is in %s", quarter_dir.name, archive)
            else:
                os.rename(tmp, final)
        finally:
            if tmp.exists() and not swapped:
                shutil.rmtree(tmp, ignore_errors=True)
    log.info("analysis %s frozen: %d tables, content %s", quarter_dir.name, len(tables), content[:12])
    return manifest


# --------------------------------------------------------------------------- reading


@dataclass
class FrozenAnalysis:
    """A frozen analysis as read back: ``results`` keyed like ``analyse()``, ``per_unit`` keyed
    like :data:`UNIT_TABLES`; :meth:`joint` reads one pair's tables on demand."""

    folder: Path
    manifest: dict
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    per_unit: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def pairs(self) -> list[str]:
        """Names of the frozen joint pairs (``CLUSTER-REGION``)."""
        return list(self.manifest.get("joint_pairs", []))

    def table(self, tid: str) -> pd.DataFrame:
        """One table by id (``progress``, ``units/flows``, ``joint/CYB-AFR/risks``), checked
        against the manifest's sha256 and row count."""
        entry = self.manifest["tables"].get(tid)
        if not isinstance(entry, dict) or entry.get("file") != f"{tid}.parquet" or ".." in tid.split("/"):
            raise FrozenAnalysisError(f"the frozen analysis in {self.folder} has no table {tid!r}")
        path = self.folder / entry["file"]
        if not path.is_file():
            raise FrozenAnalysisError(f"frozen analysis file missing: {path}")
        actual = sha256_file(path)
        if actual != entry.get("sha256"):
            raise FrozenAnalysisError(
                f"frozen analysis file {path} does not match its manifest (sha256 {actual[:12]}, "
                f"expected {str(entry.get('sha256'))[:12]}): it was changed after the batch"
            )
        df = _read_table(path, entry)
        if len(df) != entry.get("rows"):
            raise FrozenAnalysisError(f"frozen analysis file {path}: {len(df)} rows, manifest says {entry.get('rows')}")
        return df

    def joint(self, cluster: str, region: str) -> dict[str, pd.DataFrame]:
        """The joint review tables of one pair (:data:`JOINT_TABLES`)."""
        name = pair_name(cluster, region)
        if name not in self.pairs:
            raise FrozenAnalysisError(
                f"no joint review {name} in the frozen analysis (pairs with work in common: "
                f"{', '.join(self.pairs) or 'none'})"
            )
        return {key: self.table(f"{JOINT_DIR}/{name}/{key}") for key in JOINT_TABLES}


def load_analysis(folder: str | Path, snapshot_content_sha256: str | None = None) -> FrozenAnalysis:
    """Read a frozen analysis (bureau-wide and per-unit tables; joint ones on demand).

    With ``snapshot_content_sha256`` the analysis must have been computed from that snapshot.

    >>> load_analysis("outputs/2026-Q3/analysis").results["progress"].columns[0]  # doctest: +SKIP
    'unit_code'
    """
    root = Path(folder)
    manifest = read_manifest(root)
    if snapshot_content_sha256 is not None and manifest.get("snapshot_content_sha256") != snapshot_content_sha256:
        raise FrozenAnalysisError(
            f"the frozen analysis in {root} was computed from snapshot {str(manifest.get('snapshot_content_sha256'))[:12]}, "
            f"not from the snapshot beside it ({snapshot_content_sha256[:12]}): re-run the quarterly review"
        )
    fa = FrozenAnalysis(root, manifest)
    fa.results = {key: fa.table(key) for key in manifest.get("results", [])}
    fa.per_unit = {name: fa.table(f"{UNITS_DIR}/{name}") for name in manifest.get("unit_tables", [])}
    return fa
