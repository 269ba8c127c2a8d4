"""The bad-input corpus (issue 6): every case of tests/fixtures/bad/cases.yaml, ingested.

For each case: the expected code at its sheet, Excel row and column letter, nothing else
reported, no exception (and no traceback from the ``rbm ingest`` command), the store
unchanged for errors (``Store.dump()`` before and after), warnings stored with the
submission, accepted inputs normalised into the store. Bombs are refused within 5 s and
256 MB of peak memory, measured in a subprocess.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import yaml

from rbm_utils.core.config import ConfigError, load_config
from rbm_utils.core.errors import CODES
from rbm_utils.intake.validate import parse_source
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import ingest_file

ROOT = Path(__file__).resolve().parent.parent.parent
BAD = ROOT / "tests" / "fixtures" / "bad"
sys.path.insert(0, str(BAD))
import make_fixtures  # noqa: E402

CFG = load_config()
TODAY = dt.date(2026, 11, 28)
CASES: list[dict] = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
BAD_CASES = [c for c in CASES if c["code"] is not None]
BOMBS = [c for c in CASES if c.get("bomb")]
CATEGORIES = {"container", "structure", "cells", "csv", "meaning", "hostile", "accepted"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures.build_all(tmp_path_factory.mktemp("bad_inputs"), [c["file"] for c in CASES])


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the minimal unit AFR 2026-Q3, as the officer sent it last quarter."""
    folder = tmp_path_factory.mktemp("base_store")
    good = folder / "AFR.xlsx"
    make_fixtures.xlsx(good, make_fixtures.base())
    db = folder / "rbm.sqlite"
    with Store(f"sqlite:///{db}") as st:
        rep = ingest_file(good, st, CFG, by="pytest", today=TODAY)
        assert rep.status == "stored", rep.problems.to_string()
    return db


def _copy_store(db: Path, dest: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            shutil.copy(src, dest.with_name(dest.name + suffix))
    return f"sqlite:///{dest}"


def _cfg(case: dict):
    return dataclasses.replace(CFG, ingest={**CFG.ingest, **case["limits"]}) if case.get("limits") else CFG


# --------------------------------------------------------------------------- the manifest


def test_manifest_is_complete():
    bad = Counter(c["cat"] for c in BAD_CASES)
    assert len(BAD_CASES) >= 60, len(BAD_CASES)
    assert set(c["cat"] for c in CASES) == CATEGORIES
    assert all(bad[cat] >= 4 for cat in CATEGORIES - {"accepted"}), bad
    files = [c["file"] for c in CASES]
    assert len(files) == len(set(files)), "a file is listed twice"
    assert set(files) == set(make_fixtures.BUILDERS), set(files) ^ set(make_fixtures.BUILDERS)
    for c in BAD_CASES:
        assert c["code"] in CODES, c
        assert c["severity"] == CODES[c["code"]][0] or c["code"] == "unit_mismatch", c
        assert {"sheet", "row", "column"} <= set(c), c
    # every category the issue names is there
    codes = {c["code"] for c in BAD_CASES}
    assert {
        "unsupported_format",
        "corrupt_file",
        "encrypted_file",
        "unsafe_file",
        "sheet_too_large",
        "missing_sheet",
        "missing_column",
        "header_not_on_row_1",
        "duplicate_column",
        "unknown_column",
        "merged_cells",
        "hidden_data",
        "total_row",
        "not_a_number",
        "percent_scale",
        "not_a_date",
        "formula_no_value",
        "formula_error",
        "placeholder",
        "boolean_value",
        "bad_encoding",
        "ragged_row",
        "smart_incomplete",
        "period_order",
        "future_period",
        "duplicate_key",
        "negative_value",
        "percent_over_100",
        "unknown_code",
        "measure_changed",
        "value_decreased",
        "disaggregation_mismatch",
        "over_budget",
        "outlier",
        "unknown_unit",
    } <= codes


# --------------------------------------------------------------------------- every case


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_case(case: dict, corpus: dict[str, Path], base_store: Path, tmp_path: Path):
    url = _copy_store(base_store, tmp_path / "rbm.sqlite")
    with Store(url) as st:
        before = st.dump()
        rep = ingest_file(corpus[case["file"]], st, _cfg(case), by="pytest", today=TODAY)
        after = st.dump()
        problems = rep.problems
        shown = problems.to_string() if not problems.empty else "(no problem)"
        others = set(problems["code"]) - {case["code"], "missing_evidence"} - set(case.get("also", []))
        assert not others, f"unexpected problems:\n{shown}"
        if case["code"] is None:
            assert rep.status in ("stored", "unchanged"), f"{rep.message}\n{shown}"
            state = st.state("AFR")
            for sheet, column, value in case["values"]:
                got = state[sheet][column].tolist()
                assert value in got, f"{sheet}.{column}: {value!r} not in {got}"
            return
        hits = problems[
            (problems["code"] == case["code"])
            & (problems["sheet"] == case["sheet"])
            & (problems["row"] == case["row"])
            & (problems["column"] == case["column"])
        ]
        assert len(hits) >= 1, (
            f"expected {case['code']} at {case['sheet']}!{case['column']}{case['row']}; got:\n{shown}"
        )
        hit = hits.iloc[0]
        assert hit["severity"] == case["severity"]
        assert hit["message"] and hit["file"].startswith(corpus[case["file"]].name)  # a CSV folder's: folder/KPIs.csv
        if case["severity"] == "error":
            assert rep.status == "rejected", rep.message
            assert before == after, "a rejected file changed the store"
        else:
            assert rep.status in ("stored", "unchanged"), f"{rep.message}\n{shown}"
            if rep.status == "stored":
                kept = st.submission_problems(rep.submission_id)
                assert ((kept["code"] == case["code"]) & (kept["where"] == hit["where"])).any(), kept.to_string()


# --------------------------------------------------------------------------- the command line


def test_cli_ingest_prints_problems_never_a_traceback(corpus: dict[str, Path], base_store: Path, tmp_path: Path):
    """One `rbm ingest` over a sample of every category: each file rejected, each code shown."""
    sample = [c for c in BAD_CASES if c["severity"] == "error" and not c.get("limits")]
    picked = {c["cat"]: c for c in sample}
    sample = list({c["file"]: c for c in sample[::3] + list(picked.values())}.values())
    url = _copy_store(base_store, tmp_path / "rbm.sqlite")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rbm_utils.cli",
            "ingest",
            *[str(corpus[c["file"]]) for c in sample],
            "--store",
            url,
            "--by",
            "pytest",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text[-3000:]
    assert out.returncode == 1, text[-3000:]
    assert text.count("Rejected: ") == len(sample) and "nothing stored" in text, text[-3000:]
    for c in sample:
        assert f" {c['code']} " in out.stdout, (c, out.stdout[-3000:])
    with Store(url) as st, Store(f"sqlite:///{base_store}") as base:
        assert st.dump() == base.dump()


# --------------------------------------------------------------------------- bombs

_BOMB_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    from rbm_utils.core.config import load_config
    from rbm_utils.intake.validate import parse_source
    cfg = load_config()
    out = []
    for path in sys.argv[1:]:
        t = time.monotonic()
        parsed = parse_source(path, cfg)
        out.append({"file": path, "seconds": time.monotonic() - t, "codes": sorted({p.code for p in parsed.errors})})
    # peak RSS of this process image: VmHWM (ru_maxrss would carry the forking pytest's own peak)
    try:
        with open("/proc/self/status") as fh:
            rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"results": out, "peak_rss": rss}))
