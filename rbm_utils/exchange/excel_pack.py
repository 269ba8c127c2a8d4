"""The review pack: one Excel workbook per published review, for managers who work in Excel.

A unit's pack (and the bureau overview's) holds one sheet per table the review shows -- KPI
progress, assumptions, red flags, risks, money, funding (when published), decisions, agenda --
with the columns of :mod:`rbm_utils.present.columns` (the notebook's and the dashboard's),
readable headers, number formats (percentages, amounts, dates), a frozen header row, an
autofilter and status cells coloured with the words and colours of
:mod:`rbm_utils.present.labels`. A cover sheet says what the pack is and where its figures come
from (snapshot, analysis and each unit's submission).

The pack is built from the tables published beside the review (``kpi_progress.parquet`` ...),
never recomputed. Every text cell goes through :func:`rbm_utils.core.spreadsheets.safe_text`:
text that a spreadsheet would run as a formula keeps a leading apostrophe and stays text.
The file is written to a temporary name and renamed into place (a reader never sees half a pack).

Example:
    >>> header("execution_rate"), header("kpi_id"), header("budget_year")
    ('Execution rate', 'KPI', 'Budget (year)')
    >>> write_pack(Path("outputs/2026-Q3/AFR"), Path("outputs/2026-Q3"), "AFR", config)  # doctest: +SKIP
    PosixPath('outputs/2026-Q3/AFR/review_pack.xlsx')
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils import __version__
from rbm_utils.core.config import Config
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.core.spreadsheets import EXCEL_MAX_TEXT, safe_text
from rbm_utils.present import columns, labels

log = logging.getLogger(__name__)

#: File name of the pack in a review's published folder (the dashboards' download route serves it).
PACK_FILE = "review_pack.xlsx"
PACK_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COVER = "About this pack"


@dataclass(frozen=True)
class Sheet:
    """One sheet of the pack: its title, the published table (file stem), the columns of a unit's
    review and of the bureau overview, and what it shows (on the cover)."""

    title: str
    stem: str
    unit_columns: tuple[str, ...]
    bureau_columns: tuple[str, ...]
    about: str
    #: Only the rows of the review's quarter (a table with a ``period`` column of every quarter).
    this_quarter: bool = False


#: Columns of a funding table shown when it is published (any other columns follow).
FUNDING = ("unit_code", "partner", "partner_type", "stage", "amount", "currency", "start", "end", "owner")
#: Columns of the assumption tests of the quarter.
ASSUMPTIONS = ("assumption_id", "statement", "test", "kpi_id", "observed", "threshold", "verdict", "explanation")

SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "KPI progress",
        "kpi_progress",
        columns.KPIS,
        columns.KPIS_ACROSS_UNITS,
        "Each KPI: value, achievement against the target, expected progress by now, status and forecast.",
    ),
    Sheet(
        "Assumptions",
        "assumption_tests",
        ASSUMPTIONS,
        ("unit_code", *ASSUMPTIONS),
        "Each assumption tested this quarter against the actuals, with its verdict.",
        this_quarter=True,
    ),
    Sheet(
        "Red flags",
        "red_flags",
        columns.RED_FLAGS,
        columns.RED_FLAGS,
        "Risks escalated to the bureau and what they ask for.",
    ),
    Sheet("Risks", "risks", columns.RISKS, columns.RISKS, "The risk register: score, rating, status and trend."),
    Sheet(
        "Money",
        "money",
        columns.MONEY,
        columns.MONEY_ACROSS_UNITS,
        "Money per output: budget and spending this year against the time elapsed.",
    ),
    Sheet("Funding", "funding", FUNDING, FUNDING, "Funding from partners: what is pledged, signed and received."),
    Sheet(
        "Decisions",
        "decisions",
        columns.DECISIONS,
        ("unit_code", *columns.DECISIONS),
        "Decisions of the review meetings, followed up: where each stands and which are overdue.",
    ),
    Sheet(
        "Agenda",
        "agenda",
        columns.AGENDA,
        columns.AGENDA_ACROSS_UNITS,
        "Every item that needs a decision at the review meeting, most pressing first.",
    ),
)

#: Header words where the column name alone would not read well.
HEADERS: dict[str, str] = {
    "unit_code": "Unit",
    "kpi_id": "KPI",
    "risk_id": "Risk",
    "result_id": "Output",
    "assumption_id": "Assumption",
    "decision_id": "Decision ref.",
    "item_id": "Item ref.",
    "baseline_value": "Baseline",
    "target_value": "Target",
    "target_period": "Target quarter",
    "current_value": "Current value",
    "expected": "Expected by now",
    "last_period": "Last reported",
    "forecast_achievement": "Forecast achievement",
    "likely_to_meet": "Likely to meet the target",
    "budget_year": "Budget (year)",
    "spent_year": "Spent (year)",
    "staff_months_planned_year": "Staff months planned (year)",
    "staff_months_used_year": "Staff months used (year)",
    "review_on": "Review due",
    "review_overdue": "Review overdue",
    "meeting_quarter": "Meeting",
    "due_quarter": "Due",
    "quarters_overdue": "Quarters overdue",
    "carried_over": "Carried over",
    "previous_verdict": "Verdict last quarter",
    "n_pending": "Changes pending",
}

PERCENT = {
    "achievement",
    "expected",
    "forecast_achievement",
    "execution_rate",
    "time_elapsed",
    "cumulative_execution_rate",
    "staff_use_rate",
    "share",
    "share_on_track",
    "share_of_total",
    "evidence_share",
}
AMOUNT = {"budget_year", "spent_year", "amount", "cash", "in_kind", "total", "spent", "pledged", "received"}
DECIMAL = {"score", "cost_per_unit", "weight", "staff_months_planned_year", "staff_months_used_year"}

#: Money flags (:data:`rbm_utils.core.codes.MoneyFlag`): colours matching the dashboards' reds, ambers and greens.
FLAG_COLORS: dict[str, str] = {
    "overspending": labels.RATING_COLORS["critical"],
    "underspending": labels.RATING_COLORS["high"],
    "on pace": labels.STATUS_COLORS["on_track"],
    "no budget": labels.UNKNOWN_COLOR,
    "unbudgeted": labels.UNKNOWN_COLOR,
}
#: Column -> (colour of each code, word of each code) for the status cells of every sheet.
STATUS_CELLS: dict[str, tuple[Mapping[str, str], Any]] = {
    "rating": (labels.RATING_COLORS, labels.label),
    "verdict": (labels.VERDICT_COLORS, labels.label),
    "previous_verdict": (labels.VERDICT_COLORS, labels.label),
    "flag": (FLAG_COLORS, str),
    "state": (labels.APPROVAL_COLORS, lambda c: labels.APPROVAL_LABELS.get(str(c), str(c))),
}
#: The KPI status column of the KPI sheet (a risk's or a decision's ``status`` is not coloured).
KPI_STATUS_SHEETS = ("kpi_progress",)
WRAP_WIDTH = 48


def header(column: str) -> str:
    """Readable header of a column: :data:`HEADERS`, else its words capitalised.

    >>> header("n_open"), header("title")
    ('N open', 'Title')
    """
    return HEADERS.get(column, column.replace("_", " ").capitalize())


def cell_value(value: Any) -> tuple[str, Any]:
    """(kind, value) of one cell: ``empty``, ``text`` (formula-safe), ``bool`` (as Yes/No text),
    ``number`` or ``date``.

    >>> cell_value("=1+1"), cell_value(np.float64("nan")), cell_value(True), cell_value(3)
    (('text', "'=1+1"), ('empty', None), ('text', 'Yes'), ('number', 3))
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty", None
    if isinstance(value, (bool, np.bool_)):
        return "text", "Yes" if value else "No"
    if isinstance(value, numbers.Real):
        f = float(value)
        if f != f:
            return "empty", None
        if f in (float("inf"), float("-inf")):
            return "text", str(f)
        return "number", int(value) if isinstance(value, numbers.Integral) else f
    if isinstance(value, pd.Timestamp):
        return "date", value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, dt.datetime):
        return "date", value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return "date", dt.datetime(value.year, value.month, value.day)
    text = safe_text(str(value))
    return "text", text if len(text) <= EXCEL_MAX_TEXT else text[: EXCEL_MAX_TEXT - 1] + "\u2026"


