"""The between-review refresh: a submitting unit's draft review, its joint reviews and the overview.

A two-unit bureau made in code (AFR, and CYB with an activity in AFR: one joint review CYB-AFR),
and one small template standing in for the three review notebooks (it declares their
parameters, fails when ``RBM_TEST_FAIL`` names its unit or pair, and prints the sentinel): the
tidy tables a refresh publishes come from the batch itself, not from the notebook.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat.v4 as v4
import pandas as pd
import pytest
from factories import minimal_unit, tree_state

from rbm_utils.core.config import load_config
from rbm_utils.core.files import FolderView
from rbm_utils.publish import badges, quarterly
from rbm_utils.publish.frozen import load_analysis
from rbm_utils.publish.jobs import SENTINEL
from rbm_utils.publish.quarterly import review_quarter
from rbm_utils.publish.refresh import (
    RefreshError,
    Submission,
    latest_by_unit,
    refresh_quarter,
    submissions_of,
)
from rbm_utils.publish.refresh_state import read_refresh_state
from rbm_utils.publish.watch import Watcher, published_submissions
from rbm_utils.store.database import Store
from rbm_utils.store.snapshot import load_snapshot

CFG = load_config()
Q = "2026-Q3"
FAST = {"cell_timeout": 60, "job_timeout": 120}


def write_template(path: Path) -> Path:
    params = v4.new_code_cell(
        'unit = ""\ncluster = ""\nregion = ""\nquarter = ""\nsnapshot_dir = ""\nconfig_path = ""',
        metadata={"tags": ["parameters"]},
    )
    work = v4.new_code_cell(
        "import os\n"
        "me = unit or (f'{cluster}-{region}' if cluster else 'overview')\n"
        "if me in os.environ.get('RBM_TEST_FAIL', '').split(','):\n"
        "    raise RuntimeError(f'planted failure in {me}')"
    )
    nb = v4.new_notebook(cells=[params, work, v4.new_code_cell(f"print({SENTINEL!r})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(v4.writes(nb) if hasattr(v4, "writes") else json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture()
def bureau(tmp_path, monkeypatch):
    """A store with AFR and CYB for 2026-Q3, the quarter reviewed once; the fake templates in place."""
    tpl = write_template(tmp_path / "review.ipynb")
    for name in ("UNIT_TEMPLATE", "JOINT_TEMPLATE", "OVERVIEW_TEMPLATE"):
        monkeypatch.setattr(quarterly, name, tpl)
    monkeypatch.delenv("RBM_TEST_FAIL", raising=False)
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    with Store(url) as st:
        for code in ("AFR", "CYB"):
            ingest(st, code)
    out = tmp_path / "outputs"
    report = review_quarter(Q, all_units=True, store_url=url, outputs=out, config=CFG, progress=False, **FAST)
    assert report["ok"], report
    return {"url": url, "out": out, "qdir": out / Q}


def ingest(st: Store, code: str, value: float | None = None, by: str = "Test Officer") -> int:
    _, frames = minimal_unit(code)
    if value is not None:
        frames["Actuals"].loc[len(frames["Actuals"]) - 1, "value"] = value
    res = st.ingest(code, Q, frames, file_name=f"{code}.xlsx", sha256="0" * 64, submitted_by=by, ingested_by="test")
    assert res.status == "stored", res.message
    return int(res.submission_id)


def kpi_values(folder: Path) -> list:
    return sorted(pd.read_parquet(folder / "kpi_progress.parquet")["current_value"].dropna().tolist())


def refresh(bureau, units, **kw):
    return refresh_quarter(Q, units, store_url=bureau["url"], outputs=bureau["out"], config=CFG, **FAST, **kw)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_submitted_value_reaches_the_units_tables_and_only_dependents_rerun(bureau):
    qdir = bureau["qdir"]
    before = {d: tree_state(qdir / d) for d in ("AFR", "CYB", "joint/CYB-AFR", "overview")}
    with Store(bureau["url"]) as st:
        sid = ingest(st, "AFR", value=777.0)
    result = refresh(bureau, ["AFR"])
    assert result.ok, result.failed
    assert sorted(result.jobs) == ["AFR", "joint-CYB-AFR", "overview"]  # 1 + its joint reviews + the overview
    assert all(r.status == "ok" for r in result.jobs.values())
    assert 777.0 in kpi_values(qdir / "AFR")
    assert tree_state(qdir / "CYB") == before["CYB"]  # a unit that did not submit is not re-run
    assert all(tree_state(qdir / d) != before[d] for d in ("AFR", "joint/CYB-AFR", "overview"))
    entry = read_refresh_state(bureau["out"], Q)["AFR"]
    assert (entry.status, entry.submission_id, entry.submitted_by) == ("done", sid, "Test Officer")
    assert entry.started_at and entry.finished_at and entry.message is None
    report = json.loads((qdir / "run_report.json").read_text())
    assert {j["name"] for j in report["jobs"]} == {"AFR", "CYB", "joint-CYB-AFR", "overview"}  # merged, none lost
    assert published_submissions(bureau["out"], Q)["AFR"] == sid
    # the overview's table of the units' badges was written again: current for both units
    stored = badges.stored_badges(qdir / badges.BADGES_FILE)
    assert {u: src for u, (src, _) in stored.items()} == {u: badges.badge_source(qdir / u) for u in ("AFR", "CYB")}
    assert stored["AFR"][1] == badges.count_badges(badges.read_badge_tables(qdir / "AFR"), "AFR", Q)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_approved_unit_is_never_touched(bureau):
    qdir = bureau["qdir"]
    with Store(bureau["url"]) as st:
        st.approve("AFR", Q, "Amara Diallo", CFG)
    before = tree_state(qdir, skip=(".locks",))
    result = refresh(bureau, ["AFR"])
    assert result.units == [] and result.jobs == {} and "approved" in result.left["AFR"]
    assert tree_state(qdir, skip=(".locks",)) == before  # not a byte of the quarter changed
    # CYB's refresh re-runs CYB, the joint review and the overview, never AFR's approved review
    afr = tree_state(qdir / "AFR")
    with Store(bureau["url"]) as st:
        ingest(st, "CYB", value=5.0)
    result = refresh(bureau, ["CYB"])
    assert result.ok and "AFR" not in result.jobs and "CYB" in result.jobs
    assert tree_state(qdir / "AFR") == afr


def test_a_closed_quarter_is_refused(bureau):
    with pytest.raises(RefreshError, match="closed"):
        refresh_quarter("2026-Q2", ["AFR"], store_url=bureau["url"], outputs=bureau["out"], config=CFG)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failing_refresh_keeps_the_last_good_draft_and_says_why(bureau, monkeypatch):
    qdir = bureau["qdir"]
    afr = tree_state(qdir / "AFR")
    monkeypatch.setenv("RBM_TEST_FAIL", "AFR")
    with Store(bureau["url"]) as st:
        ingest(st, "AFR", value=888.0)
    result = refresh(bureau, ["AFR"])
    assert not result.ok and result.jobs["AFR"].status == "failed"
    assert tree_state(qdir / "AFR") == afr  # the last good draft stays published
    entry = read_refresh_state(bureau["out"], Q)["AFR"]
    assert entry.status == "failed"
    assert "review of AFR was not refreshed" in entry.message and "planted failure in AFR" in entry.message
    assert "Traceback" not in entry.message and "\n" not in entry.message
    # the next submission retries, and succeeds
    monkeypatch.delenv("RBM_TEST_FAIL")
    with Store(bureau["url"]) as st:
        sid = ingest(st, "AFR", value=999.0)
    result = refresh(bureau, ["AFR"])
    assert result.ok and 999.0 in kpi_values(qdir / "AFR")
    assert read_refresh_state(bureau["out"], Q)["AFR"].submission_id == sid


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_submissions_arriving_together_are_one_refresh_and_no_folder_is_torn(bureau):
    qdir = bureau["qdir"]
    watcher = Watcher(Q, store_url=bureau["url"], outputs=bureau["out"], config=CFG, settle=0.5, interval=0.1, say=str)
    with Store(bureau["url"]) as st:
        assert watcher.pending_at_start(st) == {}  # the review published every unit's newest submission
        afr, cyb = ingest(st, "AFR", value=101.0), ingest(st, "CYB", value=7.0)
        news = watcher.news(st)
    assert {u: s.id for u, s in news.items()} == {"AFR": afr, "CYB": cyb}
    torn: list[str] = []
    stop = threading.Event()

    def read() -> None:  # a manager's page reading the folders while they are replaced
        while not stop.is_set():
            for d in ("AFR", "CYB", "joint/CYB-AFR", "overview"):
                try:
                    folder = FolderView(qdir / d)  # as the dashboards read a published folder
                except OSError as exc:
                    torn.append(f"{d}: {exc}")
                    continue
                with folder:
                    if not folder.is_file("inputs.json"):
                        torn.append(f"{d}: no inputs.json")
                    elif d != "joint/CYB-AFR":
                        try:
                            with folder.open("kpi_progress.parquet") as fh:
                                pd.read_parquet(fh)
                        except (OSError, ValueError) as exc:
                            torn.append(f"{d}: {exc}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = watcher.refresh(news)
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert len(watcher.results) == 1 and result.ok
    assert sorted(result.jobs) == ["AFR", "CYB", "joint-CYB-AFR", "overview"]  # the overview once
    assert 101.0 in kpi_values(qdir / "AFR") and 7.0 in kpi_values(qdir / "CYB")
    assert {u: e.status for u, e in read_refresh_state(bureau["out"], Q).items()} == {"AFR": "done", "CYB": "done"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_loop_picks_up_a_submission_made_while_it_runs(bureau):
    lines: list[str] = []
    watcher = Watcher(
        Q, store_url=bureau["url"], outputs=bureau["out"], config=CFG, settle=0, interval=0.2, say=lines.append
    )
    loop = threading.Thread(target=watcher.run, kwargs={"max_refreshes": 1})
    loop.start()
    try:
        with Store(bureau["url"]) as st:
            sid = ingest(st, "CYB", value=3.0)
        loop.join(240)
    finally:
        watcher.stop.set()
        loop.join(30)
    assert not loop.is_alive()
    assert [r.units for r in watcher.results] == [["CYB"]]
    assert read_refresh_state(bureau["out"], Q)["CYB"].submission_id == sid
    assert any("reading the store every" in line for line in lines)


def test_start_up_finds_what_no_refresh_published(tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    with Store(url) as st:
        first = ingest(st, "AFR")
        second = ingest(st, "AFR", value=5.0)
        watcher = Watcher(Q, store_url=url, outputs=tmp_path / "out", config=CFG)
        pending = watcher.pending_at_start(st)  # nothing published yet: AFR's newest submission is pending
        assert {u: s.id for u, s in pending.items()} == {"AFR": second} and watcher.seen == second
        assert [s.id for s in submissions_of(st, Q, after=first)] == [second]
        assert submissions_of(st, "2026-Q2") == []


def test_latest_by_unit_keeps_each_units_newest():
    subs = [Submission(3, "AFR", Q), Submission(5, "CYB", Q), Submission(4, "AFR", Q)]
    assert {u: s.id for u, s in latest_by_unit(subs).items()} == {"AFR": 4, "CYB": 5}


#: A refresh in a process of its own, every rename of which waits a little (widening the
#: publish windows), for the test to kill at a random moment.
REFRESHER = """
import json, os, random, sys, time
from pathlib import Path
from rbm_utils.core.config import load_config
from rbm_utils.publish import quarterly
from rbm_utils.publish.refresh import refresh_quarter

