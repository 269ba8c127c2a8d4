"""Frozen quarterly snapshots: the store's bureau state as parquet files plus a manifest.

``rbm review`` freezes the store once per quarter into ``outputs/<quarter>/snapshot/``;
every review notebook then reads that folder (:func:`load_snapshot`), never the live
store, so figures do not drift when a unit resubmits. The manifest carries the sha256
of each file, row counts, the submission used per unit and a ``content_sha256`` over
the tables' *content* (not file bytes, not timestamps): an unchanged store gives the
same content hash, and freezing it again leaves the published snapshot untouched. A
snapshot whose content changed is only replaced with ``force=True``; the old one is
moved to ``<quarter>/archive/<UTC timestamp>/snapshot``.

Example:
    >>> manifest = freeze_snapshot(store, "2026-Q3", Path("outputs"), config)  # doctest: +SKIP
    >>> frames = load_snapshot(Path("outputs/2026-Q3/snapshot"))              # doctest: +SKIP
    >>> frames["KPIs"].columns[0]                                              # doctest: +SKIP
    'unit_code'
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from rbm_utils.core import schema
from rbm_utils.core.codes import APPROVAL_COLUMNS, FRAMEWORK_CHANGE_COLUMNS
from rbm_utils.core.config import Authority, Config
from rbm_utils.core.files import atomic_write_json, exchange_dirs, sha256_file, utc_stamp
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import is_missing
from rbm_utils.store.authority import CHANGE_KINDS

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SNAPSHOT_DIR = "snapshot"
ARCHIVE_DIR = "archive"
#: Frame of ``bureau_state`` that lists each unit's latest submission (not a contract sheet).
UNIT_FRAME = "Unit"
#: Version of the manifest layout.
MANIFEST_VERSION = 1
_LOCK_WAIT_S = 60.0
_SHEET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class SnapshotError(RuntimeError):
    """A snapshot is missing, incomplete or does not match its manifest."""


class PublishedError(SnapshotError):
    """The quarter is already published with different content and ``force`` was not given."""


class BureauStore(Protocol):
    """What :func:`freeze_snapshot` needs from a store (duck-typed; see rbm_utils.store.database).

    A store that also has ``approval_states(quarter, authority, currency)`` and
    ``framework_changes(quarter, authority)`` fills the ``Approvals`` and ``FrameworkChanges``
    tables; without them both are frozen empty. ``approval_tables(quarter, authority, currency)``,
    when the store has it, gives both at once (one read instead of two).
    """

    def bureau_state(self, quarter: Quarter) -> dict[str, pd.DataFrame]: ...


#: Tables frozen beside the contract sheets: each unit-quarter's approval state and its framework
#: changes against the last approved quarter (:mod:`rbm_utils.store.escalation`), with their columns.
APPROVALS = "Approvals"
FRAMEWORK_CHANGES = "FrameworkChanges"
AUTHORITY_TABLES: dict[str, list[str]] = {APPROVALS: APPROVAL_COLUMNS, FRAMEWORK_CHANGES: FRAMEWORK_CHANGE_COLUMNS}
_NUMBERS = {"amount": "float64", "share": "float64", "n_pending": "int64"}


# ---------------------------------------------------------------------------- helpers


def _parse_quarter(quarter: QuarterLike) -> Quarter:
    """The quarter to freeze: a Quarter, or its text exactly (it names a folder: no spaces around)."""
    q = Quarter.parse_or_none(quarter)
    if q is None or (isinstance(quarter, str) and quarter != str(q)):
        raise ValueError(f"not a quarter (YYYY-Qn): {quarter!r}")
    return q


def _canonical(value: Any) -> Any:
    """A JSON-able, type-stable form of one cell value (missing values all become None)."""
    if is_missing(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, (bytes, bool, int, float)):  # numpy scalars
        try:
            value = value.item()
        except (ValueError, AttributeError, TypeError):
            pass
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):  # NaN was caught by is_missing above
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    return str(value)


#: Tables named ``Previous_<Sheet>`` hold the previous quarter's state (for trends).
PREVIOUS_PREFIX = "Previous_"


def _base_name(name: str) -> str:
    return name[len(PREVIOUS_PREFIX) :] if name.startswith(PREVIOUS_PREFIX) else name


def _sort_keys(name: str, frame: pd.DataFrame) -> list[str]:
    name = _base_name(name)
    if name in (UNIT_FRAME, APPROVALS):
        keys = ["unit_code"]
    else:
        keys = ["unit_code", *schema.sheet(name).key]
    return [k for k in keys if k in frame.columns]


def _authority_table(name: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    """An ``Approvals`` or ``FrameworkChanges`` frame with its columns and dtypes (text: "" for missing)."""
    cols = AUTHORITY_TABLES[name]
    df = pd.DataFrame(columns=cols) if frame is None else frame.reindex(columns=cols)
    for c in cols:
        if c in _NUMBERS:
            df[c] = pd.to_numeric(df[c]).astype(_NUMBERS[c])
        else:
            df[c] = [("" if is_missing(v) else str(v)) for v in df[c]]
            df[c] = df[c].astype(object)
    return df


def _prepare(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The frame as written: contract columns and dtypes, rows in a stable order; with each row's
    canonical JSON, in that order (what :func:`table_content_sha256` hashes: :func:`_rows_sha256`)."""
    if not _SHEET_NAME_RE.match(name):
        raise ValueError(f"not a valid table name for a snapshot file: {name!r}")
    name = _base_name(name)
    if name in AUTHORITY_TABLES:
        df = _authority_table(name, frame)
    elif name == UNIT_FRAME:
        df = frame.copy()
        if "submission_id" in df.columns:
            df["submission_id"] = pd.to_numeric(df["submission_id"]).astype("Int64")
        for col in df.columns:
            if col != "submission_id" and df[col].dtype != "float64":
                df[col] = df[col].astype(object).where(df[col].notna(), None)
    else:
        try:
            sh = schema.sheet(name)
        except KeyError:
            raise ValueError(f"bureau_state returned {name!r}, which is not a sheet of the contract") from None
        if sh.kind != "table":
            raise ValueError(f"bureau_state returned key/value sheet {name!r} as a table")
        if "unit_code" not in frame.columns:
            raise ValueError(f"bureau_state frame {name!r} has no leading unit_code column")
        df = schema.conform(name, frame, with_unit=True)
    # Sort by unit and key, then by the whole row as a tie-break, so the order never
    # depends on the order the store returned the rows in.
    row_text = [
        json.dumps([_canonical(v) for v in rec], ensure_ascii=False) for rec in df.itertuples(index=False, name=None)
    ]
    keyed = df.assign(__row=row_text)
    if name == FRAMEWORK_CHANGES:  # a unit's changes in the order of their kinds
        keyed["__kind"] = [CHANGE_KINDS.index(k) if k in CHANGE_KINDS else len(CHANGE_KINDS) for k in df["change_kind"]]
        keys = ["unit_code", "__kind", "item_id"]
    else:
        keys = _sort_keys(name, df)
    keyed = keyed.sort_values(keys + ["__row"], kind="stable", na_position="first")
    rows = keyed["__row"].tolist()
    return keyed.drop(columns=[c for c in ("__row", "__kind") if c in keyed]).reset_index(drop=True), rows


