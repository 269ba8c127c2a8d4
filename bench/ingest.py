"""Ingest at scale: ``python -m bench.ingest --rows 50000 --work DIR``.

Takes the sample bureau's AFR workbook content, adds disaggregated Actuals rows
(``country=Cnnn`` for the reported KPI quarters) up to ``--rows`` rows, writes it with the
template writer, then, each in a fresh process (so that each peak memory is its own):

- the ingest: :func:`rbm_utils.store.ingest.ingest_file` (read, validate, store as a new
  submission with its change log) into a fresh SQLite store, its read, validate and store
  shares timed in place;
- its floor: the fastest bare read of the same file's cells (python-calamine, openpyxl's
  read-only mode, fastexcel when installed) plus one bulk insert of the same rows into a fresh
  store of the same kind: what no ingest can beat.

The two alternate ``--repeat`` times (same machine conditions); medians. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import PeakRSS, timed
from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.demo.sample import sample_unit
from rbm_utils.intake.template import write_workbook
from rbm_utils.intake.validate import parse_source
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import ingest_file

UNIT = "AFR"


def big_actuals(actuals: pd.DataFrame, n_rows: int, seed: int = 1, percent_kpis: tuple[str, ...] = ()) -> pd.DataFrame:
    """The unit's total rows plus ``country=Cnnn`` rows for the same KPI quarters, ``n_rows`` in
    all. The country values of a quarter are random shares of its total, so that they add up
    to it (the validator checks this for ``sum`` KPIs); those of ``percent_kpis`` are rates
    near the total's (0-100), as a country's rate would be.

    >>> a = pd.DataFrame({"kpi_id": ["K1"], "period": ["2026-Q1"], "value": [10.0], "numerator": [None],
    ...                   "denominator": [None], "disaggregation": [""], "evidence": ["e"], "comment": [None]})
    >>> b = big_actuals(a, 3)
    >>> b["disaggregation"].tolist(), round(float(b["value"].iloc[1:].sum()), 9)
    (['', 'country=C000', 'country=C001'], 10.0)
    """
    tot = actuals.reset_index(drop=True)
    need = n_rows - len(tot)
    if need <= 0:
        return tot.iloc[:n_rows]
    per = -(-need // len(tot))
    idx = np.repeat(np.arange(len(tot)), per)[:need]
    country = np.tile(np.arange(per), len(tot))[:need]
    rng = np.random.default_rng(seed)
    weight = pd.Series(rng.uniform(0.2, 1.0, need))
    share = (weight / weight.groupby(idx).transform("sum")).to_numpy()
    value = tot["value"].to_numpy(dtype=float)[idx] * share
    last = np.r_[idx[1:] != idx[:-1], True]  # the last country of each quarter takes the rounding rest
    value[last] += tot["value"].to_numpy(dtype=float)[idx[last]] - pd.Series(value).groupby(idx).sum().to_numpy()
    pct = tot["kpi_id"].isin(percent_kpis).to_numpy()[idx]
    rate = np.clip(tot["value"].to_numpy(dtype=float)[idx] * rng.uniform(0.8, 1.2, need), 0, 100).round(1)
    value = np.where(pct, rate, value)
    extra = (
        tot.iloc[idx]
        .reset_index(drop=True)
        .assign(
            disaggregation=[f"country=C{c:03d}" for c in country],
            value=value,
            numerator=np.nan,
            denominator=np.nan,
            evidence="bench",
            comment=None,
        )
    )
    return pd.concat([tot, extra], ignore_index=True)


def _fresh_url(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_ingest(path: Path, store: Path) -> dict:
    """One ``ingest_file`` of ``path`` into a fresh store, in this (fresh) process: wall time,
    its read, validate and store shares, the reader used and the process's peak memory."""
    import rbm_utils.intake.validate as validate_module
    import rbm_utils.store.ingest as ingest_module

    cfg = load_config()
    shares: dict[str, float] = {}
    readers: list[str] = []
    read_source = validate_module.read_source

    def timed_read(*a, **kw):
        seconds, raw = timed(lambda: read_source(*a, **kw))
        shares["read_seconds"] = seconds
        readers.append(raw.reader)
        return raw

    def timed_parse(*a, **kw):  # ingest_file's own call, timed: the read + validate share of a run
        cpu0 = time.process_time()
        seconds, parsed = timed(lambda: parse_source(*a, **kw))
        shares["parse_seconds"] = seconds
        shares["parse_cpu_seconds"] = time.process_time() - cpu0
        return parsed

    validate_module.read_source = timed_read
    ingest_module.parse_source = timed_parse
    with Store(_fresh_url(store)) as st, PeakRSS() as mem:
        cpu0 = time.process_time()
        seconds, rep = timed(lambda: ingest_file(path, st, cfg, by="bench"))
        cpu = time.process_time() - cpu0
    if rep.status != "stored":
        raise SystemExit(f"the bench workbook was not stored: {rep.message}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "read_seconds": shares["read_seconds"],
        "validate_seconds": shares["parse_seconds"] - shares["read_seconds"],
        "store_seconds": max(0.0, seconds - shares["parse_seconds"]),
        "parse_cpu_seconds": shares["parse_cpu_seconds"],
        "store_cpu_seconds": max(0.0, cpu - shares["parse_cpu_seconds"]),
        "reader": readers[0],
        "peak_rss_mb": mem.peak_mb,
        "start_rss_mb": mem.start_mb,
        "status": rep.status,
        "errors": rep.n_errors,
        "warnings": rep.n_warnings,
    }


