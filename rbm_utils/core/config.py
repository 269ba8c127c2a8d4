"""Workbench settings from ``parameters/workbench.yaml`` (read with ``yaml.safe_load``).

The file is checked against the typed model of :mod:`rbm_utils.core.settings`: an unknown or
misspelt key, a value of the wrong type or a bad quarter is refused with a :class:`ConfigError`
that names the file, the key path and what was expected (for a misspelt key, the nearest valid
key).

Example:
    >>> from rbm_utils.core.config import load_config
    >>> cfg = load_config()
    >>> cfg.unit("AFR").type
    'region'
    >>> cfg.thresholds["on_track"], cfg.current_quarter
    (0.9, '2026-Q3')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rbm_utils.core.settings import (
    ActionPlanSettings,
    AuthoritySettings,
    FundingSettings,
    IatiSettings,
    IngestSettings,
    Settings,
    ThresholdSettings,
    settings_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "parameters" / "workbench.yaml"

#: The default rules (docs/rules.md): every key of ``thresholds:`` with its default value.
DEFAULT_THRESHOLDS: dict[str, float] = ThresholdSettings().model_dump()

#: The default ingest limits: every key of ``ingest:`` with its default value.
DEFAULT_INGEST_LIMITS: dict[str, float] = IngestSettings().model_dump()


class ConfigError(ValueError):
    """The settings file is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Unit:
    """One unit of the bureau (a regional office or a thematic cluster) and who approves it."""

    code: str
    name: str
    type: str
    approvers: tuple[str, ...] = ()
    approver_role: str = ""
    themes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authority:
    """Delegated authority (``authority:`` of the settings): what a unit's approver may decide
    alone, and who approves beyond that (the bureau approvers, any unit).

    >>> a = Authority()
    >>> a.target_change_share, a.budget_move_amount, a.add_drop_results, a.bureau_approvers
    (0.1, 50000, False, ())
    """

    bureau_role: str = "bureau approver"
    bureau_approvers: tuple[str, ...] = ()
    target_change_share: float = 0.10
    budget_move_share: float = 0.10
    budget_move_amount: float = 50000
    add_drop_activities: bool = True
    add_drop_results: bool = False

    @classmethod
    def from_settings(cls, s: AuthoritySettings) -> Authority:
        """The checked ``authority:`` section as an :class:`Authority`."""
        return cls(
            bureau_role=s.bureau.role,
            bureau_approvers=s.bureau.approvers,
            target_change_share=s.unit.target_change_share,
            budget_move_share=s.unit.budget_move_share,
            budget_move_amount=s.unit.budget_move_amount,
            add_drop_activities=s.unit.add_drop_activities,
            add_drop_results=s.unit.add_drop_results,
        )


@dataclass(frozen=True)
class Funding:
    """Resource mobilisation settings (``funding:``): the weight of each open stage in the
    weighted pipeline and the Budget funding sources counted as secured (compared ignoring case).

    >>> f = Funding()
    >>> f.pipeline_weights["pledged"], f.regular_budget_sources
    (0.7, ('Regular budget',))
    """

    pipeline_weights: dict[str, float] = field(default_factory=lambda: FundingSettings().pipeline_weights.model_dump())
    regular_budget_sources: tuple[str, ...] = ("Regular budget",)

    @classmethod
    def from_settings(cls, s: FundingSettings) -> Funding:
        """The checked ``funding:`` section as a :class:`Funding`."""
        return cls(pipeline_weights=s.pipeline_weights.model_dump(), regular_budget_sources=s.regular_budget_sources)


@dataclass(frozen=True)
class ActionPlan:
    """The code lists of Results.programme and Results.theme (``action_plan:`` of the settings).

    ``programmes``: code -> name; ``themes``: code -> name; ``theme_programme``: theme code ->
    its programme's code. Empty lists leave the column free text.

    >>> plan = ActionPlan({"connectivity": "Affordable connectivity"}, {"broadband": "Broadband"},
    ...                   {"broadband": "connectivity"})
    >>> plan.programme_of("", "broadband"), plan.programme_of("other", "broadband"), plan.name("connectivity")
    ('connectivity', 'other', 'Affordable connectivity')
    >>> ActionPlan().name("Free text"), ActionPlan().programme_of("", "broadband")
    ('Free text', '')
    """

    programmes: dict[str, str] = field(default_factory=dict)
    themes: dict[str, str] = field(default_factory=dict)
    theme_programme: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, s: ActionPlanSettings) -> ActionPlan:
        """The checked ``action_plan:`` section as an :class:`ActionPlan`."""
        return cls(
            {p.code: p.name for p in s.programmes},
            {t.code: t.name for t in s.themes},
            {t.code: t.programme for t in s.themes},
        )

    def name(self, programme: str) -> str:
        """The programme's name (a value that is not a listed code is shown as it is)."""
        return self.programmes.get(programme, programme)

    def programme_of(self, programme: str, theme: str) -> str:
        """The programme a result counts under: its own, else its theme's (blank if neither)."""
        return programme or self.theme_programme.get(theme, "")