""")


def test_bombs_are_refused_within_256_mb(corpus: dict[str, Path]):
    """Each bomb is refused before it expands: in bounded memory, and long before a generous limit
    (an expanded bomb takes minutes and gigabytes; the seconds are measured in make bench)."""
    assert len(BOMBS) >= 8
    out = subprocess.run(
        [sys.executable, "-c", _BOMB_SCRIPT, *[str(corpus[c["file"]]) for c in BOMBS]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    for c, r in zip(BOMBS, report["results"]):
        assert c["code"] in r["codes"], (c, r)
    assert report["peak_rss"] < 256 * 1024 * 1024, f"peak RSS {report['peak_rss'] / 2**20:.0f} MB"


@pytest.mark.timeout(300)  # a dense read of 20 million cells would not finish
def test_a_far_cell_within_the_limits_is_read_sparsely(tmp_path: Path):
    """A value at CV199999 (inside the limits): read as one cell, not a 20-million-cell rectangle."""
    path = tmp_path / "far.xlsx"
    make_fixtures.xlsx(path, make_fixtures.base(), lambda wb: wb["Risks"].cell(row=199_999, column=100, value="stray"))
    parsed = parse_source(path, CFG, today=TODAY)
    assert ("blank_header", "Risks", 1, "CV") in [(p.code, p.sheet, p.row, p.column) for p in parsed.errors]
    assert {p.row for p in parsed.errors} == {1, 199_999}  # the stray row lacks its required values


# --------------------------------------------------------------------------- hostile text is legitimate


@pytest.mark.parametrize("name", ["ok_hostile_text.xlsx", "ok_hostile_text_csv"])
def test_hostile_text_is_stored_exactly_as_typed(name: str, corpus: dict[str, Path], base_store: Path, tmp_path: Path):
    url = _copy_store(base_store, tmp_path / "rbm.sqlite")
    with Store(url) as st:
        rep = ingest_file(corpus[name], st, CFG, by="pytest", today=TODAY)
        assert rep.status == "stored", rep.problems.to_string()
        state = st.state("AFR")
    for (sheet, row, column), text in make_fixtures.HOSTILE_TEXT.items():
        got = state[sheet][column].tolist()
        assert text in got, (sheet, row, column, got)  # equal, character for character


# --------------------------------------------------------------------------- history checks


def test_previous_state_can_be_given_as_a_mapping(corpus: dict[str, Path], base_store: Path):
    with Store(f"sqlite:///{base_store}") as st:
        state = st.state("AFR")
    path = corpus["measure_changed.xlsx"]
    assert not any(p.code == "measure_changed" for p in parse_source(path, CFG, today=TODAY).problems)
    with_prev = parse_source(path, CFG, today=TODAY, previous=state)
    assert [(p.code, p.where) for p in with_prev.errors] == [("measure_changed", "KPIs!E3")]
    assert "number" in with_prev.errors[0].message
    called = []
    parse_source(path, CFG, today=TODAY, previous=lambda unit: called.append(unit) or state)
    assert called == ["AFR"]


@pytest.mark.parametrize(
    "name,code",
    [("over_budget.xlsx", "over_budget"), ("outlier.xlsx", "outlier"), ("value_decreased.xlsx", "value_decreased")],
)
def test_history_warnings_are_given_once(
    name: str, code: str, corpus: dict[str, Path], base_store: Path, tmp_path: Path
):
    """Once stored with its warning, the same rows sent again are not warned about again."""
    url = _copy_store(base_store, tmp_path / "rbm.sqlite")
    with Store(url) as st:
        first = ingest_file(corpus[name], st, CFG, by="pytest", today=TODAY)
        assert first.status == "stored" and code in set(first.problems["code"])
        again = ingest_file(corpus[name], st, CFG, by="pytest", today=TODAY)
        assert again.status == "unchanged" and code not in set(again.problems["code"])


def test_over_budget_counts_stored_quarters(base_store: Path, tmp_path: Path):
    """Q1 and Q2 (50 000) are in the store; a file with Q3 only spends 60 000 more of a 100 000 budget."""
    g = make_fixtures.base()
    make_fixtures.put(g, "Expenditure", 2, "period", "2026-Q3")
    make_fixtures.put(g, "Expenditure", 2, "amount", 60000)
    g["Expenditure"] = g["Expenditure"][:2]
    path = tmp_path / "q3.xlsx"
    make_fixtures.xlsx(path, g)
    assert "over_budget" not in {p.code for p in parse_source(path, CFG, today=TODAY).problems}
    url = _copy_store(base_store, tmp_path / "rbm.sqlite")
    with Store(url) as st:
        rep = ingest_file(path, st, CFG, by="pytest", today=TODAY)
    hits = rep.problems[rep.problems["code"] == "over_budget"]
    assert hits["where"].tolist() == ["Expenditure!D2"] and "110,000" in hits["message"].iloc[0]


def test_outlier_rule_on_a_hand_computed_series(tmp_path: Path):
    """80 85 90 88 92 95 900: median 90, MAD 5; z(900) = 0.6745 x 810 / 5 = 109.3; z(80) = 1.35."""
    parsed = parse_source(make_fixtures.build("outlier.xlsx", tmp_path), CFG, today=TODAY)
    (p,) = [p for p in parsed.problems if p.code == "outlier"]
    assert p.where == "Actuals!C8" and "109.3" in p.message and "median 90" in p.message


# --------------------------------------------------------------------------- settings files


@pytest.mark.parametrize(
    "text",
    [
        "units: !!python/object/apply:os.system ['echo pwned']\n",
        "units:\n  - !!python/object/new:subprocess.Popen [['true']]\n",
        "calendar: !!python/name:os.system\n",
        "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
            for i in range(8)
        )
        + "units:\n  - {code: AFR, type: region, name: *i}\n",
        "units: {code: AFR}\n",
        "units:\n  - AFR\n",
        "units:\n  - {code: [AFR], type: region}\n",
        "units:\n  - {code: AFR, type: region}\nthresholds: {on_track: high}\n",
        "units:\n  - {code: AFR, type: region}\ncalendar: [2026-Q3]\n",
        "[" * 5000 + "]" * 5000 + "\n",
    ],
)
@pytest.mark.timeout(120)  # generous: an expanded alias bomb would take hours
def test_hostile_settings_raise_config_error(text: str, tmp_path: Path):
    path = tmp_path / "workbench.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(path)


def test_settings_not_utf8_or_too_large_raise_config_error(tmp_path: Path):
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("workbench: {name: 'Bureau \u00e9'}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(bad)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    with pytest.raises(ConfigError, match="refused"):
        load_config(big)


def test_the_codes_table_of_docs_ingest_matches_errors_py():
    doc = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    for code, (severity, meaning) in CODES.items():
        assert f"| `{code}` | {severity} | {meaning} |" in doc, code


def test_devices_and_pipes_are_refused_unread(tmp_path: Path):
    import os

    fifo = tmp_path / "AFR.xlsx"
    os.mkfifo(fifo)  # opening it would block forever
    for path in (Path("/dev/zero"), fifo):
        parsed = parse_source(path, CFG, today=TODAY)
        assert [p.code for p in parsed.errors] == ["unsupported_format"], path
