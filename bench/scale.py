"""Issue 17, item 5: a bureau of many units through the real review notebooks.

A synthetic bureau of ``n`` units is the sample's 13 units and clones of them under new codes,
in the sample's proportions (6 region-type units to 7 clusters): clone ``k`` of a region is an
area office ``AFR01`` (type region, no joint review: the contract's regions stay the six), clone
``k`` of a cluster is a thematic unit ``NDI01`` with the cluster's themes, working in three
regions picked by a stable hash of its code (``demo.catalogue.generic_plan``). The settings file
lists the ``n`` units (everything else as ``parameters/workbench.yaml``); each unit's history of
the 15 quarters 2023-Q1 .. 2026-Q3 is the sample's own generator (``demo.load.ingest_history``:
validated by the real validator, approved quarter by quarter), so every unit is as rich as a
sample unit.

**Joint reviews.** The workbench reviews every cluster x region pair with work in common; a
generic cluster works in three regions, so 200 units would carry ~300 joint reviews. The
bench keeps, for each cluster, the one pair with the most shared work (activities, region
breakdowns of its actuals and money lines, then the region's code): a thematic unit of a large
bureau reviews jointly with its main region; its other regions still show in the overview.
The same rule at every scale, so the joint reviews per unit stay ~7/13 and time per unit
compares like with like.

For each scale (13 units, then ``n``), :func:`measure_scale`:

1. builds the settings file and the SQLite store (the history, timed but not a headline);
2. copies the store into a PostgreSQL database (row for row) and times, on both stores,
   ``Store.bureau_state`` (what ``rbm review`` reads) and the snapshot freeze
   (``store.snapshot.freeze_snapshot``), median of 3;
3. runs ``rbm review --all`` with the chosen ``--joint`` pairs (3 jobs at once) and times it:
   ``seconds_per_unit`` is the batch's wall time divided by the units (joint reviews and the
   overview included, as an officer waits for them);
4. runs the same with ``--scheduler`` on a local Dask cluster (2 worker processes x 1 thread)
   into another outputs folder;
5. times the landing page's HTML (``serve.pages.landing.landing_html``: units table, agenda,
   joint list, from the published tables) and the overview dashboard's app
   (``serve.pages.overview.page``: every section built from the published tables), median of
   3 after a warm-up, and reads the static overview page's size.

Run alone: ``python -m bench.scale --units 13,40 --work /tmp/s`` (prints one JSON line).

Example:
    >>> [u["code"] for u in synthetic_units(15)][-2:]
    ['AFR01', 'AMS01']
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SETTINGS = ROOT / "parameters" / "workbench.yaml"

log = logging.getLogger(__name__)


#: Reads and freezes timed per store (median): the two stores' reads differ by tens of milliseconds.
STORE_REPEAT = 7


def synthetic_units(n_units: int) -> list[dict[str, Any]]:
    """The settings' unit entries of an ``n_units`` bureau: the sample's units, then clones.

    Clone ``k`` (k = 1, 2, ...) of every sample unit in the settings' order, under the unit's code
    followed by ``k`` on two digits, named after it; regions' clones are area offices.
    """
    base = yaml.safe_load(SETTINGS.read_text(encoding="utf-8"))["units"]
    out = [dict(u) for u in base[:n_units]]
    k = 1
    while len(out) < n_units:
        for u in base:
            if len(out) >= n_units:
                break
            clone = dict(u, code=f"{u['code']}{k:02d}")
            if u["type"] == "region":
                clone["name"] = f"{u['name']}: area office {k}"
            else:
                clone["name"] = f"{u['name']}: thematic unit {k}"
            out.append(clone)
        k += 1
    return out


def write_settings(n_units: int, folder: Path) -> Path:
    """A settings file like ``parameters/workbench.yaml`` listing :func:`synthetic_units`."""
    settings = yaml.safe_load(SETTINGS.read_text(encoding="utf-8"))
    settings["units"] = synthetic_units(n_units)
    settings["workbench"]["name"] = f"Synthetic bureau of {n_units} units (bench)"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workbench.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def build_store(config: Any, url: str) -> dict[str, Any]:
    """Ingest every unit's 15-quarter history into the store at ``url`` (validated, approved)."""
    from rbm_utils.demo.load import ingest_history
    from rbm_utils.store.database import Store

    t0 = time.perf_counter()
    with Store(url) as st:
        rep = ingest_history(st, config)
    return {"seconds": time.perf_counter() - t0, "submissions": rep.submissions, "warnings": rep.warnings}


