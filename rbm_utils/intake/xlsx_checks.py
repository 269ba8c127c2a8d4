"""What the reader refuses or reports in a workbook's sheets, whichever cell reader read it.

The container scan (:mod:`rbm_utils.intake.xlsx_guard`) lists every sheet with its state and
every hidden column, and notes text escaped the way Excel escapes characters; from that and
the sheets as read:

- two sheets with exactly the same name (Excel never writes it; a reader would keep one of
  them silently) are refused (``duplicate_sheet``);
- a sheet the contract reads that is hidden or very hidden is refused (``hidden_sheet``): a
  very hidden sheet cannot even be unhidden from Excel's menus, and is never read in place of
  what the officer sees;
- a hidden column holding data is read like any other, with a warning naming it
  (``hidden_data``, as for hidden rows);
- Excel's escapes of characters in text (``_x000D_`` for a carriage return) are turned into
  the character, once, with a warning at each cell (``excel_escape``). A workbook holding them
  is read by openpyxl, which leaves them as written (the fast reader would unescape them
  unseen); ``_x005F_`` (Excel's escape of ``_``) keeps a literal ``_x000D_`` literal.

Example:
    >>> unescape("line one_x000D_"), unescape("_x005F_x000D_"), unescape("_xD83D__xDE00_")
    ('line one\\r', '_x000D_', '😀')
"""

from __future__ import annotations

import re

from rbm_utils.core.errors import problem
from rbm_utils.core.schema import column_letter, sheet_names
from rbm_utils.core.text import is_blank
from rbm_utils.intake.raw import RawSheet, RawWorkbook
from rbm_utils.intake.xlsx_guard import Scan

_ESCAPE_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_CONTRACT = {s.lower() for s in sheet_names()}


def unescape(text: str) -> str:
    """``text`` with Excel's ``_xHHHH_`` escapes turned into their characters (a pair of
    surrogates into the one character they make). ``_x0000_`` and a lone surrogate stay as
    written: no store keeps them as characters.

    >>> unescape("a_x0009_b_x0000_"), unescape("_xD800_ alone")
    ('a\\tb_x0000_', '_xD800_ alone')
    """
    out = _ESCAPE_RE.sub(lambda m: m.group(0) if m.group(1) == "0000" else chr(int(m.group(1), 16)), text)
    try:
        return out.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return text


def _contract(name: str) -> bool:
    return name.strip().lower() in _CONTRACT


def check_sheets(raw: RawWorkbook, scan: Scan) -> None:
    """The problems of the sheets read into ``raw`` (see the module's text), and their escaped
    text unescaped in place."""
    seen: dict[str, str] = {}
    # the scan's list of sheets, and the readers' own word for any it could not list
    # (a workbook.xml written with prefixed tags)
    states = list(scan.sheet_states)
    listed = {name for name, _ in states}
    states += [(n, "hidden") for n, rs in raw.sheets.items() if rs.hidden and n not in listed]
    for name, state in states:
        key = name.strip().lower()
        # the same name exactly, or alike but for case or spaces where the reader renamed one
        # (openpyxl reads a second 'KPIs' as 'KPIs1'); the validator names the other twins
        if key in seen and (seen[key] == name or name not in raw.sheets or seen[key] not in raw.sheets):
            raw.problems.append(
                problem(
                    "duplicate_sheet",
                    raw.file,
                    name,
                    value=name,
                    message=(
                        f"Two sheets are named '{seen[key]}' and '{name}' (Excel never writes this; the file was made or "
                        "edited by another program). Neither is read in place of the other: keep one and save the "
                        "workbook from Excel."
                    ),
                )
            )
        seen.setdefault(key, name)
        if state != "visible" and _contract(name):
            how = "very hidden (it cannot be unhidden from Excel's menus)" if state == "veryHidden" else "hidden"
            raw.problems.append(
                problem(
                    "hidden_sheet",
                    raw.file,
                    name,
                    value=state,
                    message=(
                        f"Sheet '{name}' is {how}; a sheet the workbench reads must be visible, so that what is stored "
                        "is what the officer sees. Unhide it (right-click a sheet tab > Unhide) or delete it, and save."
                    ),
                )
            )
    for name, rs in raw.sheets.items():
        if not _contract(name):
            continue
        if name in scan.hidden_columns:
            _hidden_columns(raw, rs, scan.hidden_columns[name])
        if scan.escaped_text:
            _unescape_sheet(raw, rs)


def _header(rs: RawSheet, idx: int) -> str:
    h = rs.headers[idx] if idx < len(rs.headers) else None
    return "" if is_blank(h) else str(h)


def _hidden_columns(raw: RawWorkbook, rs: RawSheet, ranges: list[tuple[int, int]]) -> None:
    width = max([len(rs.headers)] + [len(v) for _, v in rs.rows])
    for first, last in ranges:
        for idx in range(first - 1, min(last, width)):
            rows = [r for r, values in rs.rows if idx < len(values) and not is_blank(values[idx])]
            if not rows:
                continue
            letter = column_letter(idx)
            header = _header(rs, idx)
            shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
            rs.problems.append(
                problem(
                    "hidden_data",
                    raw.file,
                    rs.name,
                    0,
                    letter,
                    header,
                    None,
                    f"Column {letter}{f' ({header})' if header else ''} is hidden but holds data (rows {shown}); "
                    "it is read like any other. Unhide it to check what is stored.",
                )
            )


def _unescape_sheet(raw: RawWorkbook, rs: RawSheet) -> None:
    def fix(values: list, row: int) -> None:
        for i, v in enumerate(values):
            if v.__class__ is str and "_x" in v:
                new = unescape(v)
                if new != v:
                    values[i] = new
                    rs.problems.append(
                        problem(
                            "excel_escape",
                            raw.file,
                            rs.name,
                            row,
                            column_letter(i),
                            _header(rs, i) if row != rs.header_row else "",
                            v,
                            "The text holds Excel's escape of a character (_x000D_ is a carriage return); it is read "
                            "as that character, once. Nothing to do unless the text looks wrong.",
                        )
                    )

    fix(rs.headers, rs.header_row)
    for row, values in rs.rows:
        fix(values, row)
