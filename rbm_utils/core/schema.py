"""The unit workbook contract: the one definition of sheets, columns, types and code lists.

The template writer (:mod:`rbm_utils.intake.template`), the reader (:mod:`rbm_utils.intake.workbook`), the validator (:mod:`rbm_utils.intake.validate`)
and the store tables (:mod:`rbm_utils.store.database`) all derive from :data:`SHEETS`. No other
module spells out a column list.

Example:
    >>> from rbm_utils.core.schema import sheet
    >>> sheet("KPIs").key
    ('kpi_id',)
    >>> sheet("KPIs").column("direction").codes
    ('increase', 'decrease')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rbm_utils.core.codes import (  # the contract's code lists, re-exported: schema.LEVELS etc.
    ACTIVITY_STATUSES,
    ACTIVITY_TYPES,
    AGGREGATIONS,
    ASSUMPTION_TESTS,
    CONTRIBUTION_TYPES,
    DECISION_KINDS,
    DECISION_STATUSES,
    DECISION_TARGETS,
    DIRECTIONS,
    FREQUENCIES,
    KPI_REGISTER_MEASURES,
    LEVELS,
    LINKAGE_BODIES,
    LINKAGE_NATURES,
    MEASURES,
    PARTNER_STAGES,
    PARTNER_TYPES,
    REGIONS,
    RISK_CATEGORIES,
    RISK_STATUSES,
    UNIT_TYPES,
    VERDICTS,
)
from rbm_utils.core.quarters import QUARTER_RE
from rbm_utils.core.text import map_unique

SCHEMA_VERSION = "1.0"

#: Column types understood by the reader and validator.
#: text: free text; id: identifier (no spaces, ``[A-Za-z0-9_.:/-]``); code: one of ``codes``;
#: number: a real number; integer: a whole number; period: a quarter ``YYYY-Qn``;
#: year: a four-digit year; date: a calendar date; id_list: ids separated by ``;``;
#: disaggregation: ``key=value`` pairs separated by ``;`` (blank for the total).
TYPES = ("text", "id", "code", "number", "integer", "period", "year", "date", "id_list", "disaggregation")

#: The written form of a period: :data:`rbm_utils.core.quarters.QUARTER_RE` (ASCII digits only).
PERIOD_RE = QUARTER_RE
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
UNIT_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")

#: Sheets that the template writes for the officer's help; the reader skips them.
HELPER_SHEETS = ("Guide", "Lists")


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its header, type, whether a value is required, and help text."""

    name: str
    type: str
    required: bool = False
    note: str = ""
    codes: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r} for {self.name}")
        if (self.type == "code") != (self.codes is not None):
            raise ValueError(f"column {self.name}: codes go with type 'code' only")


@dataclass(frozen=True)
class Sheet:
    """One sheet of the workbook. ``key`` names the columns that identify a row.

    ``kind`` is ``table`` (a header row then one row per record) or ``keyvalue``
    (two columns, ``field`` and ``value``, one row per column of the schema).
    ``periodic`` names the period column of sheets that accumulate quarter by quarter
    (a submission replaces only the periods it carries).
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    kind: str = "table"
    note: str = ""
    periodic: str | None = None
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.columns})
        missing = [k for k in self.key if k not in self._by_name]
        if missing:
            raise ValueError(f"sheet {self.name}: key columns {missing} not defined")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def table_name(self) -> str:
        """Name of this sheet's table in the store."""
        return "sheet_" + self.name.lower()

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name


def _c(name: str, type: str = "text", required: bool = False, note: str = "", codes=None, min=None, max=None) -> Column:
    return Column(name, type, required, note, tuple(codes) if codes is not None else None, min, max)


SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "Unit",
        kind="keyvalue",
        required=True,
        key=("unit_code",),
        note="Who is reporting, for which quarter. Column A holds the field, column B its value.",
        columns=(
            _c("unit_code", "id", True, "The unit's code as listed in parameters/workbench.yaml, e.g. AFR or CYB."),
            _c("unit_name", "text", True, "The unit's name."),
            _c("unit_type", "code", True, "region or cluster.", UNIT_TYPES),
            _c("reporting_quarter", "period", True, "The quarter this workbook reports on, e.g. 2026-Q3."),
            _c("submitted_by", "text", True, "Name of the M&E officer submitting the workbook."),
            _c(
                "based_on_submission",
                "integer",
                False,
                "The store's submission this workbook was made from (rbm template --from-store writes it); leave it as it is.",
                min=1,
            ),
        ),
    ),
    Sheet(
        "Results",
        required=True,
        key=("result_id",),
        note="The theory of change: one row per result, from activities to impact.",
        columns=(
            _c("result_id", "id", True, "Unique id of the result, e.g. AFR-O1."),
            _c("level", "code", True, "Level in the results chain.", LEVELS),
            _c("title", "text", True, "Short statement of the result."),
            _c("contributes_to", "id_list", False, "result_ids this result feeds, separated by ';'."),
            _c("programme", "text", False, "Programme or thematic priority."),
            _c("initiative", "text", False, "Regional initiative or project code, e.g. AFR3."),
            _c("theme", "text", False, "Theme used to compare work across regions, e.g. cybersecurity."),
        ),
    ),
    Sheet(
        "KPIs",
        required=True,
        key=("kpi_id",),
        note="SMART indicators: specific, measurable, with baseline, target, source and owner.",
        columns=(
            _c("kpi_id", "id", True, "Unique id of the KPI."),
            _c("result_id", "id", True, "The result this KPI measures (a result_id of sheet Results)."),
            _c("name", "text", True, "Short name of the indicator."),
            _c("definition", "text", False, "Exact definition: what is counted, how."),
            _c("measure", "code", True, "Unit of measure.", MEASURES),
            _c("direction", "code", True, "increase if higher is better, decrease if lower is better.", DIRECTIONS),
            _c(
                "aggregation",
                "code",
                True,
                "How quarterly values combine: sum of increments, latest, max or mean.",
                AGGREGATIONS,
            ),
            _c("baseline_value", "number", True, "Value at the baseline period."),
            _c("baseline_period", "period", True, "Quarter of the baseline, e.g. 2023-Q1."),
            _c("target_value", "number", True, "Value to reach by the target period."),
            _c("target_period", "period", True, "Quarter by which the target is due; after the baseline period."),
            _c("data_source", "text", True, "Where the figure comes from."),
            _c("frequency", "code", False, "How often it is reported.", FREQUENCIES),
            _c("responsible", "text", True, "Who reports it."),
            _c(
                "measured_from",
                "code",
                False,
                "Blank, or the partner register's amounts this KPI reports: received, or secured (checked).",
                KPI_REGISTER_MEASURES,
            ),
        ),
    ),
    Sheet(
        "Milestones",
        key=("kpi_id", "period"),
        note="Optional intermediate targets; where none is given the expected value is linear.",
        columns=(
            _c("kpi_id", "id", True, "A kpi_id of sheet KPIs."),
            _c("period", "period", True, "Quarter of the milestone."),
            _c("target_value", "number", True, "Value expected by that quarter."),
        ),
    ),
    Sheet(
        "Actuals",
        required=True,
        key=("kpi_id", "period", "disaggregation"),
        periodic="period",
        note="Reported values, one row per KPI and quarter (and breakdown, if any).",
        columns=(
            _c("kpi_id", "id", True, "A kpi_id of sheet KPIs."),
            _c("period", "period", True, "Quarter the value is for; not after the reporting quarter."),
            _c("value", "number", True, "The value (for a sum KPI: the increment in that quarter)."),
            _c("numerator", "number", False, "For percent KPIs: the count of successes."),
            _c("denominator", "number", False, "For percent KPIs: the count of cases (above zero)."),
            _c(
                "disaggregation",
                "disaggregation",
                False,
                "Breakdown as key=value pairs, e.g. 'region=AFR; sex=female'; blank for the total.",
            ),
            _c("evidence", "text", False, "Link or reference to the evidence."),
            _c("comment", "text", False, "Officer's comment."),
        ),
    ),
    Sheet(
        "Assumptions",
        key=("assumption_id",),
        note="Causal assumptions on links of the chain, each with a test against actuals.",
        columns=(
            _c("assumption_id", "id", True, "Unique id of the assumption."),
            _c("from_result", "id", True, "result_id at the start of the link."),
            _c("to_result", "id", True, "result_id at the end of the link."),
            _c("statement", "text", True, "The assumption, in words."),
            _c("test", "code", True, "How it is tested against actuals.", ASSUMPTION_TESTS),
            _c("kpi_id", "id", False, "KPI tested (all tests but manual)."),
            _c("reference_kpi_id", "id", False, "For min_ratio: the KPI in the denominator."),
            _c("threshold", "number", False, "Threshold of the test (min_ratio, min_value, min_achievement)."),
            _c("verdict", "code", False, "For manual tests: the officer's verdict.", VERDICTS),
            _c("evidence", "text", False, "For manual tests: the evidence behind the verdict."),
            _c("review_note", "text", False, "What was learnt this quarter."),
        ),
    ),
    Sheet(
        "Risks",
        key=("risk_id",),
        note="Operational risk register. Score = likelihood x impact.",
        columns=(
            _c("risk_id", "id", True, "Unique id of the risk."),
            _c("category", "code", True, "Risk category.", RISK_CATEGORIES),
            _c("title", "text", True, "Short title."),
            _c("cause", "text", False, "Cause or trigger."),
            _c("result_id", "id", False, "Result the risk threatens."),
            _c("likelihood", "integer", True, "1 (rare) to 5 (almost certain).", min=1, max=5),
            _c("impact", "integer", True, "1 (negligible) to 5 (severe).", min=1, max=5),
            _c("owner", "text", True, "Who manages the risk."),
            _c("mitigation", "text", False, "What is being done."),
            _c("status", "code", True, "open, monitoring or closed.", RISK_STATUSES),
            _c("identified_on", "date", False, "Date the risk was identified."),
            _c("review_on", "date", False, "Date of the next review."),
        ),
    ),
    Sheet(
        "Linkages",
        key=("result_id", "body", "reference"),
        note="Links to study groups and other sectors.",
        columns=(
            _c("result_id", "id", True, "The result linked."),
            _c("body", "code", True, "The other body.", LINKAGE_BODIES),
            _c("reference", "text", True, "Question or study group, e.g. Q1/1 or SG17."),
            _c("nature", "code", False, "Nature of the link.", LINKAGE_NATURES),
        ),
    ),
    Sheet(
        "Budget",
        key=("result_id", "funding_source", "year", "region"),
        note="Budget by deliverable (an output), funding source and, for a cluster, region.",
        columns=(
            _c("result_id", "id", True, "An output-level result_id."),
            _c("funding_source", "text", True, "Regular budget, ICT Development Fund, extra-budgetary donor..."),
            _c("year", "year", True, "Budget year."),
            _c("amount", "number", True, "Amount in the workbench currency.", min=0),
            _c("staff_months", "number", False, "People planned, in staff months.", min=0),
            _c("region", "code", False, "A cluster's money spent in one region; blank: not by region.", REGIONS),
        ),
    ),
    Sheet(
        "Expenditure",
        key=("result_id", "period", "funding_source", "region"),
        periodic="period",
        note="Spending by deliverable, quarter, funding source and, for a cluster, region.",
        columns=(
            _c("result_id", "id", True, "An output-level result_id."),
            _c("period", "period", True, "Quarter of the spending; not after the reporting quarter."),
            _c("funding_source", "text", True, "As in sheet Budget."),
            _c("amount", "number", True, "Amount spent.", min=0),
            _c("staff_months", "number", False, "People used, in staff months.", min=0),
            _c("region", "code", False, "A cluster's money spent in one region; blank: not by region.", REGIONS),
        ),
    ),
    Sheet(
        "Activities",
        key=("activity_id",),
        note="The work programme.",
        columns=(
            _c("activity_id", "id", True, "Unique id of the activity."),
            _c("result_id", "id", True, "The result it delivers."),
            _c("title", "text", True, "Short title."),
            _c("type", "code", True, "Kind of activity.", ACTIVITY_TYPES),
            _c("region", "code", False, "Where it happens (a cluster works across regions).", REGIONS),
            _c("status", "code", True, "Status.", ACTIVITY_STATUSES),
            _c("planned_start", "date", False, "Planned start date."),
            _c("planned_end", "date", False, "Planned end date."),
            _c("actual_start", "date", False, "Actual start date."),
            _c("actual_end", "date", False, "Actual end date."),
            _c("percent_complete", "number", False, "0 to 100.", min=0, max=100),
        ),
    ),
    Sheet(
        "Partners",
        key=("partner", "result_id", "initiative", "activity_id", "contribution_type", "reference"),
        note="Resource mobilisation register: each partner's contribution to an output, initiative or activity.",
        columns=(
            _c("partner", "text", True, "Partner's name."),
            _c("partner_type", "code", False, "Kind of partner.", PARTNER_TYPES),
            _c("result_id", "id", False, "The output it funds (or give an initiative or an activity)."),
            _c("initiative", "text", False, "The initiative it funds, e.g. AFR3."),
            _c("activity_id", "id", False, "The activity it funds, an activity_id of sheet Activities."),
            _c("contribution_type", "code", False, "cash or in-kind.", CONTRIBUTION_TYPES),
            _c("stage", "code", False, "Where the deal stands; blank in an old workbook: received.", PARTNER_STAGES),
            _c("amount", "number", True, "Value of the contribution.", min=0),
            _c("expected_date", "date", False, "When the next stage (or the money) is expected."),
            _c("actual_date", "date", False, "When the current stage was reached."),
            _c("owner", "text", False, "Staff member who owns the relationship."),
            _c("note", "text", False, "Why the stage moved back or the amount changed."),
            _c(
                "reference",
                "text",
                False,
                "Agreement or tranche reference: two contributions of a partner to one thing.",
            ),
        ),
    ),
    Sheet(
        "Decisions",
        key=("decision_id",),
        note="Decisions taken at review meetings, followed up quarter by quarter until done or dropped.",
        columns=(
            _c("decision_id", "id", True, "Unique id of the decision, e.g. AFR-D7."),
            _c("meeting_quarter", "period", True, "Quarter of the review meeting that took it."),
            _c(
                "concerns",
                "id",
                True,
                "Id of what it concerns: a kpi_id, result_id, risk_id, assumption_id, activity_id, a Budget line's result_id, or an initiative code.",
            ),
            _c("concerns_kind", "code", True, "The kind of id in concerns.", DECISION_TARGETS),
            _c("other_unit", "id", False, "For a joint review: the other unit's code."),
            _c("decision", "text", True, "The decision, in words."),
            _c("kind", "code", True, "What the decision does.", DECISION_KINDS),
            _c("owner", "text", True, "Who carries it out."),
            _c("due_quarter", "period", True, "Quarter by which it is done; not before the meeting."),
            _c("status", "code", True, "open, in_progress, done or dropped.", DECISION_STATUSES),
            _c("follow_up", "text", False, "Follow-up note: what was done, or why it was dropped."),
        ),
    ),
)