def copy_store(src_url: str, dst_url: str, chunk: int = 20000) -> dict[str, Any]:
    """Copy every table of the store at ``src_url`` into a new store at ``dst_url``, row for row."""
    import sqlalchemy as sa

    from rbm_utils.store.database import Store
    from rbm_utils.store.tables import METADATA

    with Store(dst_url):  # creates the tables
        pass
    t0 = time.perf_counter()
    src = sa.create_engine(src_url, poolclass=sa.pool.NullPool)
    dst = sa.create_engine(dst_url, poolclass=sa.pool.NullPool)
    rows = 0
    try:
        with src.connect() as s, dst.begin() as d:
            for table in reversed(METADATA.sorted_tables):  # what the new store wrote when created (meta)
                d.execute(table.delete())
            for table in METADATA.sorted_tables:
                result = s.execute(sa.select(table))
                while batch := result.mappings().fetchmany(chunk):
                    d.execute(table.insert(), [dict(r) for r in batch])
                    rows += len(batch)
            if dst.dialect.name == "postgresql":  # new rows after the copy get fresh ids
                for table in METADATA.sorted_tables:
                    for col in table.primary_key.columns:
                        if col.autoincrement is True or (col.autoincrement == "auto" and col.type.python_type is int):
                            d.exec_driver_sql(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                                f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 1))"
                            )
        if dst.dialect.name == "postgresql":
            # what an operator does after a bulk load: the planner's statistics and the visibility map
            # made now, so the reads timed next are not racing autovacuum over 1.1 million new rows
            with dst.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        src.dispose()
        dst.dispose()
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def chosen_joints(state: dict[str, Any], config: Any) -> list[str]:
    """One joint review per cluster: the pair with the most shared work (ties: the region's code)."""
    from rbm_utils.analytics import bureau
    from rbm_utils.publish.frozen import pair_name

    pairs = bureau.joint_pairs(state, config)
    if pairs.empty:
        return []
    pairs = pairs.assign(shared=pairs["n_activities"] + pairs["n_region_actuals"] + pairs["n_money_lines"])
    best = pairs.sort_values(["cluster", "shared", "region"], ascending=[True, False, True]).groupby("cluster").head(1)
    return [pair_name(c, r) for c, r in zip(best["cluster"], best["region"], strict=True)]


def time_store(url: str, config: Any, quarter: str, out: Path, repeat: int = 3) -> dict[str, Any]:
    """Median seconds of ``Store.bureau_state`` and of a snapshot freeze (fresh folder each) on ``url``."""
    from rbm_utils.store.database import Store
    from rbm_utils.store.snapshot import freeze_snapshot

    reads, freezes, rows = [], [], 0
    with Store(url) as st:
        st.bureau_state(quarter)  # warm-up: connection, caches
        for i in range(repeat):
            t0 = time.perf_counter()
            state = st.bureau_state(quarter)
            reads.append(time.perf_counter() - t0)
            rows = sum(len(df) for df in state.values())
            folder = out / f"freeze-{i}"
            shutil.rmtree(folder, ignore_errors=True)
            t0 = time.perf_counter()
            freeze_snapshot(st, quarter, folder, config)
            freezes.append(time.perf_counter() - t0)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "bureau_state_seconds": statistics.median(reads),
        "freeze_seconds": statistics.median(freezes),
        "bureau_state_runs": reads,
        "freeze_runs": freezes,
        "rows": rows,
    }


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_review(
    settings: Path, url: str, outputs: Path, quarter: str, joints: list[str], scheduler: str | None = None
) -> dict[str, Any]:
    """``rbm review --all`` (with ``joints``; on ``scheduler`` if given) into a fresh ``outputs``: timed."""
    shutil.rmtree(outputs, ignore_errors=True)
    cmd = [sys.executable, "-m", "rbm_utils.cli", "--config", str(settings), "review", "--all"]
    cmd += ["--quarter", quarter, "--store", url, "--outputs", str(outputs), "--jobs", "3", "--quiet"]
    for j in joints:
        cmd += ["--joint", j]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    report_path = outputs / quarter / "run_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    statuses: dict[str, int] = {}
    for j in report.get("jobs", []):
        statuses[j.get("status", "?")] = statuses.get(j.get("status", "?"), 0) + 1
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "exit_code": proc.returncode,
        "notebooks": len(report.get("jobs", [])),
        "statuses": statuses,
        "stderr_tail": proc.stderr[-1500:] if proc.returncode else "",
    }


