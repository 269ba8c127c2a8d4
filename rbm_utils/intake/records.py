"""A sheet as read turned into records: the header row found and mapped, rows typed cell by cell.

Reports what is wrong with the sheet's layout (header not on row 1, unknown, duplicate or
blank headers, missing columns, merged cells, total rows, ragged CSV rows, hidden rows with
data); each cell goes through :func:`rbm_utils.intake.cells.coerce_cell`. A table is typed
column by column (:func:`column_coercer`): a plain number goes straight through, and a value
seen before in the same column is typed once (typing depends on the column and the value
only); problems are still filed at each cell, in row order.

Example:
    >>> norm_header(" Baseline\\u00a0Value ")
    'baseline_value'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from itertools import repeat
from typing import Any

from rbm_utils.core.errors import Problem, problem
from rbm_utils.core.schema import Column, Sheet, column_letter
from rbm_utils.core.text import is_blank, plain_spaces, strip_invisible
from rbm_utils.intake.cells import COLUMN_COERCERS, coerce_cell
from rbm_utils.intake.context import Context, Record
from rbm_utils.intake.raw import CellError, RawSheet, shown

#: First cells that make a row a totals line.
TOTAL_WORDS = {"total", "totals", "grand total", "sum", "subtotal", "sub-total", "total général", "total general"}
_CELL_REF_RE = re.compile(r"([A-Z]+)(\d+)")


def norm_header(header: Any) -> str:
    """A header cell as a column name: look-alike spaces plain, stripped, lower case, '_' for spaces."""
    return re.sub(r"\s+", "_", plain_spaces(strip_invisible(str(header))).strip().lower())


def _coerce(ctx: Context, sh: Sheet, col: Column, value: Any, row: int, decimal_comma: bool) -> Any:
    letter = ctx.letters.get(sh.name, {}).get(col.name, "")

    def report(code: str, message: str) -> None:
        ctx.problems.append(problem(code, ctx.file, sh.name, row, letter, col.name, shown(value), message))

    return coerce_cell(sh, col, value, decimal_comma, report)


def column_coercer(
    ctx: Context, sh: Sheet, col: Column, decimal_comma: bool, found: list[tuple[int, int, Problem]], pos: int
) -> Callable[[Any, int], Any]:
    """``coerce(value, row)`` for the cells of one column: :func:`coerce_cell`'s result, its
    problems appended to ``found`` as (row, ``pos``, problem). Numbers within the column's range
    are taken as they are; any other value is typed once per column and remembered unless it
    was wrong (a wrong cell is reported at every row it is on).

    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.core.schema import sheet
    >>> from rbm_utils.intake.raw import RawWorkbook
    >>> ctx, found = Context(RawWorkbook("f.xlsx", None, "xlsx", ""), load_config()), []
    >>> coerce = column_coercer(ctx, sheet("Actuals"), sheet("Actuals").column("period"), False, found, 1)
    >>> coerce("2026-Q3", 2), coerce("2026-Q3", 3), coerce("Q9", 4), [(r, p.code) for r, _, p in found]
    ('2026-Q3', '2026-Q3', None, [(4, 'not_a_period')])
    """
    letter = ctx.letters.get(sh.name, {}).get(col.name, "")
    blank: Any = "" if col.type == "disaggregation" else None
    cache: dict[tuple[type, Any], Any] = {}
    t = col.type
    special = (sh.name, col.name) in COLUMN_COERCERS
    lo = -math.inf if col.min is None else col.min
    hi = math.inf if col.max is None else col.max
    if t == "year":
        lo, hi = max(lo, 1900), min(hi, 2100)
    number = t in ("number", "integer", "year") and not special

    def slow(value: Any, row: int) -> Any:
        said: list[tuple[str, str]] = []
        out = coerce_cell(sh, col, value, decimal_comma, lambda code, msg: said.append((code, msg)))
        for code, msg in said:
            found.append((row, pos, problem(code, ctx.file, sh.name, row, letter, col.name, shown(value), msg)))
        if not said:
            try:
                cache[(value.__class__, value)] = out
            except TypeError:  # an unhashable value: typed every time
                pass
        return out

    def coerce(value: Any, row: int) -> Any:
        if value is None:
            return slow(value, row) if col.required else blank
        cls = value.__class__
        if number and (cls is float or cls is int) and lo <= value <= hi and math.isfinite(value):
            if t == "number":
                return float(value)
            if value == int(value):
                return int(value)
        try:
            return cache[(cls, value)]
        except (KeyError, TypeError):
            return slow(value, row)

    return coerce


def _map_headers(ctx: Context, sh: Sheet, rs: RawSheet) -> dict[int, str]:
    mapping: dict[int, str] = {}
    letters: dict[str, str] = {}
    ctx.letters[sh.name] = letters
    seen: dict[str, int] = {}
    width = max([len(rs.headers)] + [len(vals) for _, vals in rs.rows])
    for idx in range(width):  # past the last header too: a column with data and no header
        h = rs.headers[idx] if idx < len(rs.headers) else None
        letter = column_letter(idx)
        if is_blank(h):
            if any(idx < len(vals) and not is_blank(vals[idx]) for _, vals in rs.rows):
                ctx.problems.append(
                    problem(
                        "blank_header",
                        ctx.file,
                        sh.name,
                        rs.header_row,
                        letter,
                        "",
                        None,
                        f"Column {letter} holds data but has no header.",
                    )
                )
            continue
        norm = norm_header(h)
        if sh.has(norm):
            if norm in seen:
                ctx.problems.append(
                    problem(
                        "duplicate_column",
                        ctx.file,
                        sh.name,
                        rs.header_row,
                        letter,
                        norm,
                        h,
                        f"Column '{norm}' appears twice (columns {column_letter(seen[norm])} and {letter}).",
                    )
                )
                continue
            seen[norm] = idx
            mapping[idx] = norm
            letters[norm] = letter
        else:
            ctx.problems.append(
                problem(
                    "unknown_column",
                    ctx.file,
                    sh.name,
                    rs.header_row,
                    letter,
                    str(h),
                    h,
                    f"Column '{h}' is not part of sheet {sh.name}; it is ignored.",
                )
            )
    for col in sh.columns:
        if col.required and col.name not in letters:
            ctx.problems.append(
                problem(
                    "missing_column",
                    ctx.file,
                    sh.name,
                    rs.header_row,
                    "",
                    col.name,
                    None,
                    f"Sheet {sh.name} has no column '{col.name}' ({col.note})",
                )
            )
    return mapping


def _check_merged(ctx: Context, sh: Sheet, rs: RawSheet) -> None:
    for rng in rs.merged:
        first = rng.split(":")[0]
        m = _CELL_REF_RE.match(first)
        if m:
            ctx.problems.append(
                problem(
                    "merged_cells",
                    ctx.file,
                    sh.name,
                    int(m.group(2)),
                    m.group(1),
                    "",
                    rng,
                    f"Cells {rng} are merged; merged cells keep a value only in {first}. Unmerge them and fill every cell.",
                )
            )


def _header_score(sh: Sheet, cells: list[Any]) -> int:
    return len(
        {norm_header(h) for h in cells if not is_blank(h) and not isinstance(h, CellError) and sh.has(norm_header(h))}
    )


def _locate_header(ctx: Context, sh: Sheet, rs: RawSheet) -> RawSheet:
    """The sheet with its header where it really is: row 1, or a later row (reported) when row 1
    holds a title and a row below holds the sheet's column names."""
    need = min(3, sum(1 for c in sh.columns if c.required))
    first = _header_score(sh, rs.headers)
    if first >= need:
        return rs
    best: tuple[int, int] | None = None
    for i, (_rownum, values) in enumerate(rs.rows[:20]):
        score = _header_score(sh, values)
        if score >= need and score > first and (best is None or score > best[0]):
            best = (score, i)
    if best is None:
        return rs
    i = best[1]
    rownum, values = rs.rows[i]
    ctx.problems.append(
        problem(
            "header_not_on_row_1",
            ctx.file,
            sh.name,
            rownum,
            "",
            "",
            None,
            (
                f"The column names of sheet {sh.name} are on row {rownum}, not on row 1: delete the rows above them "
                "(titles, notes, blank rows). Other problems are reported at the rows as they are now."
            ),
        )
    )
    return replace(rs, headers=list(values), rows=rs.rows[i + 1 :], header_row=rownum)


