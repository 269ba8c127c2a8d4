"""Workbench settings from ``parameters/workbench.yaml`` (read with ``yaml.safe_load``).

Example:
    >>> from rbm_utils.config import load_config
    >>> cfg = load_config()
    >>> cfg.unit("AFR").type
    'region'
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .schema import UNIT_CODE_RE, UNIT_TYPES, parse_period

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "parameters" / "workbench.yaml"

DEFAULT_THRESHOLDS: dict[str, float] = {
    "on_track": 0.9,
    "at_risk": 0.7,
    "no_data_quarters": 2,
    "forecast_min_points": 3,
    "assumption_margin": 0.10,
    "risk_medium": 10,
    "risk_high": 15,
    "risk_critical": 20,
    "execution_gap": 0.15,
    "percent_scale_max": 100,
    "activity_lag_points": 25,
}

DEFAULT_INGEST_LIMITS: dict[str, float] = {
    "max_file_mb": 50,
    "max_zip_entries": 2000,
    "max_uncompressed_mb": 200,
    "max_compression_ratio": 200,
    "max_rows_per_sheet": 200000,
    "max_columns_per_sheet": 100,
}


class ConfigError(ValueError):
    """The settings file is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    type: str
    approvers: tuple[str, ...] = ()
    approver_role: str = ""
    themes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    units: dict[str, Unit]
    thresholds: dict[str, float]
    ingest: dict[str, float]
    first_quarter: str
    current_quarter: str
    currency: str
    store_url: str
    name: str = "RBM workbench"
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def unit(self, code: str) -> Unit:
        try:
            return self.units[code]
        except KeyError:
            raise ConfigError(f"unknown unit {code!r}; known units: {', '.join(self.units)}") from None

    @property
    def regions(self) -> list[str]:
        return [u.code for u in self.units.values() if u.type == "region"]

    @property
    def clusters(self) -> list[str]:
        return [u.code for u in self.units.values() if u.type == "cluster"]


def _resolve_store_url(url: str) -> str:
    """Make a relative SQLite path absolute against the project root."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(PROJECT_ROOT / url[len(prefix):])
    return url


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and check the workbench settings. Raises :class:`ConfigError` with a plain message."""
    p = Path(path or os.environ.get("RBM_CONFIG") or DEFAULT_CONFIG)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {p}: expected a mapping at the top level")
    units: dict[str, Unit] = {}
    for i, u in enumerate(data.get("units") or []):
        code = str(u.get("code", ""))
        if not UNIT_CODE_RE.match(code):
            raise ConfigError(f"{p}: units[{i}]: unit code {code!r} must match {UNIT_CODE_RE.pattern}")
        if u.get("type") not in UNIT_TYPES:
            raise ConfigError(f"{p}: unit {code}: type must be one of {UNIT_TYPES}")
        if code in units:
            raise ConfigError(f"{p}: unit {code} listed twice")
        units[code] = Unit(
            code=code,
            name=str(u.get("name", code)),
            type=u["type"],
            approvers=tuple(str(a) for a in u.get("approvers") or ()),
            approver_role=str(u.get("approver_role", "")),
            themes=tuple(str(t) for t in u.get("themes") or ()),
        )
    if not units:
        raise ConfigError(f"{p}: no units defined")
    cal = data.get("calendar") or {}
    first = str(cal.get("first_quarter", "2020-Q1"))
    current = str(cal.get("current_quarter", first))
    for name, q in (("first_quarter", first), ("current_quarter", current)):
        if parse_period(q) is None:
            raise ConfigError(f"{p}: calendar.{name} {q!r} is not a quarter like 2026-Q3")
    thresholds = {**DEFAULT_THRESHOLDS, **(data.get("thresholds") or {})}
    ingest = {**DEFAULT_INGEST_LIMITS, **(data.get("ingest") or {})}
    wb = data.get("workbench") or {}
    store_url = os.environ.get("RBM_STORE") or (data.get("store") or {}).get("url") or "sqlite:///data/rbm.sqlite"
    return Config(
        units=units,
        thresholds=thresholds,
        ingest=ingest,
        first_quarter=first,
        current_quarter=current,
        currency=str(wb.get("currency", "CHF")),
        store_url=_resolve_store_url(store_url),
        name=str(wb.get("name", "RBM workbench")),
        path=p,
        raw=data,
    )
