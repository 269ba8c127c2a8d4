"""Workbench settings from ``parameters/workbench.yaml`` (read with ``yaml.safe_load``).

Example:
    >>> from rbm_utils.core.config import load_config
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

from rbm_utils.core.schema import UNIT_CODE_RE, UNIT_TYPES, parse_period

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
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
    "outlier_z": 3.5,
    "outlier_min_points": 5,
}

DEFAULT_INGEST_LIMITS: dict[str, float] = {
    "max_file_mb": 50,
    "max_zip_entries": 2000,
    "max_uncompressed_mb": 200,
    "max_compression_ratio": 200,
    "max_rows_per_sheet": 200000,
    "max_columns_per_sheet": 100,
    "max_cells": 500000,
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


#: A settings file larger than this is refused unread (it is a few kilobytes).
MAX_CONFIG_BYTES = 1_000_000


def _mapping(data: dict, key: str, p: Path) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{p}: '{key}' must be a mapping of names to values")
    return value


def _scalar(value: Any, where: str, p: Path) -> Any:
    """A plain value (text, number, yes/no, date); a list or mapping where one is expected is an error
    (and is never turned into text: an alias bomb would expand)."""
    if isinstance(value, (list, dict, set, tuple)):
        raise ConfigError(f"{p}: {where} must be a single value, not a list or mapping")
    return value


def _numbers(values: dict, where: str, p: Path) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{p}: {where}.{k} must be a number, not {str(_scalar(v, f'{where}.{k}', p))[:40]!r}")
        out[str(k)] = v
    return out


def _texts(value: Any, where: str, p: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{p}: {where} must be a list")
    return tuple(str(_scalar(v, where, p)) for v in value)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and check the workbench settings. Raises :class:`ConfigError` with a plain message.

    Hostile files are refused with a ConfigError too: python tags (``!!python/object``) by
    ``yaml.safe_load``, alias bombs and wrong shapes by the checks of every value used.
    """
    p = Path(path or os.environ.get("RBM_CONFIG") or DEFAULT_CONFIG)
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"settings file {p} is over {MAX_CONFIG_BYTES // 1000} kB; refused unread")
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {p} is not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"settings file {p} is not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"settings file {p} is nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"settings file {p} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {p}: expected a mapping at the top level")
    units: dict[str, Unit] = {}
    unit_list = data.get("units") or []
    if not isinstance(unit_list, list):
        raise ConfigError(f"{p}: 'units' must be a list of units")
    for i, u in enumerate(unit_list):
        if not isinstance(u, dict):
            raise ConfigError(f"{p}: units[{i}] must be a mapping with code, name and type")
        code = str(_scalar(u.get("code", ""), f"units[{i}].code", p))
        if not UNIT_CODE_RE.match(code):
            raise ConfigError(f"{p}: units[{i}]: unit code {code!r} must match {UNIT_CODE_RE.pattern}")
        if u.get("type") not in UNIT_TYPES:
            raise ConfigError(f"{p}: unit {code}: type must be one of {UNIT_TYPES}")
        if code in units:
            raise ConfigError(f"{p}: unit {code} listed twice")
        units[code] = Unit(
            code=code,
            name=str(_scalar(u.get("name", code), f"unit {code}: name", p)),
            type=u["type"],
            approvers=_texts(u.get("approvers"), f"unit {code}: approvers", p),
            approver_role=str(_scalar(u.get("approver_role", ""), f"unit {code}: approver_role", p)),
            themes=_texts(u.get("themes"), f"unit {code}: themes", p),
        )
    if not units:
        raise ConfigError(f"{p}: no units defined")
    cal = _mapping(data, "calendar", p)
    first = str(_scalar(cal.get("first_quarter", "2020-Q1"), "calendar.first_quarter", p))
    current = str(_scalar(cal.get("current_quarter", first), "calendar.current_quarter", p))
    for name, q in (("first_quarter", first), ("current_quarter", current)):
        if parse_period(q) is None:
            raise ConfigError(f"{p}: calendar.{name} {q!r} is not a quarter like 2026-Q3")
    thresholds = {**DEFAULT_THRESHOLDS, **_numbers(_mapping(data, "thresholds", p), "thresholds", p)}
    ingest = {**DEFAULT_INGEST_LIMITS, **_numbers(_mapping(data, "ingest", p), "ingest", p)}
    wb = _mapping(data, "workbench", p)
    store_url = str(os.environ.get("RBM_STORE") or _scalar(_mapping(data, "store", p).get("url"), "store.url", p)
                    or "sqlite:///data/rbm.sqlite")
    return Config(
        units=units,
        thresholds=thresholds,
        ingest=ingest,
        first_quarter=first,
        current_quarter=current,
        currency=str(_scalar(wb.get("currency", "CHF"), "workbench.currency", p)),
        store_url=_resolve_store_url(store_url),
        name=str(_scalar(wb.get("name", "RBM workbench"), "workbench.name", p)),
        path=p,
        raw=data,
    )
