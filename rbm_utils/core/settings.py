"""The typed model of ``parameters/workbench.yaml``: every section and key, with its type.

Each section forbids keys it does not know, so a misspelt key is refused instead of silently
ignored. :func:`settings_problem` turns pydantic's first error into one plain sentence that
names the key path and, for an unknown key, the nearest valid key;
:func:`rbm_utils.core.config.load_config` adds the file name. Lists that refer to each other
are checked too: a theme's programme must be a listed programme and a unit's themes listed
themes (``action_plan:``), each refusal naming the key path and the nearest listed code.

Example:
    >>> s = Settings.model_validate({"units": [{"code": "AFR", "type": "region"}],
    ...                              "thresholds": {"on_track": 0.85}})
    >>> s.units[0].name, s.thresholds.on_track, s.thresholds.at_risk
    ('AFR', 0.85, 0.7)
    >>> from pydantic import ValidationError
    >>> try:
    ...     Settings.model_validate({"units": [{"code": "AFR", "type": "region"}], "thresholds": {"on_trak": 1}})
    ... except ValidationError as exc:
    ...     print(settings_problem(exc))
    thresholds.on_trak is not a known setting; did you mean thresholds.on_track?
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rbm_utils.core.quarters import Quarter, QuarterError
from rbm_utils.core.schema import UNIT_CODE_RE

#: The kinds of unit (same codes as ``schema.UNIT_TYPES``; a test keeps them equal).
UnitType = Literal["region", "cluster"]


def _number(value: Any) -> Any:
    """Accept a finite int or float (not yes/no, not text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", "a number")
    if not math.isfinite(value):
        raise PydanticCustomError("number", "a finite number")
    return value


def _whole(value: Any) -> Any:
    """Accept an int (not yes/no, not text, not 2.5)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("whole_number", "a whole number")
    return value


#: A finite number; an int stays an int, a float a float.
Number = Annotated[int | float, BeforeValidator(_number)]
#: A whole number.
Count = Annotated[int, BeforeValidator(_whole)]


class Section(BaseModel):
    """A block of settings: immutable, and an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitSettings(Section):
    """One unit under ``units:``; a blank optional key counts as absent; the name defaults to the code."""

    code: StrictStr
    type: UnitType
    name: StrictStr = ""
    approver_role: StrictStr = ""
    approvers: tuple[StrictStr, ...] = ()
    themes: tuple[StrictStr, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            optional = ("name", "approver_role", "approvers", "themes")
            data = {k: v for k, v in data.items() if not (k in optional and v is None)}
            if "name" not in data and isinstance(data.get("code"), str):
                data["name"] = data["code"]
        return data

    @field_validator("code")
    @classmethod
    def _code(cls, code: str) -> str:
        if not UNIT_CODE_RE.match(code):
            raise PydanticCustomError("unit_code", "a unit code matching {pattern}", {"pattern": UNIT_CODE_RE.pattern})
        return code


class WorkbenchSettings(Section):
    """``workbench:`` the bureau's name and currency."""

    name: StrictStr = "RBM workbench"
    currency: StrictStr = "CHF"


class CalendarSettings(Section):
    """``calendar:`` quarters written ``YYYY-Qn`` (kept as that text)."""

    first_quarter: StrictStr = "2020-Q1"
    current_quarter: StrictStr | None = None  # None: the first quarter
    #: Days after a quarter's last day by which its workbook is due (data health: on time or late).
    report_due_days: Annotated[Count, Field(ge=0)] = 20

    @field_validator("first_quarter", "current_quarter")
    @classmethod
    def _quarter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(Quarter.parse(value))
        except QuarterError:
            raise PydanticCustomError("quarter", "a quarter like 2026-Q3") from None


class StoreSettings(Section):
    """``store:`` the SQLAlchemy URL of the store (relative SQLite paths: from the project root)."""

    url: StrictStr = "sqlite:///data/rbm.sqlite"


class ThresholdSettings(Section):
    """``thresholds:`` the default rules of docs/rules.md."""

    on_track: Annotated[Number, Field(ge=0)] = 0.9
    at_risk: Annotated[Number, Field(ge=0)] = 0.7
    no_data_quarters: Annotated[Count, Field(ge=1)] = 2
    forecast_min_points: Annotated[Count, Field(ge=1)] = 3
    assumption_margin: Annotated[Number, Field(ge=0)] = 0.10
    risk_medium: Annotated[Count, Field(ge=1)] = 10
    risk_high: Annotated[Count, Field(ge=1)] = 15
    risk_critical: Annotated[Count, Field(ge=1)] = 20
    escalate_critical: Annotated[Count, Field(ge=1)] = 20
    escalate_high: Annotated[Count, Field(ge=1)] = 15
    escalate_overdue_days: Annotated[Count, Field(ge=0)] = 30
    execution_gap: Annotated[Number, Field(ge=0)] = 0.15
    percent_scale_max: Annotated[Number, Field(gt=0)] = 100
    activity_lag_points: Annotated[Number, Field(ge=0)] = 25
    outlier_z: Annotated[Number, Field(gt=0)] = 3.5
    outlier_min_points: Annotated[Count, Field(ge=1)] = 5
    synergy_common_share: Annotated[Number, Field(ge=0, le=1)] = 0.5
    scaleup_min_achievement: Annotated[Number, Field(ge=0)] = 0.7
    scaleup_min_consistency: Annotated[Number, Field(ge=0, le=1)] = 0.6
    scaleup_min_quarters: Annotated[Count, Field(ge=1)] = 3
    # review agenda priority score (docs/rules.md, "Priority score"): weights and where a part counts fully
    agenda_weight_severity: Annotated[Number, Field(ge=0)] = 40
    agenda_weight_money: Annotated[Number, Field(ge=0)] = 15
    agenda_weight_people: Annotated[Number, Field(ge=0)] = 10
    agenda_weight_reach: Annotated[Number, Field(ge=0)] = 10
    agenda_weight_waited: Annotated[Number, Field(ge=0)] = 10
    agenda_weight_carried: Annotated[Number, Field(ge=0)] = 15
    agenda_money_full: Annotated[Number, Field(gt=0)] = 500000
    agenda_people_full: Annotated[Number, Field(gt=0)] = 24
    agenda_reach_full: Annotated[Number, Field(gt=0)] = 3
    agenda_wait_full: Annotated[Number, Field(gt=0)] = 4
    agenda_carried_full: Annotated[Count, Field(ge=1)] = 3


class IngestSettings(Section):
    """``ingest:`` limits applied before and while a workbook is read."""

    max_file_mb: Annotated[Number, Field(gt=0)] = 50
    max_zip_entries: Annotated[Count, Field(ge=1)] = 2000
    max_uncompressed_mb: Annotated[Number, Field(gt=0)] = 200
    max_compression_ratio: Annotated[Number, Field(gt=0)] = 200
    max_rows_per_sheet: Annotated[Count, Field(ge=1)] = 200000
    max_columns_per_sheet: Annotated[Count, Field(ge=1)] = 100
    max_cells: Annotated[Count, Field(ge=1)] = 500000


class BureauAuthority(Section):
    """``authority.bureau:`` who approves changes beyond every unit's boundaries."""

    role: StrictStr = "bureau approver"
    approvers: tuple[StrictStr, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in ("role", "approvers") and v is None)}
        return data


class UnitAuthority(Section):
    """``authority.unit:`` what a unit's own approver may decide alone (docs/rules.md)."""

    target_change_share: Annotated[Number, Field(ge=0)] = 0.10
    budget_move_share: Annotated[Number, Field(ge=0)] = 0.10
    budget_move_amount: Annotated[Number, Field(ge=0)] = 50000
    add_drop_activities: StrictBool = True
    add_drop_results: StrictBool = False


class AuthoritySettings(Section):
    """``authority:`` delegated authority: the unit approver's boundaries and the bureau approvers."""

    bureau: BureauAuthority = BureauAuthority()
    unit: UnitAuthority = UnitAuthority()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in cls.model_fields and v is None)}
        return data


