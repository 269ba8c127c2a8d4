"""Concurrent use of the store (issue 6, item 3): 8 readers while an ingest writes.

One writer stores several submissions of the sample units (the 13 sample workbooks, then
rounds that change every Actuals value and drop Risks rows); 8 reader threads, each with
its own Store (its own connections), call ``Store.state`` and ``Store.bureau_state`` in a
loop. On SQLite (WAL) and on PostgreSQL: no reader or writer error (no "database is
locked"), and every read equals one committed version: for each unit read, the content
returned is exactly the store's content as of the submission the read reports (checked
afterwards, when nothing writes), so no read mixes two submissions or sees half of one.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pandas as pd
import pytest

from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.intake.validate import parse_source
from rbm_utils.store.database import Store

N_READERS = 8
N_UNITS = 5  # sample units the writer resubmits (keeps the test near 20 s per back end on 2 cores)
ROUNDS = 3  # submissions per unit after the first


@pytest.fixture(scope="module")
def parsed_sample(sample_bureau):
    """The sample units' validated frames (parsed once; the writer stores variations of them)."""
    cfg = load_config()
    out = []
    for path in sorted(sample_bureau["paths"])[:N_UNITS]:
        parsed = parse_source(path, cfg)
        assert parsed.ok, parsed.errors[:3]
        out.append(parsed)
    return out


def variant(frames: dict[str, pd.DataFrame], r: int) -> dict[str, pd.DataFrame]:
    """Round ``r`` of a unit: every Actuals value + r, and r fewer Risks rows (round 0: as is)."""
    out = dict(frames)
    if r:
        act = frames["Actuals"].copy()
        act["value"] = act["value"] + r
        out["Actuals"] = act
        out["Risks"] = frames["Risks"].iloc[: max(0, len(frames["Risks"]) - r)].copy()
    return out


def sheet_sig(frame: pd.DataFrame) -> tuple[int, str]:
    """Row count and a hash of the rows, independent of row order."""
    rows = sorted(repr(tuple(None if pd.isna(v) else v for v in row)) for row in frame.itertuples(index=False))
    return len(frame), hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()[:16]


def unit_sig(sheets: dict[str, pd.DataFrame]) -> tuple:
    return tuple((sh.name, sheet_sig(sheets[sh.name])) for sh in schema.DATA_SHEETS)


def split_bureau(state: dict[str, pd.DataFrame]) -> dict[str, tuple[int, tuple]]:
    """bureau_state -> {unit: (submission id, signature of its sheets)}."""
    out = {}
    for rec in state["Unit"].itertuples(index=False):
        unit = rec.unit_code
        sheets = {
            sh.name: state[sh.name][state[sh.name]["unit_code"] == unit].drop(columns="unit_code")
            for sh in schema.DATA_SHEETS
        }
        out[unit] = (int(rec.submission_id), unit_sig(sheets))
    return out


class Reader(threading.Thread):
    def __init__(self, url: str, units: list[str], quarter: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.units, self.quarter = url, units, quarter
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.seen: list[tuple[str, int, tuple]] = []  # (unit, submission id, signature)
        self.errors: list[str] = []
        self.reads = 0

    def run(self) -> None:
        try:
            store = Store(self.url)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(f"open: {type(exc).__name__}: {exc}")
            return
        try:
            while not self.stop.is_set():
                try:
                    if self.rng.random() < 0.5:
                        unit = self.rng.choice(self.units)
                        st = store.state(unit)
                        if not st["Unit"].empty:
                            self.seen.append((unit, int(st["Unit"]["submission_id"].iloc[0]), unit_sig(st)))
                    else:
                        for unit, (sid, sig) in split_bureau(store.bureau_state(self.quarter)).items():
                            self.seen.append((unit, sid, sig))
                    self.reads += 1
                except Exception as exc:  # noqa: BLE001 - every error counts (lock errors above all)
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            store.close()


def run_concurrently(url: str, parsed: list, quarter: str) -> dict:
    units = [p.unit["unit_code"] for p in parsed]
    readers = [Reader(url, units, quarter, seed) for seed in range(N_READERS)]
    writer_errors: list[str] = []
    stored: list[int] = []
    with Store(url) as writer:  # tables exist before the readers start
        for r in readers:
            r.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        for r in range(ROUNDS + 1):
            for p in parsed:
                try:
                    out = writer.ingest(
                        p.unit["unit_code"],
                        p.unit["reporting_quarter"],
                        variant(p.frames, r),
                        file_name=p.file,
                        sha256=p.sha256,
                        submitted_by=f"round {r}",
                        ingested_by="test_concurrency",
                        problems=p.warnings,
                    )
                    assert out.status == "stored", out.message
                    stored.append(out.submission_id)
                except Exception as exc:  # noqa: BLE001
                    writer_errors.append(f"{type(exc).__name__}: {exc}")
        write_s = time.monotonic() - t0
        time.sleep(0.2)
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(120)
        # the committed versions, read when nothing writes
        committed = {}
        subs = writer.submissions()
        for rec in subs.itertuples(index=False):
            committed[(rec.unit_code, int(rec.id))] = unit_sig(writer.state(rec.unit_code, submission_id=int(rec.id)))
    return {
        "readers": readers,
        "writer_errors": writer_errors,
        "stored": stored,
        "committed": committed,
        "write_s": write_s,
        "units": units,
    }


def check(res: dict, backend: str) -> None:
    readers = res["readers"]
    assert res["writer_errors"] == []
    assert len(res["stored"]) == len(res["units"]) * (ROUNDS + 1)
    assert [e for r in readers for e in r.errors] == []
    assert all(not r.is_alive() for r in readers)
    seen = [s for r in readers for s in r.seen]
    bad = [(u, sid) for u, sid, sig in seen if res["committed"].get((u, sid)) != sig]
    assert bad == [], f"{len(bad)} reads match no committed submission, e.g. {bad[:5]}"
    # the readers really overlapped the writes: they saw several versions of the units
    versions = {(u, sid) for u, sid, _ in seen}
    assert len(versions) > len(res["units"]) + 3
    reads = sum(r.reads for r in readers)
    # the committed versions differ from each other (so a mixed read could not pass unnoticed)
    afr = sorted((sid, sig) for (u, sid), sig in res["committed"].items() if u == res["units"][0])
    assert len({sig for _, sig in afr}) == ROUNDS + 1
    print(
        f"\nFIGURE concurrency {backend}: {len(res['stored'])} submissions written in {res['write_s']:.1f} s "
        f"while {N_READERS} readers made {reads} reads ({len(seen)} unit states, {len(versions)} distinct "
        "versions); 0 errors, 0 partial reads"
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eight_readers_while_ingesting_sqlite_wal(parsed_sample, sample_bureau, tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    res = run_concurrently(url, parsed_sample, sample_bureau["quarter"])
    import sqlite3

    with sqlite3.connect(tmp_path / "rbm.sqlite") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check(res, "sqlite")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_eight_readers_while_ingesting_postgres(parsed_sample, sample_bureau, pg_url):
    res = run_concurrently(pg_url, parsed_sample, sample_bureau["quarter"])
    check(res, "postgres")