def table_content_sha256(frame: pd.DataFrame) -> str:
    """sha256 over a table's column names and cell values (canonical JSON), not its bytes on disk.

    >>> table_content_sha256(pd.DataFrame({"a": [1]})) == table_content_sha256(pd.DataFrame({"a": [1]}))
    True
    """
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns], ensure_ascii=False).encode("utf-8"))
    for rec in frame.itertuples(index=False, name=None):
        h.update(b"\n")
        h.update(json.dumps([_canonical(v) for v in rec], ensure_ascii=False, allow_nan=False).encode("utf-8"))
    return h.hexdigest()


def _rows_sha256(frame: pd.DataFrame, rows: list[str]) -> str:
    """:func:`table_content_sha256` of a frame from its rows' canonical JSON already made by
    :func:`_prepare` (:func:`_canonical` leaves no NaN or infinity for ``allow_nan`` to refuse).

    >>> df, rows = _prepare("Unit", pd.DataFrame({"unit_code": ["CYB", "AFR"], "submission_id": [2, None]}))
    >>> _rows_sha256(df, rows) == table_content_sha256(df)
    True
    """
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns], ensure_ascii=False).encode("utf-8"))
    for row in rows:
        h.update(b"\n")
        h.update(row.encode("utf-8"))
    return h.hexdigest()


