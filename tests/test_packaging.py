"""The project's install files agree with each other and with the code."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = _pyproject()["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[test]" in pip and "-c constraints.txt" in pip
    from_pip = {_name(d) for d in pip if not d.startswith("-")}  # packages conda-forge does not carry
    named = conda | from_pip
    assert named == wanted, f"only in environment.yml: {named - wanted}; only in pyproject: {wanted - named}"


def test_constraints_pin_the_kernel_stack_above_advisories():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
    for pkg in (
        "ipykernel",
        "jupyter-client",
        "nbclient",
        "papermill",
        "voila",
        "jupyter-server",
        "nbconvert",
        "jsonschema",
    ):
        assert pkg in pins, f"{pkg} is not pinned in constraints.txt"
    assert pins["voila"] >= (0, 5, 6)
    assert pins["jupyter-server"] >= (2, 20, 0)
    assert pins["nbconvert"] >= (7, 17, 1)
    assert pins["jsonschema"] < (4, 25, 0)


def test_installed_versions_match_constraints():
    from importlib.metadata import version

    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pinned = line.split("==")
            if _name(name) in {"papermill", "voila", "jupyter-server", "nbconvert", "pandas", "jsonschema"}:
                assert version(name) == pinned.strip(), name


def test_every_command_has_help():
    from rbm_utils.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert {"template", "ingest", "approve", "history", "status", "sample"} <= set(commands)
    for name in commands:
        out = subprocess.run([sys.executable, "-m", "rbm_utils.cli", name, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage: rbm " + name in out.stdout, name


def test_usage_error_exits_2():
    out = subprocess.run([sys.executable, "-m", "rbm_utils.cli", "ingest"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_every_problem_code_is_documented():
    from rbm_utils.core.errors import CODES

    doc = (ROOT / "docs" / "ingest.md").read_text()
    missing = [c for c in CODES if f"`{c}`" not in doc]
    assert not missing, f"codes missing from docs/ingest.md: {missing}"


def test_package_data_ships_every_file_the_package_reads():
    """Files inside the package that are not Python (the sample's reference notes) are package data."""
    from rbm_utils.demo import catalogue

    data = _pyproject()["tool"]["setuptools"]["package-data"]
    shipped = [
        f
        for package, patterns in data.items()
        for pattern in patterns
        for f in (ROOT / package.replace(".", "/")).glob(pattern)
    ]
    assert catalogue.REFERENCE in shipped
    loose = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "rbm_utils").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts and p not in shipped
    ]
    assert not loose, f"files in the package that a wheel would leave out: {loose}"
