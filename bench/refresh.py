"""Issue 20's bench: seconds from an accepted AFR submission to its refreshed dashboard data.

On the sample bureau the batch section has just reviewed (its store and outputs folder):

1. an AFR correction is ingested and ``rbm review --quarter Q --unit AFR --update`` is timed
   (AFR's review, its joint reviews and the overview run again: the same work a refresh does);
2. ``rbm watch`` is started (reading the store every second), another AFR correction is
   ingested, and the seconds from the moment the store accepted it to the moment
   ``refresh.json`` says AFR's refresh is done (its tables published) are measured;
3. the published folders whose ``inputs.json`` content key changed are counted: the notebooks
   the refresh re-ran, which must be AFR's review, its joint reviews and the overview.

The ratio of (2) to (1) is ``refresh_afr_vs_review_unit`` (target <= 1.2x): the refresh adds
only its detection (at most one polling interval) to the review of one unit.

Example:
    >>> fill_ratio({"refresh_afr_seconds": 60.0, "review_unit_afr_seconds": 50.0})["refresh_afr_vs_review_unit"]
    1.2
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Headline keys of results.json added by issue 20.
KEYS = (
    "refresh_afr_seconds",
    "review_unit_afr_seconds",
    "refresh_afr_vs_review_unit",
    "refresh_notebooks_rerun",
    "refresh_notebooks_expected",
)
#: The ratio and the two figures it divides.
RATIOS = {"refresh_afr_vs_review_unit": ("refresh_afr_seconds", "review_unit_afr_seconds")}
UNIT = "AFR"
POLL_S = 1.0


def correct(store_url: str, quarter: str, delta: float) -> int:
    """Ingest the unit's current content with its first actual of ``quarter`` changed by ``delta``;
    the new submission's id (the moment this returns, the store has accepted it)."""
    from rbm_utils.store.database import Store

    with Store(store_url) as st:
        frames = {k: v for k, v in st.state(UNIT).items() if k != "Unit"}
        acts = frames["Actuals"]
        row = acts.index[acts["period"] == quarter][0]
        acts.loc[row, "value"] = float(acts.loc[row, "value"]) + delta
        res = st.ingest(
            UNIT,
            quarter,
            frames,
            file_name="AFR-correction.xlsx",
            sha256="0" * 64,
            submitted_by="bench",
            ingested_by="bench",
        )
    if res.status != "stored":
        raise RuntimeError(f"the AFR correction was not stored: {res.message}")
    return int(res.submission_id)


def folder_keys(qdir: Path) -> dict[str, str | None]:
    """The content key of every published review folder (units, joint reviews, overview)."""
    out: dict[str, str | None] = {}
    for inputs in [*qdir.glob("*/inputs.json"), *qdir.glob("joint/*/inputs.json")]:
        try:
            out[str(inputs.parent.relative_to(qdir))] = json.loads(inputs.read_text(encoding="utf-8"))["content_key"]
        except (OSError, ValueError, KeyError):
            out[str(inputs.parent.relative_to(qdir))] = None
    return out


def rbm(*args: str) -> list[str]:
    return [sys.executable, "-m", "rbm_utils.cli", *args]


