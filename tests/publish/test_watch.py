"""``rbm watch``: detecting new submissions (PostgreSQL NOTIFY, polling), the command, ``rbm status``.

No notebook runs here: the loop's refresh is replaced by a recorder (the refresh itself is
tested in test_refresh.py).
"""

from __future__ import annotations

import threading

import pytest
from factories import minimal_unit

from rbm_utils.cli import build_parser, main
from rbm_utils.core.config import load_config
from rbm_utils.publish.refresh import RefreshResult, Submission
from rbm_utils.publish.refresh_state import UnitRefresh, write_refresh_state
from rbm_utils.publish.watch import Watcher, published_submissions, start_watch, stop_watch
from rbm_utils.store.database import Store

CFG = load_config()
Q = "2026-Q3"


def ingest(url: str, code: str = "AFR", value: float = 1.0) -> int:
    _, frames = minimal_unit(code)
    frames["Actuals"].loc[0, "value"] = value
    with Store(url) as st:
        res = st.ingest(code, Q, frames, file_name="f.xlsx", sha256="0" * 64, submitted_by="Ada", ingested_by="t")
    assert res.status == "stored"
    return int(res.submission_id)


def recording(watcher: Watcher, last_unit: str = "CYB") -> list[dict[str, Submission]]:
    """Replace the watcher's refresh by a recorder that stops the loop once ``last_unit`` is refreshed."""
    calls: list[dict[str, Submission]] = []

    def refresh(subs: dict[str, Submission]) -> RefreshResult:
        calls.append(dict(subs))
        if last_unit in subs:
            watcher.stop.set()
        return RefreshResult(Q, sorted(subs))

    watcher.refresh = refresh  # type: ignore[method-assign]
    return calls


def run_until_refreshed(watcher: Watcher, url: str) -> tuple[list[dict[str, Submission]], list[int], bool]:
    calls = recording(watcher)
    loop = threading.Thread(target=watcher.run)
    loop.start()
    try:
        sids = [ingest(url, "AFR", 1.0), ingest(url, "AFR", 2.0), ingest(url, "CYB", 3.0)]
        loop.join(120)
        alive = loop.is_alive()
    finally:
        watcher.stop.set()
        loop.join(30)
    return calls, sids, alive


def test_polling_finds_new_submissions_and_coalesces_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    Store(url).close()
    lines: list[str] = []
    watcher = Watcher(
        Q, store_url=url, outputs=tmp_path / "out", config=CFG, interval=0.05, settle=1.0, say=lines.append
    )
    calls, sids, alive = run_until_refreshed(watcher, url)
    assert not alive
    # each refresh takes each unit's newest submission; none is missed, none refreshed twice
    seen: dict[str, int] = {}
    for call in calls:
        assert all(s.id > seen.get(u, 0) for u, s in call.items())
        seen.update({u: s.id for u, s in call.items()})
    assert seen == {"AFR": sids[1], "CYB": sids[2]} and len(calls) <= 3
    assert "reading the store every" in lines[0]


def test_submissions_arriving_together_are_one_refresh(tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    first = ingest(url, "AFR", 1.0)
    watcher = Watcher(Q, store_url=url, outputs=tmp_path / "out", config=CFG, settle=0)
    with Store(url) as st:
        assert {u: s.id for u, s in watcher.pending_at_start(st).items()} == {"AFR": first}
        sids = [ingest(url, "AFR", 2.0), ingest(url, "CYB", 3.0), ingest(url, "AFR", 4.0)]
        assert {u: s.id for u, s in watcher.news(st).items()} == {"AFR": sids[2], "CYB": sids[1]}
        assert watcher.news(st) == {}  # nothing new since


@pytest.mark.postgres
def test_on_postgresql_the_store_notifies_the_loop(pg_url, tmp_path):
    Store(pg_url).close()
    lines: list[str] = []
    # polling every 10 minutes: only the store's notification can wake the loop within the test
    watcher = Watcher(
        Q, store_url=pg_url, outputs=tmp_path / "out", config=CFG, interval=600, settle=0.5, say=lines.append
    )
    calls, sids, alive = run_until_refreshed(watcher, pg_url)
    assert not alive, "the loop was not woken by the store"
    assert "notified by the store" in lines[0]
    assert calls and max(s.id for c in calls for s in c.values()) <= sids[-1]


def test_what_the_published_figures_come_from(tmp_path):
    out = tmp_path / "out"
    write_refresh_state(
        out,
        Q,
        {
            "AFR": UnitRefresh("AFR", "done", 7),
            "CYB": UnitRefresh("CYB", "failed", 9, message="the review of CYB was not refreshed"),
            "DIN": UnitRefresh("DIN", "running", 11),
        },
    )
    # done and failed count (a failed unit waits for its next submission); running was interrupted
    assert published_submissions(out, Q) == {"AFR": 7, "CYB": 9}


def test_status_shows_each_units_refresh(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    out = tmp_path / "out"
    write_refresh_state(
        out,
        Q,
        {
            "AFR": UnitRefresh("AFR", "done", 7, "Ada", "2026-10-12T09:00:00Z", finished_at="2026-10-12T09:03:00Z"),
            "CYB": UnitRefresh("CYB", "failed", 9, "Bo", message="the review of CYB was not refreshed (failed: boom)"),
        },
    )
    assert main(["status", "--store", url, "--outputs", str(out), "--quarter", Q]) == 0
    said = capsys.readouterr().out
    assert "Refresh of the draft reviews" in said
    assert "the review of CYB was not refreshed (failed: boom)" in said
    assert "Traceback" not in said


def test_watch_refuses_a_closed_quarter(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    assert main(["watch", "--quarter", "2026-Q2", "--store", url, "--outputs", str(tmp_path)]) == 1
    assert "2026-Q2 is closed" in capsys.readouterr().err


def test_serve_runs_the_loop_unless_told_not_to(tmp_path):
    assert build_parser().parse_args(["serve", "--no-refresh"]).no_refresh
    assert not build_parser().parse_args(["serve"]).no_refresh
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    proc = start_watch(Q, tmp_path / "out", CFG.path, url)
    stop_watch(proc, wait_s=60)
    assert proc.poll() is not None  # stopped, not left behind