class PipelineWeights(Section):
    """``funding.pipeline_weights:`` the share of an open deal's amount counted in the weighted
    pipeline, by stage (docs/rules.md, "Funding framework"); signed and received deals are
    secured, declined ones count for nothing."""

    prospect: Annotated[Number, Field(ge=0, le=1)] = 0.1
    proposal_submitted: Annotated[Number, Field(ge=0, le=1)] = 0.3
    pledged: Annotated[Number, Field(ge=0, le=1)] = 0.7


class FundingSettings(Section):
    """``funding:`` resource mobilisation: pipeline weights and the budget sources counted as secured."""

    pipeline_weights: PipelineWeights = PipelineWeights()
    regular_budget_sources: tuple[StrictStr, ...] = ("Regular budget",)


class IatiSettings(Section):
    """``iati:`` who publishes the IATI file (``rbm export iati``) and where imported results go
    (``rbm import iati``); docs/exports.md."""

    #: The reporting organisation's IATI organisation identifier, e.g. ``XM-DAC-41114``.
    reporting_org_ref: StrictStr = "XM-DAC-00000"
    reporting_org_name: StrictStr = "Reporting organisation"
    #: IATI OrganisationType code of the reporting organisation (40: multilateral).
    reporting_org_type: StrictStr = "40"
    #: Prefix of each activity's iati-identifier (the unit code follows); starts with the org ref.
    activity_prefix: StrictStr = "XM-DAC-00000-"
    #: ISO 639-1 code of the language of the text (the activity's default xml:lang).
    language: StrictStr = "en"
    #: Folder of the other organisations' results imported with ``rbm import iati`` (from the project root).
    benchmarks_dir: StrictStr = "data/benchmarks"

    @model_validator(mode="after")
    def _prefix_starts_with_ref(self) -> IatiSettings:
        if not self.activity_prefix.startswith(self.reporting_org_ref):
            raise PydanticCustomError(
                "iati_prefix",
                "activity_prefix must start with reporting_org_ref {ref}",
                {"ref": self.reporting_org_ref},
            )
        return self