def _content_sha256(tables: dict[str, str]) -> str:
    payload = json.dumps(sorted(tables.items()), separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="snappy", write_statistics=True)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _quarter_lock(quarter_dir: Path) -> FileLock:
    """The lock that serialises freezes of one quarter (blocking, waits at most :data:`_LOCK_WAIT_S`)."""
    lock_dir = quarter_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_dir / "snapshot.lock", timeout=_LOCK_WAIT_S)


# ---------------------------------------------------------------------------- public API


def read_manifest(snapshot_dir: Path) -> dict:
    """The manifest of a snapshot folder; :class:`SnapshotError` if absent or unreadable."""
    path = Path(snapshot_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot manifest at {path}") from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"snapshot manifest {path} is unreadable: {exc}") from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("tables"), dict)
        or not isinstance(manifest.get("content_sha256"), str)
    ):
        raise SnapshotError(f"snapshot manifest {path} lacks tables or content_sha256")
    return manifest


def snapshot_tables(
    store: BureauStore, quarter: QuarterLike, authority: Authority | None = None, currency: str = ""
) -> dict[str, pd.DataFrame]:
    """The bureau state of ``quarter`` as it would be frozen: conformed, in a stable row order,
    with the ``Approvals`` and ``FrameworkChanges`` tables (changes classified by ``authority``).

    >>> snapshot_tables(store, "2026-Q3")["Risks"].columns[0]  # doctest: +SKIP
    'unit_code'
    """
    return {name: frame for name, (frame, _) in _prepared(store, _parse_quarter(quarter), authority, currency).items()}


def _prepared(
    store: BureauStore, q: Quarter, authority: Authority | None, currency: str
) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """:func:`snapshot_tables` with each table's rows as canonical JSON (:func:`_prepare`)."""
    state = store.bureau_state(q)
    if UNIT_FRAME not in state:
        raise ValueError("bureau_state returned no 'Unit' frame (each unit's latest submission)")
    if AUTHORITY_TABLES.keys() & state.keys():
        raise ValueError(
            f"bureau_state returned {sorted(AUTHORITY_TABLES.keys() & state.keys())}, tables of the store's own"
        )
    both = getattr(store, "approval_tables", None)
    states, changes = getattr(store, "approval_states", None), getattr(store, "framework_changes", None)
    auth = authority or Authority()
    if both is not None:  # one read of the approvals for both tables
        extra = dict(zip((APPROVALS, FRAMEWORK_CHANGES), both(q, auth, currency), strict=True))
    else:
        extra = {
            APPROVALS: states(q, auth, currency) if states is not None else None,
            FRAMEWORK_CHANGES: changes(q, auth) if changes is not None else None,
        }
    tables = {name: _prepare(name, frame) for name, frame in state.items()}
    tables.update({name: _prepare(name, _authority_table(name, frame)) for name, frame in extra.items()})
    return dict(sorted(tables.items()))