def _is_total_row(sh: Sheet, mapping: dict[int, str], values: list[Any]) -> str | None:
    """The 'Total' text if the row is a totals line. A complete record that merely has the word in a
    free-text column (a partner called Total) is data, not a totals line."""
    first = values[0] if values else None
    if isinstance(first, str) and first.strip():
        hit: tuple[int, Any] | None = (0, first)  # the usual case: the key in column A
    else:
        hit = next(((i, v) for i, v in enumerate(values) if isinstance(v, str) and v.strip()), None)
    if hit is None or hit[1].strip().lower().rstrip(":") not in TOTAL_WORDS:
        return None
    name = mapping.get(hit[0])
    complete = all(i < len(values) and not is_blank(values[i]) for i, n in mapping.items() if sh.column(n).required)
    if name is not None and sh.column(name).type == "text" and complete:
        return None
    return hit[1]


def _trim_ragged(ctx: Context, sh: Sheet, rs: RawSheet) -> RawSheet:
    """CSV rows longer than the header: reported (a comma without quotes), the extra fields dropped."""
    width = len(rs.headers)
    rows = []
    for rownum, values in rs.rows:
        extra = [v for v in values[width:] if not is_blank(v)]
        if extra:
            ctx.problems.append(
                problem(
                    "ragged_row",
                    ctx.file,
                    sh.name,
                    rownum,
                    column_letter(width),
                    "",
                    extra[0],
                    (
                        f"Row {rownum} has {len(values)} fields but the header has {width}. A comma inside a value needs quotes."
                    ),
                )
            )
        rows.append((rownum, values[:width]))
    return replace(rs, rows=rows)


