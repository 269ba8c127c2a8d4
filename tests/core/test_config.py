"""Tests of the settings: parameters/workbench.yaml through the typed model (rbm_utils/core/config.py, settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import ValidationError

from rbm_utils.core import schema
from rbm_utils.core.config import (
    DEFAULT_CONFIG,
    DEFAULT_INGEST_LIMITS,
    DEFAULT_THRESHOLDS,
    MAX_CONFIG_BYTES,
    PROJECT_ROOT,
    ActionPlan,
    Authority,
    ConfigError,
    Unit,
    load_config,
    shown_path,
)
from rbm_utils.core.settings import IngestSettings, Settings, ThresholdSettings, UnitType, key_path

UNITS = "units:\n  - {code: AFR, name: Africa, type: region, approvers: [Ann]}\n  - {code: CYB, type: cluster}\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "workbench.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "workbench.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    return message


# ------------------------------------------------------------------------ the shipped file


def test_the_shipped_settings_load_with_every_value():
    cfg = load_config(DEFAULT_CONFIG)
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert cfg.path == DEFAULT_CONFIG and cfg.raw == raw
    assert list(cfg.units) == [u["code"] for u in raw["units"]]
    assert len(cfg.regions) == 6 and len(cfg.clusters) == 7
    assert cfg.unit("NDI") == Unit(
        "NDI",
        "Network and digital infrastructure",
        "cluster",
        ("Ravi Menon",),
        "Cluster Facilitator",
        ("broadband", "spectrum"),
    )
    assert cfg.thresholds == raw["thresholds"] and cfg.ingest == raw["ingest"]
    assert (cfg.first_quarter, cfg.current_quarter) == ("2023-Q1", "2026-Q3")
    assert (cfg.name, cfg.currency) == (raw["workbench"]["name"], "CHF")
    assert cfg.store_url == "sqlite:///" + str(PROJECT_ROOT / "data" / "rbm.sqlite")
    with pytest.raises(ConfigError, match="known units: AFR, AMS"):
        cfg.unit("XYZ")


def test_defaults_are_the_model_defaults_and_keep_int_and_float():
    assert DEFAULT_THRESHOLDS == ThresholdSettings().model_dump() and list(DEFAULT_THRESHOLDS) == list(
        ThresholdSettings.model_fields
    )
    assert DEFAULT_INGEST_LIMITS == IngestSettings().model_dump()
    assert type(DEFAULT_THRESHOLDS["no_data_quarters"]) is int and type(DEFAULT_THRESHOLDS["on_track"]) is float
    assert get_args(UnitType) == schema.UNIT_TYPES


def test_a_short_file_gets_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RBM_STORE", raising=False)
    cfg = _load(tmp_path, UNITS + "thresholds:\ncalendar: {first_quarter: ' 2024-Q2 '}\n")
    assert cfg.thresholds == DEFAULT_THRESHOLDS and cfg.ingest == DEFAULT_INGEST_LIMITS
    assert (cfg.first_quarter, cfg.current_quarter) == ("2024-Q2", "2024-Q2")
    assert cfg.unit("CYB").name == "CYB" and cfg.unit("AFR").approvers == ("Ann",)
    assert (cfg.name, cfg.currency) == ("RBM workbench", "CHF")
    cfg = _load(tmp_path, UNITS + "thresholds: {on_track: 1, outlier_z: 4}\n")
    assert cfg.thresholds == {**DEFAULT_THRESHOLDS, "on_track": 1, "outlier_z": 4}


def test_authority_defaults_and_the_shipped_bureau_approver(tmp_path: Path):
    shipped = load_config(DEFAULT_CONFIG).authority
    assert shipped == Authority(bureau_role="Deputy Director", bureau_approvers=("Nadia Rahman",))
    assert (shipped.target_change_share, shipped.budget_move_share, shipped.budget_move_amount) == (0.10, 0.10, 50000)
    assert (shipped.add_drop_activities, shipped.add_drop_results) == (True, False)
    # absent or blank section: the defaults, nobody at bureau level
    assert _load(tmp_path, UNITS).authority == Authority()
    assert _load(tmp_path, UNITS + "authority:\n").authority == Authority()
    assert _load(tmp_path, UNITS + "authority: {bureau: {approvers: }, unit: }\n").authority == Authority()
    cfg = _load(
        tmp_path,
        UNITS + "authority:\n  bureau: {role: Director, approvers: [Zoe, Bo]}\n"
        "  unit: {target_change_share: 0.2, budget_move_amount: 10000, add_drop_results: true}\n",
    )
    assert cfg.authority == Authority(
        bureau_role="Director",
        bureau_approvers=("Zoe", "Bo"),
        target_change_share=0.2,
        budget_move_amount=10000,
        add_drop_results=True,
    )


def test_rbm_config_and_rbm_store_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "other.yaml"
    path.write_text(UNITS + "store: {url: 'sqlite:///db/x.sqlite'}\n", encoding="utf-8")
    monkeypatch.setenv("RBM_CONFIG", str(path))
    monkeypatch.delenv("RBM_STORE", raising=False)
    cfg = load_config()
    assert cfg.path == path and list(cfg.units) == ["AFR", "CYB"]
    assert cfg.store_url == "sqlite:///" + str(PROJECT_ROOT / "db" / "x.sqlite")
    monkeypatch.setenv("RBM_STORE", "postgresql+psycopg://rbm@127.0.0.1/rbm")
    assert load_config().store_url == "postgresql+psycopg://rbm@127.0.0.1/rbm"


# ------------------------------------------------------------------------ unknown and misspelt keys


@pytest.mark.parametrize(
    "text, path, suggestion",
    [
        (UNITS + "thresholds: {on_trak: 0.9}\n", "thresholds.on_trak", "thresholds.on_track"),
        (UNITS + "treshold: {on_track: 0.9}\n", "treshold", "thresholds"),
        (UNITS + "calender: {first_quarter: 2024-Q1}\n", "calender", "calendar"),
        (UNITS + "ingest: {max_file_mbs: 10}\n", "ingest.max_file_mbs", "ingest.max_file_mb"),
        (UNITS + "workbench: {currencies: EUR}\n", "workbench.currencies", "workbench.currency"),
        (UNITS + "calendar: {current_quater: 2026-Q3}\n", "calendar.current_quater", "calendar.current_quarter"),
        ("unit:\n  - {code: AFR, type: region}\n", "unit", "units"),
        (UNITS + "store: {URL: 'sqlite://'}\n", "store.URL", "store.url"),
        (
            UNITS + "authority: {unit: {target_change_shares: 0.2}}\n",
            "authority.unit.target_change_shares",
            "authority.unit.target_change_share",
        ),
        (UNITS + "authority: {bureau: {approver: [Bo]}}\n", "authority.bureau.approver", "authority.bureau.approvers"),
        (UNITS + "autority: {}\n", "autority", "authority"),
        (UNITS + "action_plan: {programs: []}\n", "action_plan.programs", "action_plan.programmes"),
        (
            UNITS + "action_plan: {programmes: [{code: p, name: P}], themes: [{code: t, programe: p}]}\n",
            "action_plan.themes[0].programe",
            "action_plan.themes[0].programme",
        ),
        (
            "units:\n  - {code: AFR, type: region}\n  - {code: CYB, type: cluster, aprovers: [Bo]}\n",
            "units[1].aprovers",
            "units[1].approvers",
        ),
    ],
)
def test_a_misspelt_key_names_file_path_and_nearest_key(tmp_path: Path, text: str, path: str, suggestion: str):
    message = _refused(tmp_path, text)
    assert message == f"{tmp_path / 'workbench.yaml'}: {path} is not a known setting; did you mean {suggestion}?"


def test_an_unknown_key_without_a_near_one_lists_the_known_keys(tmp_path: Path):
    message = _refused(tmp_path, UNITS + "colour: blue\n")
    assert message.endswith(
        "colour is not a known setting; known settings: workbench, calendar, store, units, thresholds, ingest, authority, funding, iati, "
        "action_plan"
    )
    message = _refused(tmp_path, UNITS + "thresholds: {zebra: 1}\n")
    assert "thresholds.zebra is not a known setting; known settings of thresholds: on_track, at_risk," in message


def test_a_file_inside_the_project_is_named_from_the_project_root():
    assert shown_path(DEFAULT_CONFIG) == "parameters/workbench.yaml"
    assert shown_path(Path("/elsewhere/w.yaml")) == "/elsewhere/w.yaml"


# ------------------------------------------------------------------------ wrong types and values


@pytest.mark.parametrize(
    "text, expected",
    [
        (UNITS + "thresholds: {on_track: high}\n", "thresholds.on_track must be a number, not 'high'"),
        (UNITS + "thresholds: {on_track: '0.9'}\n", "thresholds.on_track must be a number, not '0.9'"),
        (UNITS + "thresholds: {at_risk: yes}\n", "thresholds.at_risk must be a number, not True"),
        (UNITS + "thresholds: {on_track: .inf}\n", "thresholds.on_track must be a finite number, not inf"),
        (
            UNITS + "thresholds: {no_data_quarters: 2.5}\n",
            "thresholds.no_data_quarters must be a whole number, not 2.5",
        ),
        (UNITS + "thresholds: {no_data_quarters: 0}\n", "thresholds.no_data_quarters must be at least 1, not 0"),
        (UNITS + "ingest: {max_file_mb: 0}\n", "ingest.max_file_mb must be more than 0, not 0"),
        (UNITS + "thresholds: [0.9]\n", "thresholds must be a mapping of names to values, not a list"),
        (UNITS + "workbench: {name: [a, b]}\n", "workbench.name must be text (put it in quotes), not a list"),
        (
            UNITS + "calendar: {current_quarter: 2026Q3}\n",
            "calendar.current_quarter must be a quarter like 2026-Q3, not '2026Q3'",
        ),
        (
            UNITS + "calendar: {first_quarter: 2026-01-01}\n",
            "calendar.first_quarter must be text (put it in quotes), not a date",
        ),
        ("units:\n  - {code: AFR, type: regoin}\n", "units[0].type must be one of 'region' or 'cluster', not 'regoin'"),
        ("units:\n  - {code: AFR}\n", "units[0].type is required"),
        (
            "units:\n  - {code: afr, type: region}\n",
            f"units[0].code must be a unit code matching {schema.UNIT_CODE_RE.pattern}, not 'afr'",
        ),
        ("units:\n  - {code: AFR, type: region, approvers: Ann}\n", "units[0].approvers must be a list, not 'Ann'"),
        (
            "units:\n  - {code: AFR, type: region, name: no}\n",
            "units[0].name must be text (put it in quotes), not False",
        ),
        ("units:\n  - {code: AFR, type: region}\n  - {code: AFR, type: cluster}\n", "units: unit AFR listed twice"),
        ("units: []\n", "units: at least one unit is required"),
        (
            UNITS + "authority: {unit: {target_change_share: -0.1}}\n",
            "authority.unit.target_change_share must be at least 0, not -0.1",
        ),
        (
            UNITS + "authority: {unit: {add_drop_results: 'no'}}\n",
            "authority.unit.add_drop_results must be true or false, not 'no'",
        ),
        (UNITS + "authority: {bureau: {approvers: Nadia}}\n", "authority.bureau.approvers must be a list, not 'Nadia'"),
        (
            UNITS + "action_plan: {programmes: [{code: connectivity, name: C}], "
            "themes: [{code: broadband, programme: conectivity}]}\n",
            "action_plan.themes[0].programme: 'conectivity' is not a code of action_plan.programmes; "
            "did you mean connectivity?",
        ),
        (
            UNITS + "action_plan: {programmes: [{code: p, name: P}], themes: [{code: t, programme: zzz}]}\n",
            "action_plan.themes[0].programme: 'zzz' is not a code of action_plan.programmes; listed: p",
        ),
        (
            UNITS + "action_plan: {themes: [{code: t, programme: p}]}\n",
            "action_plan.themes[0].programme: 'p' is not a code of action_plan.programmes; none is listed",
        ),
        (
            UNITS + "action_plan: {programmes: [{code: p, name: P}, {code: p, name: Q}]}\n",
            "action_plan.programmes[1].code: p is listed twice",
        ),
        (
            "units:\n  - {code: AFR, type: region}\n  - {code: NDI, type: cluster, themes: [broadband, spectrm]}\n"
            "action_plan:\n  programmes: [{code: connectivity, name: C}]\n"
            "  themes: [{code: broadband, programme: connectivity}, {code: spectrum, programme: connectivity}]\n",
            "units[1].themes[1]: 'spectrm' is not a code of action_plan.themes; did you mean spectrum?",
        ),
        (UNITS + "action_plan: {programmes: [{code: p}]}\n", "action_plan.programmes[0].name is required"),
        ("workbench: {name: x}\n", "units is required"),
        ("units: {code: AFR}\n", "units must be a list, not a mapping"),
        ("units:\n  - AFR\n", "units[0] must be a mapping of names to values, not 'AFR'"),
    ],
)
def test_a_wrong_value_names_file_path_and_expectation(tmp_path: Path, text: str, expected: str):
    assert _refused(tmp_path, text) == f"{tmp_path / 'workbench.yaml'}: {expected}"


def test_the_shipped_action_plan_is_the_kigali_action_plan():
    """Programmes are the five Kigali Action Plan priorities of the reference copy, in its order;
    every theme is filed under one of them, and every unit's themes are listed."""
    plan = load_config(DEFAULT_CONFIG).action_plan
    ref = PROJECT_ROOT / "rbm_utils" / "demo" / "reference" / "itu_reference.yaml"
    kigali = yaml.safe_load(ref.read_text(encoding="utf-8"))["kigali_action_plan_2022_priorities"]
    assert list(plan.programmes.values()) == kigali
    assert list(plan.programmes) == [
        "connectivity",
        "transformation",
        "enabling_env",
        "cooperation",
        "inclusive_secure",
    ]
    assert set(plan.theme_programme.values()) <= set(plan.programmes)
    assert (
        plan.theme_programme["broadband"] == "connectivity" and plan.name("connectivity") == "Affordable connectivity"
    )
    units = load_config(DEFAULT_CONFIG).units.values()
    assert {t for u in units for t in u.themes} <= set(plan.themes)