def freeze_snapshot(
    store: BureauStore, quarter: QuarterLike, out_dir: Path, config: Config, *, force: bool = False
) -> dict:
    """Freeze ``store.bureau_state(quarter)`` into ``out_dir/<quarter>/snapshot/`` and return the manifest.

    Idempotent: when a snapshot with the same ``content_sha256`` exists it is left
    untouched and its manifest returned. When one with different content exists,
    :class:`PublishedError` is raised unless ``force``; with ``force`` the old snapshot
    is moved to ``out_dir/<quarter>/archive/<UTC timestamp>/snapshot`` first. The new
    folder is written next to its final place and renamed into it, so a reader never
    sees a half-written snapshot. ``config`` names the workbench in the manifest; units
    the store holds but the settings do not list are logged as a warning.

    Example:
        >>> m = freeze_snapshot(store, "2026-Q3", Path("outputs"), load_config())  # doctest: +SKIP
        >>> sorted(m["tables"])[:2]                                                # doctest: +SKIP
        ['Activities', 'Actuals']
    """
    q = _parse_quarter(quarter)
    prepared = _prepared(store, q, getattr(config, "authority", None), str(getattr(config, "currency", "")))
    tables = {name: df for name, (df, _) in prepared.items()}
    table_hashes = {name: _rows_sha256(df, rows) for name, (df, rows) in prepared.items()}
    content = _content_sha256(table_hashes)
    quarter_dir = Path(out_dir) / str(q)
    quarter_dir.mkdir(parents=True, exist_ok=True)
    known = set(getattr(config, "units", {}) or {})
    unit_df = tables[UNIT_FRAME]
    submissions = [
        {
            "unit_code": _canonical(r.get("unit_code")),
            "submission_id": _canonical(r.get("submission_id")),
            "quarter": _canonical(r.get("quarter")),
        }
        for r in unit_df.to_dict("records")
    ]
    unknown = sorted({s["unit_code"] for s in submissions} - known) if known else []
    if unknown:
        log.warning("snapshot %s: units not listed in the settings: %s", quarter, ", ".join(map(str, unknown)))

    lock = _quarter_lock(quarter_dir)
    try:
        lock.acquire()
    except Timeout as exc:
        raise SnapshotError(f"another process is freezing {quarter_dir.name}; try again later") from exc
    try:
        return _publish(tables, table_hashes, content, q, quarter_dir, submissions, config, force)
    finally:
        lock.release()


def _publish(
    tables: dict[str, pd.DataFrame],
    table_hashes: dict[str, str],
    content: str,
    quarter: Quarter,
    quarter_dir: Path,
    submissions: list[dict],
    config: Config,
    force: bool,
) -> dict:
    """Under the quarter's lock: keep an unchanged snapshot, refuse or archive a changed one,
    write the new one beside it and move it into place."""
    final = quarter_dir / SNAPSHOT_DIR
    if final.exists():
        try:
            old = read_manifest(final)
            old_content = old.get("content_sha256")
        except SnapshotError:
            old, old_content = None, None
        if old is not None and old_content == content:
            log.info("snapshot %s unchanged (content %s); left as it is", quarter, content[:12])
            return old
        if not force:
            raise PublishedError(
                f"quarter {quarter} is already published ({final}) and the store has changed since "
                f"(published content {str(old_content)[:12]}, store now {content[:12]}). "
                "Re-run with --update to publish the store's state (only the reviews whose figures changed run "
                "again) or --force to run every review again; the current snapshot will be archived."
            )

    tmp = quarter_dir / f".snapshot-tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    swapped = False  # after the exchange, tmp holds the previous snapshot: archive it, never delete it
    try:
        entries: dict[str, dict] = {}
        for name, df in tables.items():
            fname = f"{name}.parquet"
            _write_parquet(df, tmp / fname)
            entries[name] = {
                "file": fname,
                "sha256": sha256_file(tmp / fname),
                "rows": int(len(df)),
                "columns": [str(c) for c in df.columns],
                "content_sha256": table_hashes[name],
            }
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "quarter": str(quarter),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "schema_version": schema.SCHEMA_VERSION,
            "workbench": str(getattr(config, "name", "")),
            "currency": str(getattr(config, "currency", "")),
            "submissions": submissions,
            "tables": entries,
            "content_sha256": content,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if final.exists():
            archive = quarter_dir / ARCHIVE_DIR / utc_stamp()
            archive.mkdir(parents=True)
            if exchange_dirs(tmp, final):  # one atomic step: no moment without a snapshot
                swapped = True
                os.rename(tmp, archive / SNAPSHOT_DIR)
            else:
                os.rename(final, archive / SNAPSHOT_DIR)
                os.rename(tmp, final)
            log.warning("snapshot %s re-published (--force or --update); previous one archived in %s", quarter, archive)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists() and not swapped:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("snapshot %s frozen: %d tables, content %s", quarter, len(tables), content[:12])
    return manifest