def read_table(ctx: Context, sh: Sheet, rs: RawSheet) -> list[Record]:
    """The records of a table sheet; layout and cell problems go to ``ctx``."""
    rs = _locate_header(ctx, sh, rs)
    if rs.from_csv:
        rs = _trim_ragged(ctx, sh, rs)
    mapping = _map_headers(ctx, sh, rs)
    _check_merged(ctx, sh, rs)
    found: list[tuple[int, int, Problem]] = []  # (row, position, problem): row problems first, then cells
    kept: list[tuple[int, list[Any]]] = []
    for rownum, values in rs.rows:
        first = values[0] if values else None
        if not (first.__class__ is str and first[:1].isalnum()) and all(is_blank(v) for v in values):
            continue  # (a row led by a letter or digit is not blank: the usual case, decided at once)
        total_text = _is_total_row(sh, mapping, values)
        if total_text is not None:
            found.append(
                (
                    rownum,
                    -1,
                    problem(
                        "total_row",
                        ctx.file,
                        sh.name,
                        rownum,
                        "",
                        "",
                        total_text,
                        "A 'Total' row: totals are computed by the workbench. Remove the row.",
                    ),
                )
            )
            continue
        if rownum in rs.hidden_rows:
            found.append(
                (
                    rownum,
                    -1,
                    problem(
                        "hidden_data",
                        ctx.file,
                        sh.name,
                        rownum,
                        "",
                        "",
                        None,
                        f"Row {rownum} is hidden but holds data; it is read like any other.",
                    ),
                )
            )
        kept.append((rownum, values))
    columns: list[list[Any]] = []
    for pos, (idx, name) in enumerate(mapping.items()):  # column by column, in the sheet's order
        coerce = column_coercer(ctx, sh, sh.column(name), rs.decimal_comma, found, pos)
        columns.append([coerce(values[idx] if idx < len(values) else None, r) for r, values in kept])
    found.sort(key=lambda f: (f[0], f[1]))  # the order of a row-by-row reading
    ctx.problems.extend(p for _, _, p in found)
    names = list(mapping.values())
    rest = [c.name for c in sh.columns if c.name not in mapping.values()]
    keys = ["_row", *names, *rest]
    nones = [repeat(None)] * len(rest)
    return [dict(zip(keys, vals)) for vals in zip([r for r, _ in kept], *columns, *nones)]


def read_keyvalue(ctx: Context, sh: Sheet, rs: RawSheet) -> dict[str, Any]:
    """The Unit sheet: field names in column A, values in column B. Sets ``ctx.unit_rows``."""
    ctx.letters[sh.name] = {}
    out: dict[str, Any] = {}
    rows = list(rs.rows)
    hdr = [norm_header(h) for h in rs.headers[:2] if not is_blank(h)]
    if hdr and hdr[0] != "field":  # no header row: the first row is data
        rows.insert(0, (rs.header_row, list(rs.headers)))
    found: dict[str, int] = {}
    for rownum, values in rows:
        if rs.from_csv and any(not is_blank(v) for v in values[2:]):
            ctx.problems.append(
                problem(
                    "ragged_row",
                    ctx.file,
                    sh.name,
                    rownum,
                    "C",
                    "",
                    values[2],
                    (
                        f"Row {rownum} has {len(values)} fields but Unit.csv has two (field, value). "
                        "A comma inside a value needs quotes."
                    ),
                )
            )
        if not values or is_blank(values[0]):
            continue
        name = norm_header(values[0])
        v = values[1] if len(values) > 1 else None
        if not sh.has(name):
            ctx.problems.append(
                problem(
                    "unknown_column",
                    ctx.file,
                    sh.name,
                    rownum,
                    "A",
                    str(values[0]),
                    values[0],
                    f"'{values[0]}' is not a field of sheet Unit; it is ignored.",
                )
            )
            continue
        if name in found:  # one value per field: never the first or the last row silently
            ctx.problems.append(
                problem(
                    "duplicate_unit_row",
                    ctx.file,
                    sh.name,
                    rownum,
                    "A",
                    name,
                    v,
                    f"Field '{name}' is given twice, on rows {found[name]} and {rownum}; the Unit sheet holds one "
                    "value per field. Delete one of the rows.",
                )
            )
            continue
        found[name] = rownum
        ctx.letters[sh.name][name] = "B"
        out[name] = _coerce(ctx, sh, sh.column(name), v, rownum, rs.decimal_comma)
    for col in sh.columns:
        if col.name not in found and not col.required:  # an optional field (based_on_submission): absent is empty
            out[col.name] = None
        elif col.name not in found:
            ctx.problems.append(
                problem(
                    "required_value",
                    ctx.file,
                    sh.name,
                    0,
                    "B",
                    col.name,
                    None,
                    f"Sheet Unit has no field '{col.name}' ({col.note})",
                )
            )
            out[col.name] = None
    ctx.letters[sh.name] = {k: "B" for k in found}
    ctx.records[sh.name] = [{"_row": r, "field": k} for k, r in found.items()]
    ctx.unit_rows = found
    return out