def test_without_an_action_plan_programme_and_theme_stay_free_text(tmp_path: Path):
    cfg = _load(tmp_path, UNITS.replace("approvers: [Ann]}", "approvers: [Ann], themes: [anything]}"))
    assert cfg.action_plan == ActionPlan() and cfg.unit("AFR").themes == ("anything",)
    assert cfg.action_plan.programme_of("", "anything") == "" and cfg.action_plan.name("Free") == "Free"
    cfg = _load(tmp_path, UNITS + "action_plan:\n")
    assert cfg.action_plan == ActionPlan()
    cfg = _load(
        tmp_path, UNITS + "action_plan: {programmes: [{code: p, name: P}], themes: [{code: t, programme: p}]}\n"
    )
    assert cfg.action_plan == ActionPlan({"p": "P"}, {"t": "t"}, {"t": "p"})  # a theme's name defaults to its code


def test_key_paths():
    assert key_path(("units", 3, "themes", 1)) == "units[3].themes[1]"
    assert key_path(()) == "the top level" and key_path((1,)) == "1"


def test_the_model_is_immutable():
    s = Settings.model_validate({"units": [{"code": "AFR", "type": "region"}]})
    with pytest.raises(ValidationError, match="frozen"):
        s.thresholds.on_track = 0.1  # type: ignore[misc]