_rename = os.rename
def slow_rename(*args, **kwargs):
    time.sleep(random.uniform(0, 0.15))
    return _rename(*args, **kwargs)

# guarded: each job process imports this script again (multiprocessing's forkserver and spawn
# do), and must not start a refresh of its own there
if __name__ == "__main__":
    tpl, url, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    for name in ("UNIT_TEMPLATE", "JOINT_TEMPLATE", "OVERVIEW_TEMPLATE"):
        setattr(quarterly, name, tpl)
    os.rename = slow_rename
    res = refresh_quarter("2026-Q3", ["AFR"], store_url=url, outputs=out, config=load_config(),
                          cell_timeout=60, job_timeout=120)
    print(json.dumps(res.ok))
"""


def publishing(qdir: Path, since_ns: int) -> bool:
    """True once the refresh started at ``since_ns`` moves a folder: a ``.tmp-`` folder beside the
    published ones, or a job's ``inputs.json`` written in staging (just before its folder moves)."""
    if any(p.name.startswith(".tmp-") for p in qdir.iterdir()) or any(
        p.name.startswith(".tmp-") for p in (qdir / "joint").iterdir()
    ):
        return True
    for f in (qdir.parent / ".staging" / qdir.name).glob("*/inputs.json"):
        try:
            if f.stat().st_mtime_ns >= since_ns:
                return True
        except FileNotFoundError:
            pass
    return False


