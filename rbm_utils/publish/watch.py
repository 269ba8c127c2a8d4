"""``rbm watch``: the refresh loop. Each accepted submission reaches the draft reviews within minutes.

The loop watches the store for new accepted submissions of one quarter and refreshes the
units that submitted (:func:`rbm_utils.publish.refresh.refresh_quarter`: their draft reviews,
their joint reviews and the overview, nothing else):

- **Detection.** On PostgreSQL the loop ``LISTEN``\\ s on
  :data:`rbm_utils.store.versions.SUBMISSION_CHANNEL` (each new submission is announced when
  its transaction commits) and wakes at once; elsewhere (SQLite) it polls the ``submissions``
  table every ``interval`` seconds. Either way it then reads the submissions above the last
  one it saw, so a missed notification only costs one interval.
- **Coalescing.** Having seen a new submission, the loop waits ``settle`` seconds and reads
  again: every submission that arrived meanwhile (and any that arrived during the previous
  refresh) goes into one refresh, each unit with its newest submission.
- **One at a time.** A refresh holds the quarter's refresh lock (:mod:`filelock`), so two
  loops (``rbm watch`` and ``rbm serve``) never refresh a quarter at once.
- **Start-up.** Units whose newest submission is not the one their last refresh took
  (``refresh.json``, done or failed) nor, without one, the one in the quarter's snapshot are
  refreshed at once: a submission that arrived while no loop ran, or a refresh that was
  interrupted, is not forgotten.
- **Failure.** A failed refresh is recorded (``refresh.json``: ``failed`` and why) and the last
  good draft stays published; the unit is refreshed again with its next submission.

``rbm serve`` starts the loop as a child process (:func:`start_watch`) unless ``--no-refresh``
and stops it when it stops (:func:`stop_watch`); a stopped loop leaves every published folder
as its old or its new version (each is swapped in as a whole).

Example:
    >>> w = Watcher("2026-Q3", store_url="sqlite:///store.db", outputs="outputs")  # doctest: +SKIP
    >>> w.run()                                                                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.core.config import PROJECT_ROOT, Config, load_config
from rbm_utils.publish.quarterly import ReviewExports
from rbm_utils.publish.refresh import (
    RefreshResult,
    Submission,
    check_open,
    latest_by_unit,
    mark_queued,
    refresh_quarter,
    submissions_of,
)
from rbm_utils.publish.refresh_state import read_refresh_state, refresh_frame
from rbm_utils.store.database import Store
from rbm_utils.store.versions import SUBMISSION_CHANNEL

log = logging.getLogger(__name__)

#: Seconds between two reads of the submissions table where nothing notifies (SQLite).
POLL_INTERVAL_S = 10.0
#: Seconds the loop waits after a new submission for others arriving together.
SETTLE_S = 2.0


def published_submissions(outputs: Path, quarter: str) -> dict[str, int]:
    """Each unit's submission its published figures come from: its last refresh (``refresh.json``;
    a failed one counts, it is retried with the unit's next submission; a queued or running one
    was interrupted and does not), else the quarter's frozen snapshot (its manifest's ``submissions``)."""
    out: dict[str, int] = {}
    try:
        manifest = json.loads((Path(outputs) / quarter / "snapshot" / "manifest.json").read_text(encoding="utf-8"))
        for rec in manifest.get("submissions", []):
            if rec.get("quarter") == quarter and rec.get("submission_id") is not None:
                out[str(rec["unit_code"])] = int(rec["submission_id"])
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    for unit, entry in read_refresh_state(Path(outputs), quarter).items():
        if entry.status in ("done", "failed") and entry.submission_id is not None:
            out[unit] = int(entry.submission_id)
        else:
            out.pop(unit, None)
    return out


class _Listener:
    """A PostgreSQL connection listening on the submissions channel (none on other stores)."""

    def __init__(self, url: str) -> None:
        self.conn: Any = None
        self.conninfo = ""
        self.warned = False
        try:
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
            if parsed.get_backend_name() == "postgresql":
                self.conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        except Exception:  # noqa: BLE001 - an unreadable URL: the store itself will say so
            return
        self.connect()

    def listening(self) -> bool:
        """True when connected, or (re)connected now; False where there is nothing to listen to."""
        return self.conn is not None or self.connect()

    def connect(self) -> bool:
        """(Re)connect and ``LISTEN``; False where there is nothing to listen to or it fails."""
        if not self.conninfo:
            return False
        try:
            import psycopg

            self.conn = psycopg.connect(self.conninfo, autocommit=True)
            self.conn.execute(f"LISTEN {SUBMISSION_CHANNEL}")
        except Exception as exc:  # noqa: BLE001 - no notifications for now: the loop polls
            if not self.warned:
                log.warning("cannot listen for new submissions (%s); reading the store instead", exc)
            self.warned = True
            self.close()
            return False
        return True

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for a notification; True when one came (or the
        connection just broke: the caller reads the store at once, the next wait reconnects)."""
        if not self.listening():
            return False
        try:
            return any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
        except Exception as exc:  # noqa: BLE001 - the connection broke
            log.warning("lost the store's notifications (%s); reconnecting", exc)
            self.close()
            return True

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.conn = None


