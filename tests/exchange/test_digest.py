"""``rbm digest``: what changed since a date, hand-computed on a small store built in code.

AFR's first workbook (received 20 August) and its correction (5 September) differ in three
places: the third-quarter actual of K1 (100 -> 400, so the sum 80 + 90 + 400 = 570 passes the
target of 400), a new risk RK2 scored 5 x 5 = 25 (critical: a red flag), and decision D2 now due
in 2026-Q2 (before the quarter, in progress: overdue). CYB's workbook arrives on 10 September;
EUR has submitted only for 2026-Q2. The digest since 1 September names exactly these."""
# K1 is a sum of quarterly actuals from baseline 0 (2025-Q4) to target 400 (2026-Q4).

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from factories import minimal_unit

from rbm_utils.cli import main
from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import conform
from rbm_utils.exchange import digest
from rbm_utils.store.database import Store

Q = "2026-Q3"
SINCE = "2026-09-01"
HOSTILE = "<script>alert('x')</script> | broken"


def _at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, 0, tzinfo=dt.UTC)


def _put(st: Store, unit: str, quarter: str, frames: dict, when: dt.datetime, by: str = "Ada") -> None:
    kw = dict(file_name=f"{unit}.xlsx", sha256="0" * 64, submitted_by=by, ingested_by="tester")
    out = st.ingest(unit, quarter, frames, received_at=when, **kw)
    assert out.status == "stored", out.message


@pytest.fixture
def store_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    _, afr = minimal_unit("AFR", Q, with_decisions=True)
    fixed = dict(afr)
    actuals = afr["Actuals"].copy()
    actuals.loc[(actuals["kpi_id"] == "AFR-K1") & (actuals["period"] == Q), "value"] = 400
    fixed["Actuals"] = conform("Actuals", actuals)
    risk = afr["Risks"].iloc[0].to_dict() | {"risk_id": "AFR-RK2", "title": HOSTILE, "likelihood": 5, "impact": 5}
    fixed["Risks"] = conform("Risks", pd.concat([afr["Risks"], pd.DataFrame([risk])], ignore_index=True))
    decisions = afr["Decisions"].copy()
    decisions.loc[decisions["decision_id"] == "AFR-D2", "due_quarter"] = "2026-Q2"
    fixed["Decisions"] = conform("Decisions", decisions)
    with Store(url) as st:
        _put(st, "AFR", Q, afr, _at(8, 20))
        _put(st, "EUR", "2026-Q2", minimal_unit("EUR", "2026-Q2")[1], _at(7, 1), "Eve")
        _put(st, "AFR", Q, fixed, _at(9, 5))
        _put(st, "CYB", Q, minimal_unit("CYB", Q)[1], _at(9, 10), "Chen")
    return url


def test_the_digest_lists_what_moved_since_the_date(store_url):
    cfg = load_config()
    with Store(store_url) as st:
        parts = digest.make_digest(st, cfg, pd.Timestamp(SINCE, tz="UTC"), Quarter.parse(Q))
    moves = parts["status_moves"]
    afr = moves[moves["unit_code"] == "AFR"]
    # before: 270 of 400, and 3/4 of the way from 2025-Q4 to 2026-Q4 expects 300: 270 / 300 = 0.9, on track
    assert afr[["kpi_id", "status_before", "status_now"]].values.tolist() == [["AFR-K1", "on_track", "target_met"]]
    # CYB had no figures before the date: each of its KPIs is new
    assert set(moves[moves["unit_code"] == "CYB"]["status_before"]) == {"new"}
    flags = parts["new_red_flags"]
    assert flags[["unit_code", "risk_id", "rating", "title"]].values.tolist()[0] == [
        "AFR",
        "AFR-RK2",
        "critical",
        HOSTILE,
    ]
    assert "AFR-RK1" not in set(flags["risk_id"])  # a red flag before the date already, or none: not new
    overdue = parts["overdue"]
    assert overdue[["unit_code", "decision_id", "new"]].values.tolist() == [["AFR", "AFR-D2", True]]
    assert parts["received"][["unit_code", "submission_id", "submitted_by"]].values.tolist() == [
        ["AFR", 3, "Ada"],
        ["CYB", 4, "Chen"],
    ]
    missing = parts["missing"].set_index("unit_code")["latest_quarter"]
    assert missing["EUR"] == "2026-Q2" and missing["ASP"] == ""
    assert "AFR" not in missing.index and "CYB" not in missing.index
    assert len(missing) == len(cfg.units) - 2


def test_rbm_digest_prints_and_writes_markdown_and_escaped_html(store_url, tmp_path, capsys):
    out = tmp_path / "outputs"
    argv = ["digest", "--since", SINCE, "--unit", "AFR", "--quarter", Q, "--outputs", str(out), "--store", store_url]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "KPIs whose status moved (1)" in printed and "AFR-K1" in printed and "Target met" in printed
    assert "Units with no submission for the quarter (0)" in printed
    md, page = digest.digest_paths(out, Q, SINCE, "AFR")
    text = md.read_text(encoding="utf-8")
    assert "## New red flags (1)" in text and "## Decisions now overdue (1)" in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; \\| broken" in text  # escaped, the table kept whole
    body = page.read_text(encoding="utf-8")
    assert "<script>" not in body and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; | broken" in body
    assert "<td>Target met</td>" in body and "<td>AFR-D2</td>" in body


def test_rbm_digest_refuses_a_bad_date_or_unit(store_url, capsys):
    assert main(["digest", "--since", "last week", "--store", store_url]) == 2
    assert main(["digest", "--since", SINCE, "--unit", "NOPE", "--store", store_url]) == 2
    err = capsys.readouterr().err
    assert "is not a date" in err and "unknown unit 'NOPE'" in err
