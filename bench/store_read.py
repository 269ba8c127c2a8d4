"""Issue 17, item 5 (part): the store read by ``rbm review`` on SQLite and on PostgreSQL, side by side.

For each size, the synthetic bureau of :mod:`bench.scale` (its settings and its SQLite store of 15
quarters, built once and kept in ``--work``: the history ingest is the slow part) is copied row
for row into a fresh PostgreSQL database, then :func:`bench.scale.time_store` times on both stores,
one after the other in the same process, ``Store.bureau_state`` and the snapshot freeze (median of
``--repeat``). The ratio PostgreSQL / SQLite is the figure to read: both run under the same load.

Run: ``python -m bench.store_read --units 13,60 --work /tmp/store-read`` (one JSON line); with
``$RBM_TEST_PG_URL`` that server is used, else the tests' throwaway cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.scale import build_store, copy_store, postgres_server, time_store, write_settings


def fresh_database(server: str, name: str) -> str:
    """The URL of database ``name`` on ``server``, dropped and created anew."""
    import sqlalchemy as sa

    base = sa.engine.make_url(server)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def side_by_side(work: Path, n_units: int, quarter: str, pg_server: str, repeat: int = 5) -> dict[str, Any]:
    """Seconds of the read and of the freeze on SQLite and on PostgreSQL for ``n_units`` units."""
    from rbm_utils.core.config import load_config

    folder = work / f"units-{n_units}"
    store = folder / "rbm.sqlite"
    out: dict[str, Any] = {"units": n_units}
    if not store.exists():  # built once: ~0.2-0.4 s per submission, 15 per unit
        config = load_config(write_settings(n_units, folder))
        out["history"] = build_store(config, f"sqlite:///{store}")
    config = load_config(folder / "workbench.yaml")
    sqlite_url = f"sqlite:///{store}"
    pg_url = fresh_database(pg_server, f"rbm_read_{n_units}")
    out["postgres_copy"] = copy_store(sqlite_url, pg_url)
    for name, url in (("sqlite", sqlite_url), ("postgres", pg_url)):
        timed = time_store(url, config, quarter, folder / f"freeze-{name}", repeat=repeat)
        out[name] = {k: timed[k] for k in ("bureau_state_seconds", "freeze_seconds", "rows")}
    for what in ("bureau_state", "freeze"):
        out[f"postgres_vs_sqlite_{what}"] = out["postgres"][f"{what}_seconds"] / out["sqlite"][f"{what}_seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.store_read", description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", default="13,60", help="comma-separated bureau sizes (default 13,60)")
    ap.add_argument("--work", required=True, help="working folder (the SQLite stores are kept there)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5; the median is kept)")
    args = ap.parse_args(argv)
    from rbm_utils.core.config import load_config

    quarter = load_config().current_quarter
    with postgres_server() as pg:
        if pg is None:
            print("no PostgreSQL server (set RBM_TEST_PG_URL or install Debian's postgresql)", file=sys.stderr)
            return 1
        sizes = [int(s) for s in args.units.split(",") if s.strip()]
        result = [side_by_side(Path(args.work).resolve(), n, quarter, pg, args.repeat) for n in sizes]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
