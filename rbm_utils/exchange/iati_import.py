"""``rbm import iati FILE.xml``: another organisation's IATI results, kept as a benchmark.

The file is read by :func:`rbm_utils.intake.iati.read_iati` (streaming, no document type, no
network) into its comparison table, tagged with the theme it compares with, and written to
the benchmarks folder of the settings as ``<name>.parquet`` (replacing an earlier import of
the same name). The bureau overview shows it beside the KPIs of that theme
(:mod:`rbm_utils.present.benchmarks`).

Example:
    >>> benchmark_name("UNDP results 2025.xml")
    'UNDP_results_2025'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rbm_utils.core.config import Config
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.intake.iati import read_iati
from rbm_utils.present.benchmarks import benchmarks_dir

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ImportReport:
    """What ``import_iati`` kept."""

    path: Path
    activities: int
    indicators: int
    rows: int
    with_warnings: int


def benchmark_name(text: str) -> str:
    """A safe file name for a benchmark: letters, digits, ``_`` and ``-`` (at most 60)."""
    stem = Path(text).stem if text.lower().endswith(".xml") else text
    return _NAME_RE.sub("_", stem).strip("_")[:60] or "benchmark"


def import_iati(
    path: str | os.PathLike, config: Config, theme: str = "", name: str = "", folder: str | os.PathLike | None = None
) -> ImportReport:
    """Read ``path`` and write its comparison table to the benchmarks folder."""
    read = read_iati(path, theme=theme.strip())
    table = read.table
    out = Path(folder) if folder is not None else benchmarks_dir(config)
    target = out / f"{benchmark_name(name or Path(path).name)}.parquet"
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), buf)
    atomic_write_bytes(target, buf.getvalue().to_pybytes())
    indicators = table[["activity_id", "result_ref", "result_title", "indicator_ref", "indicator"]].drop_duplicates()
    return ImportReport(
        path=target,
        activities=len(read.activities),
        indicators=len(indicators),
        rows=len(table),
        with_warnings=int((table["warnings"] != "").sum()),
    )