_BY_NAME = {s.name: s for s in SHEETS}

#: Cross-sheet references: (sheet, column) must name an existing (sheet, column) value.
#: ``output_only`` references must point at an output-level result.
REFERENCES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("Results", "contributes_to", "Results", "result_id", False),
    ("KPIs", "result_id", "Results", "result_id", False),
    ("Milestones", "kpi_id", "KPIs", "kpi_id", False),
    ("Actuals", "kpi_id", "KPIs", "kpi_id", False),
    ("Assumptions", "from_result", "Results", "result_id", False),
    ("Assumptions", "to_result", "Results", "result_id", False),
    ("Assumptions", "kpi_id", "KPIs", "kpi_id", False),
    ("Assumptions", "reference_kpi_id", "KPIs", "kpi_id", False),
    ("Risks", "result_id", "Results", "result_id", False),
    ("Linkages", "result_id", "Results", "result_id", False),
    ("Budget", "result_id", "Results", "result_id", True),
    ("Expenditure", "result_id", "Results", "result_id", True),
    ("Activities", "result_id", "Results", "result_id", False),
    ("Partners", "activity_id", "Activities", "activity_id", False),
    ("Partners", "result_id", "Results", "result_id", True),
)

#: What each assumption test needs besides its link (column names of sheet Assumptions).
ASSUMPTION_TEST_NEEDS: dict[str, tuple[str, ...]] = {
    "min_ratio": ("kpi_id", "reference_kpi_id", "threshold"),
    "min_value": ("kpi_id", "threshold"),
    "min_achievement": ("kpi_id", "threshold"),
    "non_decreasing": ("kpi_id",),
    "manual": ("verdict", "evidence"),
}