def bare_reads(path: Path) -> tuple[dict[str, float | None], dict[str, float | None], dict[str, list[list]]]:
    """Wall and CPU seconds of a bare read of every cell of every sheet by each reader available
    (python-calamine; openpyxl read-only; fastexcel when installed), and calamine's cells."""
    import openpyxl
    from python_calamine import CalamineWorkbook

    def calamine() -> dict[str, list[list]]:
        with CalamineWorkbook.from_path(str(path)) as wb:
            return {n: wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names}

    def openpyxl_read_only() -> int:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        n = sum(len(list(ws.iter_rows(values_only=True))) for ws in wb.worksheets)
        wb.close()
        return n

    readers: dict[str, Any] = {"python_calamine": calamine, "openpyxl_read_only": openpyxl_read_only}
    try:
        import fastexcel  # type: ignore[import-not-found]  # optional: not a dependency
    except ImportError:
        readers["fastexcel"] = None
    else:
        readers["fastexcel"] = lambda: [
            fastexcel.read_excel(str(path)).load_sheet_by_name(n).to_arrow()
            for n in fastexcel.read_excel(str(path)).sheet_names
        ]
    wall: dict[str, float | None] = {}
    cpu: dict[str, float | None] = {}
    cells: dict[str, list[list]] = {}
    for name, fn in readers.items():
        if fn is None:
            wall[name] = cpu[name] = None
            continue
        cpu0 = time.process_time()
        wall[name], got = timed(fn)
        cpu[name] = time.process_time() - cpu0
        if name == "python_calamine":
            cells = got
    return wall, cpu, cells