def read_tables(folder: Path, quarter: str) -> dict[str, pd.DataFrame]:
    """The published tables of a review folder that the pack shows, by file stem (absent ones left
    out); a table of every quarter is cut to ``quarter``'s rows where its sheet asks for it."""
    out = {}
    for sheet in SHEETS:
        path = Path(folder) / f"{sheet.stem}.parquet"
        if path.is_file():
            frame = pd.read_parquet(path)
            if sheet.this_quarter and "period" in frame.columns:
                frame = frame[frame["period"].astype(str) == quarter].reset_index(drop=True)
            out[sheet.stem] = frame
    return out


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def provenance(quarter_dir: Path, unit: str | None, config: Config) -> list[tuple[str, str]]:
    """(what, value) lines of the cover: what is reviewed, the snapshot and analysis it comes
    from, each unit's submission. Read from the quarter's frozen snapshot and analysis folders."""
    quarter_dir = Path(quarter_dir)
    snap = _json(quarter_dir / "snapshot" / "manifest.json")
    ana = _json(quarter_dir / "analysis" / "manifest.json")
    who = f"{config.unit(unit).name} ({unit}, {config.unit(unit).type})" if unit else f"{config.name} (all units)"
    lines = [
        ("Review of", who),
        ("Quarter", quarter_dir.name),
        ("Currency", config.currency),
        ("Snapshot frozen at", str(snap.get("created_at", ""))),
        ("Snapshot content (sha256)", str(snap.get("content_sha256", ""))),
        ("Analysis content (sha256)", str(ana.get("content_sha256", ""))),
    ]
    units_file = quarter_dir / "snapshot" / "Unit.parquet"
    if units_file.is_file():
        subs = pd.read_parquet(units_file)
        if unit and "unit_code" in subs.columns:
            subs = subs[subs["unit_code"].astype(str) == unit]
        for rec in subs.to_dict("records"):
            parts = [f"submission {rec.get('submission_id', '')}"]
            if rec.get("submitted_by"):
                parts.append(f"by {rec['submitted_by']}")
            if rec.get("submitted_on") or rec.get("submitted_at"):
                parts.append(f"on {rec.get('submitted_on') or rec.get('submitted_at')}")
            lines.append((f"Figures of {rec.get('unit_code', '')}", " ".join(str(p) for p in parts)))
    lines.append(("Pack written at (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")))
    lines.append(("Written by", f"RBM workbench {__version__}"))
    return lines