def measure(outputs: Path, store_url: str, quarter: str, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The three measurements of the module's description."""
    from rbm_utils.publish.refresh_state import read_refresh_state

    qdir = outputs / quarter
    common = ["--quarter", quarter, "--store", store_url, "--outputs", str(outputs)]
    correct(store_url, quarter, 1.0)
    say("refresh: rbm review --unit AFR --update (the same reviews a refresh re-runs)")
    t0 = time.perf_counter()
    review = subprocess.run(
        rbm("review", "--unit", UNIT, "--update", "--quiet", *common),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    review_s = time.perf_counter() - t0
    if review.returncode != 0:
        raise RuntimeError(f"rbm review --unit AFR failed: {review.stderr[-1000:]}")
    say("refresh: rbm watch, then an AFR correction; until its refresh is done")
    errors = tempfile.TemporaryFile(mode="w+")  # read only on failure; a pipe left unread could fill up
    watch = subprocess.Popen(
        rbm("watch", *common, "--interval", str(POLL_S), "--settle", "0", "--max-refreshes", "1"),
        stdout=subprocess.PIPE,
        stderr=errors,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = watch.stdout.readline() if watch.stdout else ""
        if not first.startswith("Watching"):
            watch.wait(60)
            errors.seek(0)
            raise RuntimeError(f"rbm watch did not start: {first} {errors.read()[-1000:]}")
        before = folder_keys(qdir)
        t0 = time.perf_counter()
        sid = correct(store_url, quarter, 2.0)
        deadline = time.monotonic() + 1800
        entry = None
        while time.monotonic() < deadline:
            entry = read_refresh_state(outputs, quarter).get(UNIT)
            if entry is not None and entry.submission_id == sid and entry.status in ("done", "failed"):
                break
            time.sleep(0.05)
        refresh_s = time.perf_counter() - t0
        watch.wait(120)
    finally:
        if watch.poll() is None:
            watch.terminate()
            watch.wait(60)
        errors.close()
    if entry is None or entry.status != "done":
        raise RuntimeError(f"the AFR refresh did not complete: {entry}")
    after = folder_keys(qdir)
    rerun = sorted(k for k in after if after[k] != before.get(k))
    pairs = json.loads((qdir / "analysis" / "manifest.json").read_text(encoding="utf-8")).get("joint_pairs", [])
    expected = sorted([UNIT, "overview", *(f"joint/{p}" for p in pairs if UNIT in p.split("-"))])
    return {
        "review_unit_seconds": review_s,
        "refresh_seconds": refresh_s,
        "poll_interval_seconds": POLL_S,
        "rerun": rerun,
        "expected": expected,
        "submission_id": sid,
    }


def fill_ratio(out: dict[str, Any]) -> dict[str, Any]:
    """The ratio, where both its figures are there."""
    for ratio, (num, den) in RATIOS.items():
        if out.get(num) is not None and out.get(den):
            out[ratio] = out[num] / out[den]
    return out


def fill(out: dict[str, Any], details: dict[str, Any]) -> None:
    """The headline keys from the batch section's ``refresh`` details."""
    r = (details.get("batch") or {}).get("refresh")
    if not isinstance(r, dict) or "refresh_seconds" not in r:
        return
    out["refresh_afr_seconds"] = r["refresh_seconds"]
    out["review_unit_afr_seconds"] = r["review_unit_seconds"]
    out["refresh_notebooks_rerun"] = len(r["rerun"])
    out["refresh_notebooks_expected"] = len(r["expected"])
    fill_ratio(out)


def targets(h: dict[str, Any], details: dict[str, Any], add: Callable[[str, Any, bool | None, str], None]) -> None:
    """Issue 20's targets with their verdicts."""
    r = (details.get("batch") or {}).get("refresh") or {}
    v = h.get("refresh_afr_vs_review_unit")
    if v is not None:
        add(
            "AFR submission to refreshed dashboard data <= 1.2x rbm review --unit AFR",
            round(v, 2),
            v <= 1.2,
            f"refresh {h['refresh_afr_seconds']:.1f} s (from the store's acceptance, rbm watch reading the store every "
            f"{r.get('poll_interval_seconds')} s) vs rbm review --unit AFR --update {h['review_unit_afr_seconds']:.1f} s "
            "(the same freeze, analysis and notebooks)",
        )
    n = h.get("refresh_notebooks_rerun")
    if n is not None:
        add(
            "a refresh re-runs only AFR, its joint reviews and the overview",
            n,
            r.get("rerun") == r.get("expected"),
            f"re-ran {', '.join(r.get('rerun', []))}; expected {', '.join(r.get('expected', []))}",
        )