class ProgrammeSettings(Section):
    """One programme under ``action_plan.programmes``: a short code and its name."""

    code: StrictStr
    name: StrictStr


class ThemeSettings(Section):
    """One theme under ``action_plan.themes``: its code, name and the code of its programme."""

    code: StrictStr
    name: StrictStr = ""
    programme: StrictStr

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if not (k == "name" and v is None)}
            if "name" not in data and isinstance(data.get("code"), str):
                data["name"] = data["code"]
        return data


def _nearest(value: str, valid: list[str]) -> str:
    """``"; did you mean X?"`` for the nearest of ``valid`` (ignoring case), or the list of them.

    >>> _nearest("brodband", ["broadband", "spectrum"]), _nearest("zzz", ["a", "b"])
    ('; did you mean broadband?', '; listed: a, b')
    """
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1)
    if close:
        return f"; did you mean {lowered[close[0]]}?"
    return f"; listed: {', '.join(valid)}" if valid else "; none is listed"


class ActionPlanSettings(Section):
    """``action_plan:`` the code lists of Results.programme and Results.theme (empty: free text).

    Each theme names the programme it is filed under, which must be a listed programme.
    """

    programmes: tuple[ProgrammeSettings, ...] = ()
    themes: tuple[ThemeSettings, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in cls.model_fields and v is None)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ActionPlanSettings:
        lists: tuple[tuple[str, list[str]], ...] = (
            ("programmes", [p.code for p in self.programmes]),
            ("themes", [t.code for t in self.themes]),
        )
        for key, listed in lists:
            seen: set[str] = set()
            for i, code in enumerate(listed):
                if code in seen:
                    raise PydanticCustomError(
                        "action_plan",
                        "action_plan.{key}[{i}].code: {code} is listed twice",
                        {"key": key, "i": i, "code": code},
                    )
                seen.add(code)
        codes = [p.code for p in self.programmes]
        for i, t in enumerate(self.themes):
            if t.programme not in codes:
                raise PydanticCustomError(
                    "action_plan",
                    "action_plan.themes[{i}].programme: '{value}' is not a code of action_plan.programmes{hint}",
                    {"i": i, "value": t.programme, "hint": _nearest(t.programme, codes)},
                )
        return self