def consistent(qdir: Path) -> float:
    """Every folder of the quarter complete and self-consistent; returns AFR's published value."""
    load_snapshot(qdir / "snapshot")  # every file matches its manifest
    load_analysis(qdir / "analysis")
    for d in ("AFR", "CYB", "joint/CYB-AFR", "overview"):
        assert json.loads((qdir / d / "inputs.json").read_text())["content_key"], d
        assert (qdir / d / "review.ipynb").is_file(), d
    return max(kpi_values(qdir / "AFR"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_refresh_killed_at_any_moment_leaves_every_folder_old_or_new(bureau, tmp_path):
    qdir = bureau["qdir"]
    script = tmp_path / "refresher.py"
    script.write_text(REFRESHER, encoding="utf-8")
    tpl = Path(quarterly.UNIT_TEMPLATE)
    rng = random.Random(20)
    seen = {consistent(qdir)}
    kills = 0
    for it in range(1, 3):
        with Store(bureau["url"]) as st:
            ingest(st, "AFR", value=1000.0 + it)
        started = time.time_ns()
        proc = subprocess.Popen(
            [sys.executable, str(script), str(tpl), bureau["url"], str(bureau["out"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not publishing(qdir, started):
            time.sleep(0.002)
        if proc.poll() is None:  # publishing: kill within the slowed renames of the swap
            time.sleep(rng.uniform(0, 0.1))
            kills += proc.poll() is None
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        value = consistent(qdir)  # old or new, never torn
        assert value in seen | {1000.0 + it}, (value, seen)
        seen.add(value)
    assert kills >= 1  # a refresh was really stopped half-way
    # the interrupted refresh is taken up again: the next loop's start-up refreshes AFR
    watcher = Watcher(Q, store_url=bureau["url"], outputs=bureau["out"], config=CFG, say=str, **FAST)
    with Store(bureau["url"]) as st:
        pending = watcher.pending_at_start(st)
    assert list(pending) == ["AFR"]
    assert watcher.refresh(pending).ok
    assert consistent(qdir) == 1002.0
    assert read_refresh_state(bureau["out"], Q)["AFR"].status == "done"