def time_pages(outputs: Path, quarter: str, config: Any, repeat: int = 3) -> dict[str, Any]:
    """Median seconds to build the landing page's HTML and the overview dashboard's app from the
    published quarter (after one warm-up each), and the static overview page's size."""
    from rbm_utils.serve.pages import landing, overview

    def median_of(fn: Any) -> tuple[float, list[float]]:
        fn()
        runs = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs), runs

    land_s, land_runs = median_of(lambda: landing.landing_html(outputs, quarter, config))
    html = landing.landing_html(outputs, quarter, config)
    over_s, over_runs = median_of(lambda: overview.page(outputs, config, f"quarter={quarter}", env={}))
    static = sorted((outputs / quarter / "overview").glob("*.html"))
    return {
        "landing_seconds": land_s,
        "landing_runs": land_runs,
        "landing_html_kb": len(html.encode("utf-8")) / 1e3,
        "overview_seconds": over_s,
        "overview_runs": over_runs,
        "overview_static_mb": static[0].stat().st_size / 1e6 if static else None,
    }


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """A PostgreSQL server URL: ``$RBM_TEST_PG_URL``, else a throwaway cluster (the tests' own,
    ``tests/conftest.py``), else None (the PostgreSQL figures are then left out)."""
    env = os.environ.get("RBM_TEST_PG_URL")
    if env:
        yield env
        return
    from tests import conftest  # the tests' throwaway cluster: initdb into a temp dir, loopback, removed after

    bindir = conftest.find_pg_bin()
    if bindir is None:
        yield None
        return
    server = conftest.LocalPostgres(bindir)
    try:
        yield server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        log.warning("no PostgreSQL server: %s", exc)
        yield None
    finally:
        server.stop()


def _new_database(server: str, name: str) -> str:
    import sqlalchemy as sa

    base = sa.engine.make_url(server)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def measure_scale(
    work: Path, n_units: int, quarter: str, *, pg_server: str | None = None, scheduler: str | None = None
) -> dict[str, Any]:
    """Every figure of one scale (module docstring)."""
    from rbm_utils.core.config import load_config
    from rbm_utils.store.database import Store

    folder = work / f"units-{n_units}"
    shutil.rmtree(folder, ignore_errors=True)
    settings = write_settings(n_units, folder)
    config = load_config(settings)
    sqlite_url = f"sqlite:///{folder / 'rbm.sqlite'}"
    out: dict[str, Any] = {"units": n_units, "settings": str(settings)}
    out["history"] = build_store(config, sqlite_url)
    with Store(sqlite_url) as st:
        state = st.bureau_state(quarter)
    joints = chosen_joints(state, config)
    out["joint_reviews"] = len(joints)
    out["clusters"] = len(config.clusters)
    out["sqlite"] = time_store(sqlite_url, config, quarter, folder / "freeze-sqlite", repeat=STORE_REPEAT)
    if pg_server:
        pg_url = _new_database(pg_server, f"rbm_bench_{n_units}")
        out["postgres_copy"] = copy_store(sqlite_url, pg_url)
        out["postgres"] = time_store(pg_url, config, quarter, folder / "freeze-pg", repeat=STORE_REPEAT)
        out["postgres_vs_sqlite_read"] = out["postgres"]["bureau_state_seconds"] / out["sqlite"]["bureau_state_seconds"]
        out["postgres_vs_sqlite_freeze"] = out["postgres"]["freeze_seconds"] / out["sqlite"]["freeze_seconds"]
    local = run_review(settings, sqlite_url, folder / "outputs", quarter, joints)
    if local["exit_code"] != 0:
        raise RuntimeError(f"rbm review ({n_units} units) failed: {local['stderr_tail']}")
    local["seconds_per_unit"] = local["seconds"] / n_units
    local["cpu_seconds_per_unit"] = local["cpu_seconds"] / n_units  # what other work on the machine inflates least
    out["local"] = local
    if scheduler:
        dask = run_review(settings, sqlite_url, folder / "outputs-dask", quarter, joints, scheduler=scheduler)
        dask["seconds_per_unit"] = dask["seconds"] / n_units
        out["dask"] = dask
        shutil.rmtree(folder / "outputs-dask", ignore_errors=True)
    out["pages"] = time_pages(folder / "outputs", quarter, config)
    return out


def scale_section(work: Path, sizes: tuple[int, ...], quarter: str, *, dask: bool = True) -> dict[str, Any]:
    """:func:`measure_scale` for each size, with one PostgreSQL server and one local Dask cluster."""
    out: dict[str, Any] = {"sizes": list(sizes)}
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres_server())
        if pg is None:
            out["postgres_error"] = "no PostgreSQL server (set RBM_TEST_PG_URL or install Debian's postgresql)"
        address = None
        if dask:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            address = cluster.scheduler_address
        for n in sizes:
            print(f"[bench.scale {time.strftime('%H:%M:%S')}] {n} units", file=sys.stderr, flush=True)
            out[str(n)] = measure_scale(work, n, quarter, pg_server=pg, scheduler=address)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", default="13,200", help="comma-separated bureau sizes (default 13,200)")
    ap.add_argument("--work", required=True, help="working folder")
    ap.add_argument("--no-dask", action="store_true", help="skip the runs on the local Dask cluster")
    args = ap.parse_args(argv)
    from rbm_utils.core.config import load_config

    sizes = tuple(int(s) for s in args.units.split(",") if s.strip())
    result = scale_section(Path(args.work).resolve(), sizes, load_config().current_quarter, dask=not args.no_dask)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