class Settings(Section):
    """The whole file. Only ``units`` is required; a blank section counts as absent."""

    workbench: WorkbenchSettings = WorkbenchSettings()
    calendar: CalendarSettings = CalendarSettings()
    store: StoreSettings = StoreSettings()
    units: Annotated[tuple[UnitSettings, ...], Field(min_length=1)]
    thresholds: ThresholdSettings = ThresholdSettings()
    ingest: IngestSettings = IngestSettings()
    authority: AuthoritySettings = AuthoritySettings()
    funding: FundingSettings = FundingSettings()
    iati: IatiSettings = IatiSettings()
    action_plan: ActionPlanSettings = ActionPlanSettings()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in cls.model_fields and k != "units" and v is None)}
        return data

    @field_validator("units")
    @classmethod
    def _unique_codes(cls, units: tuple[UnitSettings, ...]) -> tuple[UnitSettings, ...]:
        seen: set[str] = set()
        for u in units:
            if u.code in seen:
                raise PydanticCustomError("duplicate_unit", "unit {code} listed twice", {"code": u.code})
            seen.add(u.code)
        return units

    @model_validator(mode="after")
    def _unit_themes_listed(self) -> Settings:
        """With themes listed under ``action_plan``, each unit's themes must be among them."""
        themes = [t.code for t in self.action_plan.themes]
        if not themes:
            return self
        for i, u in enumerate(self.units):
            for j, theme in enumerate(u.themes):
                if theme not in themes:
                    raise PydanticCustomError(
                        "action_plan",
                        "units[{i}].themes[{j}]: '{value}' is not a code of action_plan.themes{hint}",
                        {"i": i, "j": j, "value": theme, "hint": _nearest(theme, themes)},
                    )
        return self

    @property
    def current_quarter(self) -> str:
        """The quarter under review (the first quarter when not set)."""
        return self.calendar.current_quarter or self.calendar.first_quarter


# --------------------------------------------------------------------------------------
# plain messages
# --------------------------------------------------------------------------------------

#: What each pydantic error type expects, in words ("must be ...").
_EXPECTED = {
    "string_type": "text (put it in quotes)",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping of names to values",
    "model_type": "a mapping of names to values",
    "model_attributes_type": "a mapping of names to values",
    "bool_type": "true or false",
}


def key_path(loc: tuple[int | str, ...]) -> str:
    """``('units', 2, 'code')`` -> ``units[2].code``.

    >>> key_path(("thresholds", "on_track")), key_path(("units", 2, "themes", 0))
    ('thresholds.on_track', 'units[2].themes[0]')
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) and out else (f".{part}" if out else str(part))
    return out or "the top level"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings model that holds the key at ``loc`` (None if not a model)."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _shown(value: Any) -> str:
    """A short description of a value, never expanding a list or mapping (an alias bomb would)."""
    if isinstance(value, (list, tuple, set)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty"
    if isinstance(value, (str, int, float, bool)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"


def settings_problem(exc: ValidationError) -> str:
    """One sentence for the first problem of ``exc``: the key path and what is wrong.

    Unknown keys come first (a misspelt key also makes its right spelling "missing"); one gets
    the nearest valid key (``difflib``, ignoring case), or the list of valid keys.
    """
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    path = key_path(loc)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(loc)
        valid = list(model.model_fields) if model is not None else []
        parent = key_path(loc[:-1]) if loc[:-1] else ""
        lowered = {k.lower(): k for k in valid}
        close = [lowered[k] for k in difflib.get_close_matches(str(loc[-1]).lower(), list(lowered), n=1)]
        full = lambda k: f"{parent}.{k}" if parent else k  # noqa: E731
        if close:
            return f"{path} is not a known setting; did you mean {full(close[0])}?"
        return f"{path} is not a known setting; known settings{' of ' + parent if parent else ''}: {', '.join(valid)}"
    if kind == "invalid_key":
        return f"{path} is not a valid key (keys are text)"
    if kind == "missing":
        return f"{path} is required"
    if kind == "action_plan":
        return str(err["msg"])  # the message names the key path itself
    if kind == "too_short" and loc == ("units",):
        return "units: at least one unit is required"
    if kind in ("number", "whole_number", "unit_code", "quarter"):
        expected = err["msg"]
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected')}"
    elif kind in ("greater_than_equal", "greater_than"):
        expected = f"{'at least' if kind == 'greater_than_equal' else 'more than'} {ctx.get('ge', ctx.get('gt'))}"
    else:
        return f"{path}: {err['msg']}"
    return f"{path} must be {expected}, not {_shown(err.get('input'))}"