def run_floor(path: Path, store: Path) -> dict:
    """The floor of an ingest, in this (fresh) process: the fastest bare read of the file's
    cells, plus one bulk insert of the same rows (one transaction, one executemany per sheet
    of plain tuples) into a fresh store of the same kind (same tables and indexes)."""
    from operator import itemgetter

    import sqlalchemy as sa

    from rbm_utils.store.engine import make_engine
    from rbm_utils.store.tables import DATA_SHEETS, METADATA, TABLES
    from rbm_utils.store.versions import bulk_insert

    reads, read_cpus, cells = bare_reads(path)
    engine = make_engine(_fresh_url(store))
    with engine.begin() as conn:
        METADATA.create_all(conn)

    def insert() -> int:
        n = 0
        with engine.begin() as conn:
            sid = conn.execute(
                sa.insert(TABLES["submissions"]).values(
                    unit_code=UNIT,
                    quarter="2026-Q3",
                    file_name=path.name,
                    sha256="0" * 64,
                    submitted_by="bench",
                    ingested_by="bench",
                    ingested_at="2026-12-01T00:00:00Z",
                    n_warnings=0,
                    n_changes=0,
                )
            ).inserted_primary_key[0]
            for name, grid in cells.items():
                sh = DATA_SHEETS.get(name)
                if sh is None or len(grid) < 2:
                    continue
                head = [str(h) for h in grid[0]]
                idx = [head.index(c) for c in sh.column_names if c in head]
                names = [head[i] for i in idx]
                get = itemgetter(*idx)
                rows = [(UNIT, *get(r), sid) if len(idx) > 1 else (UNIT, get(r), sid) for r in grid[1:]]
                bulk_insert(conn, TABLES[sh.table_name], ["unit_code", *names, "sub_from"], rows)
                n += len(rows)
        return n

    cpu0 = time.process_time()
    insert_s, n_rows = timed(insert)
    insert_cpu = time.process_time() - cpu0
    engine.dispose()
    fastest = min((v, k) for k, v in reads.items() if v is not None)
    return {
        "read_seconds": fastest[0],
        "reader": fastest[1],
        "reads": reads,
        "insert_seconds": insert_s,
        "rows_inserted": n_rows,
        "seconds": fastest[0] + insert_s,
        "cpu_seconds": (read_cpus[fastest[1]] or 0.0) + insert_cpu,
        "read_cpu_seconds": read_cpus[fastest[1]] or 0.0,
        "insert_cpu_seconds": insert_cpu,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", required=True, help="folder for the workbook and the stores")
    ap.add_argument("--one", choices=("ingest", "floor"), help=argparse.SUPPRESS)  # a child: one run
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.one:
        run = run_ingest if args.one == "ingest" else run_floor
        print(json.dumps(run(work / f"{UNIT}.xlsx", work / f"store-{args.one}.sqlite")))
        return 0
    cfg = load_config()
    work.mkdir(parents=True, exist_ok=True)
    unit, frames = sample_unit(cfg, UNIT)
    percent = tuple(frames["KPIs"].loc[frames["KPIs"]["measure"] == "percent", "kpi_id"])
    frames = {
        **frames,
        "Actuals": schema.conform("Actuals", big_actuals(frames["Actuals"], args.rows, percent_kpis=percent)),
    }
    path = write_workbook(work / f"{UNIT}.xlsx", unit, frames)

    def child(kind: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.ingest", "--work", str(work), "--one", kind],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise SystemExit(f"bench.ingest --one {kind} failed: {proc.stderr[-1500:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    ingests, floors = [], []
    for _ in range(max(1, args.repeat)):  # alternated, each in a fresh process: same conditions, own peak
        floors.append(child("floor"))
        ingests.append(child("ingest"))
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    seconds, floor_s = med(ingests, "seconds"), med(floors, "seconds")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "actuals_rows": len(frames["Actuals"]),
                "file_mb": path.stat().st_size / 1e6,
                "seconds": seconds,
                "runs": [r["seconds"] for r in ingests],
                "read_seconds": med(ingests, "read_seconds"),
                "validate_seconds": med(ingests, "validate_seconds"),
                "parse_seconds": med(ingests, "read_seconds") + med(ingests, "validate_seconds"),
                "store_seconds": med(ingests, "store_seconds"),
                "reader": ingests[0]["reader"],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in ingests),
                "start_rss_mb": statistics.median(r["start_rss_mb"] for r in ingests),
                "floor_seconds": floor_s,
                "floor_read_seconds": med(floors, "read_seconds"),
                "floor_insert_seconds": med(floors, "insert_seconds"),
                "floor_reader": floors[0]["reader"],
                "floor_reads": {
                    k: statistics.median(f["reads"][k] or 0 for f in floors)
                    if floors[0]["reads"][k] is not None
                    else None
                    for k in floors[0]["reads"]
                },
                "floor_rows_inserted": floors[0]["rows_inserted"],
                "vs_floor": seconds / floor_s,
                "cpu_seconds": med(ingests, "cpu_seconds"),
                "parse_cpu_seconds": med(ingests, "parse_cpu_seconds"),  # read + validate, CPU
                "store_cpu_seconds": med(ingests, "store_cpu_seconds"),
                "floor_cpu_seconds": med(floors, "cpu_seconds"),
                "floor_read_cpu_seconds": med(floors, "read_cpu_seconds"),
                "floor_insert_cpu_seconds": med(floors, "insert_cpu_seconds"),
                "cpu_vs_floor": med(ingests, "cpu_seconds") / med(floors, "cpu_seconds"),
                "status": ingests[-1]["status"],
                "errors": ingests[-1]["errors"],
                "warnings": ingests[-1]["warnings"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
