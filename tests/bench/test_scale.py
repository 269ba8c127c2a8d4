"""The synthetic bureau of the scale benchmark (bench/scale.py): valid settings, units that pass
the real intake validation, one joint review per cluster. Tiny scale; no timing is asserted."""

from __future__ import annotations

from pathlib import Path

from bench import scale
from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.demo.load import ingest_history
from rbm_utils.demo.sample import sample_parts
from rbm_utils.demo.story import make_story
from rbm_utils.store.database import Store


def test_synthetic_units_clone_the_sample_under_new_codes():
    units = scale.synthetic_units(30)
    codes = [u["code"] for u in units]
    assert len(codes) == len(set(codes)) == 30
    assert all(schema.UNIT_CODE_RE.match(c) for c in codes)
    assert codes[13:15] == ["AFR01", "AMS01"] and codes[26:30] == ["AFR02", "AMS02", "ARB02", "ASP02"]
    ndi01 = next(u for u in units if u["code"] == "NDI01")
    assert ndi01["type"] == "cluster" and ndi01["themes"] == ["broadband", "spectrum"]
    assert scale.synthetic_units(5) == scale.synthetic_units(30)[:5]


def test_the_settings_file_is_accepted_and_lists_every_unit(tmp_path: Path):
    config = load_config(scale.write_settings(20, tmp_path))
    assert len(config.units) == 20
    assert config.regions == [
        "AFR",
        "AMS",
        "ARB",
        "ASP",
        "CIS",
        "EUR",
        "AFR01",
        "AMS01",
        "ARB01",
        "ASP01",
        "CIS01",
        "EUR01",
    ]
    assert config.clusters[-1] == "NDI01"


def test_three_synthetic_units_pass_intake_validation_quarter_by_quarter(tmp_path: Path):
    config = load_config(scale.write_settings(20, tmp_path))
    chosen = ["AFR01", "NDI01", "STA"]
    stories = {}
    for code in chosen:
        parts = sample_parts(config, code)
        stories[code] = (parts, make_story(parts))
    quarters = Quarter.span(config.first_quarter, config.current_quarter)
    with Store(f"sqlite:///{tmp_path / 'rbm.sqlite'}") as st:
        report = ingest_history(st, config, stories)  # raises SampleError if a workbook is rejected
        assert report.submissions == 3 * len(quarters) == 45
        subs = st.submissions()
        assert sorted(set(subs["unit_code"])) == sorted(chosen)
        state = st.bureau_state(config.current_quarter)
    assert set(state["KPIs"]["unit_code"]) == set(chosen)
    joints = scale.chosen_joints(state, config)
    # one joint review per cluster, with a region of the settings it works in
    assert sorted(j.split("-")[0] for j in joints) == ["NDI01", "STA"]
    assert all(j.split("-")[1] in config.regions for j in joints)