#: KPI fields that make an indicator SMART (all required).
SMART_FIELDS = ("baseline_value", "baseline_period", "target_value", "target_period", "data_source", "responsible")

#: Sheets whose rows make up a unit's state in the store (every sheet but Unit).
DATA_SHEETS: tuple[Sheet, ...] = tuple(s for s in SHEETS if s.kind == "table")


def sheet(name: str) -> Sheet:
    """The sheet called ``name`` (KeyError if the contract has none)."""
    return _BY_NAME[name]


def sheet_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def column_letter(index: int) -> str:
    """Excel column letter of a 0-based column index: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def pandas_dtype(column: Column) -> str:
    """The pandas dtype a column has in every DataFrame the workbench passes around.

    number -> float64; integer and year -> nullable Int64; everything else -> object
    (str or None). Dates are ISO strings ``YYYY-MM-DD``; the Actuals ``disaggregation``
    key is ``""`` for the total, otherwise canonical ``key=value; key=value`` sorted by key.
    """
    if column.type == "number":
        return "float64"
    if column.type in ("integer", "year"):
        return "Int64"
    return "object"


def empty_frame(sheet_name: str, with_unit: bool = False):
    """An empty DataFrame with a sheet's columns and dtypes (``unit_code`` first if asked).

    >>> list(empty_frame("Milestones").columns)
    ['kpi_id', 'period', 'target_value']
    """
    import pandas as pd

    sh = sheet(sheet_name)
    cols = {c.name: pd.Series(dtype=pandas_dtype(c)) for c in sh.columns}
    if with_unit:
        cols = {"unit_code": pd.Series(dtype="object"), **cols}
    return pd.DataFrame(cols)


def conform(sheet_name: str, frame, with_unit: bool = False):
    """A copy of ``frame`` with exactly the sheet's columns (missing ones added empty), in
    contract order and dtypes. Never mutates its input.

    >>> import pandas as pd
    >>> conform("Milestones", pd.DataFrame({"kpi_id": ["K1"], "period": ["2026-Q1"], "target_value": [3]})).dtypes["target_value"]
    dtype('float64')
    """
    import pandas as pd

    sh = sheet(sheet_name)
    out = {}  # every column first, then one frame: inserting columns one by one is slow
    n = len(frame)
    names = (["unit_code"] if with_unit else []) + list(sh.column_names)
    for name in names:  # column by column, positionally (the result has a fresh 0..n-1 index)
        dtype = "object" if name == "unit_code" else pandas_dtype(sh.column(name))
        if name in frame.columns:
            s = frame[name]
            if dtype == "object":
                arr = s.to_numpy(dtype=object, copy=True)  # a copy: the result never shares the input's memory
                missing = pd.isna(arr)
                if missing.any():
                    arr[missing] = None
                s = pd.Series(arr, dtype=object, copy=False)
                if name != "unit_code" and sh.column(name).type == "disaggregation":
                    s = map_unique(s, lambda v: "" if v is None else v)
                elif name in sh.key and not sh.column(name).required:  # the store keys a blank as ""
                    s = map_unique(s, lambda v: None if v == "" else v)
            else:
                s = pd.to_numeric(s).astype(dtype).reset_index(drop=True)
            out[name] = s
        else:
            blank = "" if name != "unit_code" and sh.column(name).type == "disaggregation" else None
            out[name] = pd.Series([blank] * n, dtype=dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(n))