def load_snapshot(snapshot_dir: Path) -> dict[str, pd.DataFrame]:
    """Read every table of a snapshot back, verifying each file's sha256 against the manifest.

    Contract sheets come back with :func:`rbm_utils.core.schema.conform` dtypes and a leading
    ``unit_code``; ``"Unit"`` lists each unit's submission. A missing or altered file
    raises :class:`SnapshotError`.

    Example:
        >>> frames = load_snapshot(Path("outputs/2026-Q3/snapshot"))  # doctest: +SKIP
        >>> list(frames["Risks"].columns[:2])                          # doctest: +SKIP
        ['unit_code', 'risk_id']
    """
    return dict(SnapshotTables(snapshot_dir))


class SnapshotTables(Mapping[str, pd.DataFrame]):
    """A snapshot's tables read as they are first asked for (each verified like
    :func:`load_snapshot` when read, then kept): a review notebook reads the few sheets it shows,
    not the whole bureau's. The manifest is read and its entries checked at once.
    ``previous=False`` leaves out the previous quarter's ``Previous_*`` tables.
    """

    def __init__(self, snapshot_dir: Path, *, previous: bool = True) -> None:
        self.root = Path(snapshot_dir)
        self._entries: dict[str, dict] = {}
        for name, entry in sorted(read_manifest(self.root)["tables"].items()):
            fname = str(entry.get("file", "")) if isinstance(entry, dict) else ""
            if not _SHEET_NAME_RE.match(name) or fname != f"{name}.parquet":
                raise SnapshotError(f"snapshot manifest {self.root / MANIFEST}: bad entry for table {name!r}")
            if previous or not name.startswith(PREVIOUS_PREFIX):
                self._entries[name] = entry
        self._read: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._read:
            self._read[name] = _read_table(self.root, name, self._entries[name])
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _read_table(root: Path, name: str, entry: dict) -> pd.DataFrame:
    """Table ``name`` of the snapshot in ``root``, checked against its manifest ``entry``."""
    path = root / f"{name}.parquet"
    if not path.is_file():
        raise SnapshotError(f"snapshot file missing: {path}")
    actual = sha256_file(path)
    if actual != entry.get("sha256"):
        raise SnapshotError(
            f"snapshot file {path} does not match its manifest "
            f"(sha256 {actual[:12]}, expected {str(entry.get('sha256'))[:12]}): "
            "it was changed after the snapshot was frozen"
        )
    df = pq.read_table(path).to_pandas()
    base = _base_name(name)
    if base != UNIT_FRAME and base in schema.sheet_names() and schema.sheet(base).kind == "table":
        df = schema.conform(base, df, with_unit=True)
    elif base in AUTHORITY_TABLES:
        df = _authority_table(base, df)
    elif base == UNIT_FRAME:
        for col in df.columns:
            if col != "submission_id":
                df[col] = df[col].astype(object).where(df[col].notna(), None)
    if len(df) != entry.get("rows"):
        raise SnapshotError(f"snapshot file {path}: {len(df)} rows, manifest says {entry.get('rows')}")
    return df
