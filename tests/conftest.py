"""Shared pytest fixtures.

PostgreSQL: ``pg_server`` (session) gives a server URL, ``pg_url`` a fresh, uniquely named
database on it for one test (dropped afterwards). With ``RBM_TEST_PG_URL`` set (a server URL,
e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) that server is used; otherwise
a throwaway cluster is initdb'ed from ``/usr/lib/postgresql/*/bin`` into a temp dir, started on
127.0.0.1 with a free port and removed at session end. When no server can be had the tests
are skipped, except in CI (``CI`` set), where they fail. Tests that use these fixtures must
be marked ``@pytest.mark.postgres``.

``store_url`` is parametrised over both back ends: an SQLite file in ``tmp_path`` and a
PostgreSQL database.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "RBM_TEST_PG_URL"


def _unavailable(reason: str) -> None:
    msg = f"no PostgreSQL server for the tests: {reason}"
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: these tests must run; install Debian's postgresql package)", pytrace=False)
    pytest.skip(msg)


def find_pg_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _safe(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a message
        return "<unparsable URL>"


def _wait_ready(url: str, seconds: float) -> str:
    """ "" when the server accepts a connection within ``seconds``, else the last error."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        return str(exc)
    deadline, last = time.monotonic() + seconds, ""
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return ""
            except sa.exc.SQLAlchemyError as exc:
                last = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            if time.monotonic() > deadline:
                return last
            time.sleep(0.5)
    finally:
        engine.dispose()


class LocalPostgres:
    """A throwaway PostgreSQL cluster in a temp dir (run as user ``postgres`` when root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="rbm-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=self.root
        )

    def start(self) -> str:
        if self.as_root:
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root and runuser is missing")
            try:
                shutil.chown(self.root, user="postgres", group="postgres")
            except (LookupError, OSError) as exc:
                raise RuntimeError(f"running as root and there is no usable 'postgres' user ({exc})") from None
        self.root.chmod(0o700)
        r = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-locale",
        )
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {(r.stderr or r.stdout).strip()[-500:]}")
        last = ""
        for _ in range(3):  # a free port can be taken between the check and the start
            self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
            )
            r = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            )
            if r.returncode == 0:
                self.started = True
                return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
            last = (r.stderr or r.stdout).strip()
            try:
                last += "\n" + self.log.read_text()[-500:]
            except OSError:
                pass
        raise RuntimeError(f"pg_ctl start failed: {last[-800:]}")

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database) for this test session."""
    env = os.environ.get(PG_ENV)
    if env:
        reason = _wait_ready(env, 15)
        if reason:
            _unavailable(f"{PG_ENV}={_safe(env)} does not answer: {reason}")
        yield env
        return
    bindir = find_pg_bin()
    if bindir is None:
        _unavailable(f"{PG_ENV} is not set and no initdb was found under /usr/lib/postgresql/*/bin")
    server = LocalPostgres(bindir)
    try:
        url = server.start()
        reason = _wait_ready(url, 30)
        if reason:
            raise RuntimeError(f"the server started but does not answer: {reason}")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        _unavailable(str(exc))
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """URL of a fresh PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"rbm_test_{uuid.uuid4().hex[:12]}"
    base = sa.engine.make_url(pg_server)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %(n)s AND pid <> pg_backend_pid()",
                    {"n": name},
                )
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        except sa.exc.SQLAlchemyError:
            pass
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL: an SQLite file in a fresh folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'rbm.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def sample_bureau(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The illustrative sample bureau, written and ingested once into a SQLite store.

    Returns ``{"dir": Path, "store_url": str, "quarter": str}``. Tests must not modify it.
    """
    from rbm_utils.core.config import load_config
    from rbm_utils.demo.sample import build_sample
    from rbm_utils.store.database import Store
    from rbm_utils.store.ingest import ingest_file

    cfg = load_config()
    root = tmp_path_factory.mktemp("sample_bureau")
    paths = build_sample(root / "workbooks", cfg)
    url = f"sqlite:///{root / 'rbm.sqlite'}"
    with Store(url) as st:
        for p in paths:
            rep = ingest_file(p, st, cfg, by="pytest")
            assert rep.status == "stored", rep.message
    return {"dir": root, "store_url": url, "quarter": cfg.current_quarter, "paths": paths}