@dataclass(frozen=True)
class Config:
    """The checked settings; ``thresholds`` and ``ingest`` hold every key (defaults filled in)."""

    units: dict[str, Unit]
    thresholds: dict[str, float]
    ingest: dict[str, float]
    first_quarter: str
    current_quarter: str
    currency: str
    store_url: str
    name: str = "RBM workbench"
    authority: Authority = field(default_factory=Authority)
    report_due_days: int = 20
    funding: Funding = field(default_factory=Funding)
    iati: IatiSettings = field(default_factory=IatiSettings)
    action_plan: ActionPlan = field(default_factory=ActionPlan)
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def unit(self, code: str) -> Unit:
        """The unit ``code``; a ConfigError naming the known units if there is none."""
        try:
            return self.units[code]
        except KeyError:
            raise ConfigError(f"unknown unit {code!r}; known units: {', '.join(self.units)}") from None

    @property
    def regions(self) -> list[str]:
        """Codes of the regional offices, in settings order."""
        return [u.code for u in self.units.values() if u.type == "region"]

    @property
    def clusters(self) -> list[str]:
        """Codes of the thematic clusters, in settings order."""
        return [u.code for u in self.units.values() if u.type == "cluster"]


def _resolve_store_url(url: str) -> str:
    """Make a relative SQLite path absolute against the project root."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(PROJECT_ROOT / url[len(prefix) :])
    return url


#: A settings file larger than this is refused unread (it is a few kilobytes).
MAX_CONFIG_BYTES = 1_000_000


def shown_path(p: Path) -> str:
    """``p`` relative to the project root when it lies inside it (as messages show it), else as given.

    >>> shown_path(DEFAULT_CONFIG)
    'parameters/workbench.yaml'
    """
    try:
        return p.resolve().relative_to(PROJECT_ROOT).as_posix()
    except (ValueError, OSError, RuntimeError):
        return str(p)


def _read(p: Path) -> Any:
    """The parsed YAML of ``p`` (``yaml.safe_load``: no python tags), or a ConfigError."""
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"settings file {p} is over {MAX_CONFIG_BYTES // 1000} kB; refused unread")
        return yaml.safe_load(p.read_text(encoding="utf-8"))
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


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and check the workbench settings. Raises :class:`ConfigError` with a plain message.

    The path is ``path``, else ``$RBM_CONFIG``, else ``parameters/workbench.yaml``; ``$RBM_STORE``
    overrides ``store.url``. Hostile files are refused with a ConfigError too: python tags
    (``!!python/object``) by ``yaml.safe_load``, alias bombs and wrong shapes by the typed
    model (a list where text is expected is refused, never expanded).

    >>> load_config("parameters/nowhere.yaml")
    Traceback (most recent call last):
    ...
    rbm_utils.core.config.ConfigError: settings file not found: parameters/nowhere.yaml
    """
    p = Path(path or os.environ.get("RBM_CONFIG") or DEFAULT_CONFIG)
    data = _read(p)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {p}: expected a mapping at the top level")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{shown_path(p)}: {settings_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"settings file {p} is nested too deeply") from None
    units = {u.code: Unit(u.code, u.name, u.type, u.approvers, u.approver_role, u.themes) for u in settings.units}
    return Config(
        units=units,
        thresholds=settings.thresholds.model_dump(),
        ingest=settings.ingest.model_dump(),
        first_quarter=settings.calendar.first_quarter,
        current_quarter=settings.current_quarter,
        currency=settings.workbench.currency,
        store_url=_resolve_store_url(os.environ.get("RBM_STORE") or settings.store.url),
        name=settings.workbench.name,
        authority=Authority.from_settings(settings.authority),
        report_due_days=settings.calendar.report_due_days,
        funding=Funding.from_settings(settings.funding),
        iati=settings.iati,
        action_plan=ActionPlan.from_settings(settings.action_plan),
        path=p,
        raw=data,
    )