# ------------------------------------------------------------------------ hostile files


def _bomb(indent: str) -> str:
    """Nine levels of nine-fold aliases (9**9 strings if expanded), one anchored list per line."""
    lines = [f"{indent}- &a0 [" + ",".join(["lol"] * 9) + "]"]
    lines += [f"{indent}- &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("units: !!python/object/apply:os.system ['echo pwned']\n", "is not valid YAML"),
        ("units:\n  - !!python/object/new:subprocess.Popen [['true']]\n", "is not valid YAML"),
        ("calendar: !!python/name:os.system\n", "is not valid YAML"),
        (
            "stash:\n" + _bomb("  ") + "units:\n  - {code: AFR, type: region, name: *a8}\n",
            "stash is not a known setting; known settings:",
        ),
        (
            "units:\n  - code: AFR\n    type: region\n    themes:\n" + _bomb("      ") + "    name: *a8\n",
            "must be text (put it in quotes), not a list",
        ),
        ("[" * 5000 + "]" * 5000 + "\n", "settings file"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("units: [{code: AFR, type: region}]\n1: x\n", "1 is not a valid key (keys are text)"),
    ],
)
@pytest.mark.timeout(120)  # generous: an expanded alias bomb would take hours and gigabytes
def test_hostile_files_are_a_config_error_quickly(tmp_path: Path, text: str, expected: str):
    message = _refused(tmp_path, text)
    assert expected in message and len(message) < 2000


def test_too_large_or_not_utf8_or_missing(tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (MAX_CONFIG_BYTES + 10) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="refused unread"):
        load_config(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("workbench: {name: 'Bureau \u00e9'}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_funding_settings_are_read_and_checked(tmp_path: Path):
    cfg = _load(
        tmp_path,
        UNITS + "funding:\n  pipeline_weights: {pledged: 0.5}\n  regular_budget_sources: [Regular budget, Core fund]\n",
    )
    assert cfg.funding.pipeline_weights == {"prospect": 0.1, "proposal_submitted": 0.3, "pledged": 0.5}
    assert cfg.funding.regular_budget_sources == ("Regular budget", "Core fund")
    message = _refused(tmp_path, UNITS + "funding:\n  pipeline_weights: {pledged: 1.5}\n")
    assert "funding.pipeline_weights.pledged" in message
    assert "did you mean funding.pipeline_weights.pledged" in _refused(
        tmp_path, UNITS + "funding:\n  pipeline_weights: {pleged: 0.5}\n"
    )