def _columns(frame: pd.DataFrame, wanted: Sequence[str]) -> list[str]:
    cols = [c for c in wanted if c in frame.columns]
    return cols or [str(c) for c in frame.columns]


def _width(column: str, values: pd.Series) -> float:
    longest = max([len(header(column)), *(len(str(v)) for v in values.head(200) if v is not None)], default=8)
    return float(min(max(longest + 2, 8), WRAP_WIDTH))


def _contrast(color: str) -> str:
    r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


class _Formats:
    """xlsxwriter formats, made once per workbook."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.head = book.add_format(
            {"bold": True, "bg_color": "#1f4e79", "font_color": "#ffffff", "text_wrap": True, "valign": "top"}
        )
        self.text = book.add_format({"valign": "top"})
        self.wrap = book.add_format({"valign": "top", "text_wrap": True})
        self.percent = book.add_format({"num_format": "0%", "valign": "top"})
        self.amount = book.add_format({"num_format": "#,##0", "valign": "top"})
        self.decimal = book.add_format({"num_format": "0.0", "valign": "top"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True, "valign": "top"})
        self._fills: dict[str, Any] = {}

    def fill(self, color: str) -> Any:
        if color not in self._fills:
            self._fills[color] = self.book.add_format(
                {"bg_color": color, "font_color": _contrast(color), "valign": "top"}
            )
        return self._fills[color]

    def number(self, column: str) -> Any:
        if column in PERCENT:
            return self.percent
        if column in AMOUNT:
            return self.amount
        if column in DECIMAL:
            return self.decimal
        return self.text


def _put(ws: Any, fm: _Formats, r: int, c: int, value: Any, column: str, fmt: Any = None) -> None:
    kind, v = cell_value(value)
    if kind == "empty":
        ws.write_blank(r, c, None, fmt or fm.text)
    elif kind == "text":
        ws.write_string(r, c, v, fmt or (fm.wrap if len(v) > WRAP_WIDTH else fm.text))
    elif kind == "number":
        ws.write_number(r, c, v, fmt or fm.number(column))
    else:
        ws.write_datetime(r, c, v, fm.date)


def _status(sheet: Sheet, column: str) -> tuple[Mapping[str, str], Any] | None:
    if column == "status" and sheet.stem in KPI_STATUS_SHEETS:
        return labels.STATUS_COLORS, labels.status_label
    if column == "overdue" or column == "review_overdue":
        return {"True": labels.RATING_COLORS["critical"]}, lambda v: "Yes" if v else "No"
    return STATUS_CELLS.get(column)


def write_sheet(book: Any, fm: _Formats, sheet: Sheet, frame: pd.DataFrame, bureau: bool) -> int:
    """One table as a sheet: headers, formats, frozen header row, autofilter, coloured status cells.
    Returns the number of rows written."""
    ws = book.add_worksheet(sheet.title)
    cols = _columns(frame, sheet.bureau_columns if bureau else sheet.unit_columns)
    for c, col in enumerate(cols):
        ws.write_string(0, c, safe_text(header(col)), fm.head)
        ws.set_column(c, c, _width(col, frame[col]) if col in frame.columns else 12)
    for r, row in enumerate(frame[cols].itertuples(index=False, name=None), start=1):
        for c, (col, value) in enumerate(zip(cols, row)):
            status = _status(sheet, col)
            if status is not None and cell_value(value)[0] != "empty":
                colors, word = status
                color = colors.get(str(bool(value)) if isinstance(value, (bool, np.bool_)) else str(value))
                _put(ws, fm, r, c, word(value), col, fm.fill(color) if color else None)
            else:
                _put(ws, fm, r, c, value, col)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(frame), 1), max(len(cols) - 1, 0))
    if frame.empty:
        ws.write_string(1, 0, "Nothing to show for this quarter.", fm.text)
    ws.set_landscape()
    ws.repeat_rows(0)
    ws.fit_to_pages(1, 0)
    return len(frame)


def write_cover(book: Any, fm: _Formats, lines: list[tuple[str, str]], shown: list[tuple[Sheet, int]]) -> None:
    """The cover sheet: what the pack is, its provenance, and each sheet with what it shows."""
    ws = book.add_worksheet(COVER)
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 90)
    ws.write_string(0, 0, "Quarterly review pack", fm.title)
    ws.write_string(
        1,
        0,
        "The tables of the published quarterly review, as frozen by the batch. Figures are not recomputed.",
        fm.text,
    )
    r = 3
    for what, value in lines:
        ws.write_string(r, 0, safe_text(what), fm.bold)
        ws.write_string(r, 1, safe_text(value), fm.wrap)
        r += 1
    r += 1
    ws.write_string(r, 0, "Sheet", fm.head)
    ws.write_string(r, 1, "What it shows (rows)", fm.head)
    for sheet, n in shown:
        r += 1
        ws.write_string(r, 0, sheet.title, fm.bold)
        ws.write_string(r, 1, f"{sheet.about} ({n} rows)", fm.wrap)
    ws.activate()


def pack_bytes(
    tables: Mapping[str, pd.DataFrame], lines: list[tuple[str, str]], *, bureau: bool, title: str = ""
) -> bytes:
    """The pack as xlsx bytes: the cover, then one sheet per table of :data:`SHEETS` present in
    ``tables`` (keyed by file stem)."""
    import io

    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "yyyy-mm-dd",
        },
    )
    book.set_properties({"title": title or "Quarterly review pack", "comments": "Written by the RBM workbench"})
    fm = _Formats(book)
    present = [s for s in SHEETS if isinstance(tables.get(s.stem), pd.DataFrame)]
    write_cover(book, fm, lines, [(s, len(tables[s.stem])) for s in present])
    for sheet in present:
        write_sheet(book, fm, sheet, tables[sheet.stem], bureau)
    book.close()
    return buf.getvalue()


def write_pack(folder: Path, quarter_dir: Path, unit: str | None, config: Config) -> Path:
    """Write ``<folder>/review_pack.xlsx`` from the tables published in ``folder`` (a unit's review
    folder, or the overview's with ``unit`` None), atomically. ``quarter_dir`` is the quarter's
    outputs folder (its snapshot and analysis manifests give the cover's provenance)."""
    folder = Path(folder)
    lines = provenance(quarter_dir, unit, config)
    title = f"{unit or 'Bureau'} review pack {Path(quarter_dir).name}"
    data = pack_bytes(read_tables(folder, Path(quarter_dir).name), lines, bureau=unit is None, title=title)
    out = atomic_write_bytes(folder / PACK_FILE, data)
    log.info("wrote the review pack %s", out)
    return out