class Watcher:
    """The refresh loop of one quarter (see the module's description)."""

    def __init__(
        self,
        quarter: str,
        *,
        store_url: str | None = None,
        outputs: str | Path | None = None,
        config: Config | None = None,
        exports: ReviewExports | None = None,
        interval: float = POLL_INTERVAL_S,
        settle: float = SETTLE_S,
        workers: int = 3,
        cell_timeout: int = 600,
        job_timeout: int = 1800,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or load_config()
        self.quarter = str(check_open(quarter, self.config))
        self.store_url = store_url or self.config.store_url
        self.outputs = Path(outputs or PROJECT_ROOT / "outputs").resolve()
        self.exports = exports
        self.interval = float(interval)
        self.settle = float(settle)
        self.options = {"workers": workers, "cell_timeout": cell_timeout, "job_timeout": job_timeout}
        self.say = say or (lambda line: print(line, flush=True))
        self.stop = threading.Event()
        self.seen = 0
        self.results: list[RefreshResult] = []

    def pending_at_start(self, store: Store) -> dict[str, Submission]:
        """Units whose newest submission is not the one their published figures come from."""
        subs = submissions_of(store, self.quarter)
        self.seen = max((s.id for s in subs), default=0)
        published = published_submissions(self.outputs, self.quarter)
        return {u: s for u, s in latest_by_unit(subs).items() if published.get(u) != s.id}

    def news(self, store: Store) -> dict[str, Submission]:
        """The newest submission of each unit that submitted since the last read; waits ``settle``
        seconds after the first one for others arriving together."""
        subs = submissions_of(store, self.quarter, after=self.seen)
        if not subs:
            return {}
        if self.settle > 0 and not self.stop.wait(self.settle):
            subs += submissions_of(store, self.quarter, after=max(s.id for s in subs))
        self.seen = max(s.id for s in subs)
        return latest_by_unit(subs)

    def refresh(self, subs: dict[str, Submission]) -> RefreshResult:
        """One refresh of the units of ``subs`` (recorded queued first, then running, done or failed)."""
        mark_queued(self.outputs, self.quarter, subs)
        self.say(
            f"{self.quarter}: refreshing {', '.join(f'{u} (submission {s.id})' for u, s in sorted(subs.items()))} ..."
        )
        result = refresh_quarter(
            self.quarter,
            sorted(subs),
            store_url=self.store_url,
            outputs=self.outputs,
            config=self.config,
            exports=self.exports,
            submissions=subs,
            **self.options,
        )
        self.results.append(result)
        jobs = ", ".join(f"{n} {r.status}" for n, r in result.jobs.items()) or "no review ran"
        self.say(f"{self.quarter}: refresh done in {result.seconds:.0f} s: {jobs}")
        for unit, why in {**result.left, **result.failed}.items():
            self.say(f"  {unit}: {why}")
        return result

    def sleep(self, listener: _Listener) -> None:
        """Until the store notifies a submission, ``interval`` seconds pass or :attr:`stop` is set."""
        deadline = time.monotonic() + self.interval
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if listener.listening():
                if listener.wait(min(left, 1.0)):
                    return
            else:
                self.stop.wait(min(left, 1.0))

    def run(self, max_refreshes: int | None = None) -> int:
        """Refresh what is pending, then wait for submissions until :attr:`stop` is set (or
        ``max_refreshes`` refreshes ran). Returns the number of refreshes."""
        listener = _Listener(self.store_url)
        how = "notified by the store" if listener.listening() else f"reading the store every {self.interval:g} s"
        self.say(f"Watching {self.quarter} for new submissions ({how}); the draft reviews are in {self.outputs}.")
        count = 0
        try:
            with Store(self.store_url) as store:
                subs = self.pending_at_start(store)
                while not self.stop.is_set():
                    if subs:
                        self.refresh(subs)
                        count += 1
                        if max_refreshes is not None and count >= max_refreshes:
                            break
                    self.sleep(listener)
                    if self.stop.is_set():
                        break
                    subs = self.news(store)
        finally:
            listener.close()
        return count


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_watch(args: Any, config: Config, exports: ReviewExports | None) -> int:
    """``rbm watch``: the loop until Ctrl-C or SIGTERM (a refresh then stops; what it published stays)."""
    signal.signal(signal.SIGTERM, _terminate)
    watcher = Watcher(
        args.quarter or config.current_quarter,
        store_url=args.store,
        outputs=args.outputs,
        config=config,
        exports=exports,
        interval=args.interval,
        settle=args.settle,
        workers=args.jobs,
    )
    watcher.run(max_refreshes=args.max_refreshes)
    return 0


def watch_command(quarter: str, outputs: Path, config_path: Path | None) -> list[str]:
    """The ``rbm watch`` command line that :func:`start_watch` runs."""
    cmd = [sys.executable, "-m", "rbm_utils.cli"]
    if config_path is not None:
        cmd += ["--config", str(config_path)]
    return [*cmd, "watch", "--quarter", quarter, "--outputs", str(outputs)]


def start_watch(
    quarter: str, outputs: Path, config_path: Path | None = None, store_url: str | None = None
) -> subprocess.Popen:
    """Start ``rbm watch`` as a child process (the store's URL passed in ``RBM_STORE``, never on the command line)."""
    env = dict(os.environ)
    if store_url:
        env["RBM_STORE"] = store_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(watch_command(quarter, outputs, config_path), env=env)


def stop_watch(proc: subprocess.Popen | None, wait_s: float = 30.0) -> None:
    """Stop a loop started by :func:`start_watch`: SIGTERM (a running refresh is abandoned, every
    folder stays old or new), then SIGKILL if it has not ended after ``wait_s`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(wait_s)


def refresh_summary(outputs: Path, quarter: str) -> pd.DataFrame:
    """``rbm status``: one row per unit with a refresh (empty when none ran): its status, the
    submission its draft comes from, who sent it, when the refresh ended and, if it failed, why."""
    frame = refresh_frame(Path(outputs), quarter)
    names = {
        "unit_code": "unit",
        "status": "refresh",
        "submission_id": "submission",
        "submitted_by": "by",
        "finished_at": "finished",
        "message": "why it failed",
    }
    out = frame[list(names)].rename(columns=names)
    out["submission"] = out["submission"].astype(object)
    out["why it failed"] = out["why it failed"].where(out["refresh"] == "failed", "")
    return out
