"""Read a folder of CSV files, one per sheet (``KPIs.csv`` ...), into raw sheets.

UTF-8 only (a BOM is allowed); a ``;``-separated file is read with decimal commas; a file in
another encoding is refused with the row of the first bad byte rather than guessed.

Example:
    >>> raw = read_csv_folder(Path("AFR_csv"), limits)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from rbm_utils.core.errors import problem
from rbm_utils.core.schema import column_letter, sheet_names
from rbm_utils.intake.raw import RawSheet, RawWorkbook, sha256_folder


def read_csv_folder(folder: Path, lim: Mapping[str, float]) -> RawWorkbook:
    name = folder.name + "/"
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".csv")
    raw = RawWorkbook(name, folder, "csv", sha256_folder(files) if files else "")
    if not files:
        raw.problems.append(
            problem(
                "unsupported_format",
                name,
                message=(
                    f"The folder {folder} holds no .csv files. Give one CSV file per sheet, named after the sheet (KPIs.csv ...)."
                ),
            )
        )
        return raw
    known = {s.lower(): s for s in sheet_names()}
    for f in files:
        sheet = known.get(f.stem.strip().lower(), f.stem)
        if f.stat().st_size > lim["max_file_mb"] * 1024 * 1024:
            raw.problems.append(
                problem(
                    "file_too_large", f"{name}{f.name}", sheet, message=f"{f.name} is over {lim['max_file_mb']} MB."
                )
            )
            continue
        if sheet in raw.sheets:
            raw.problems.append(
                problem(
                    "duplicate_sheet",
                    f"{name}{f.name}",
                    sheet,
                    message=(f"Two files hold sheet {sheet} ({f.name} and another); keep one."),
                )
            )
            continue
        raw.sheets[sheet] = _read_csv(f, sheet, f"{name}{f.name}")
    return raw


def _where_in_text(data: bytes, pos: int, delimiter: bytes) -> tuple[int, str]:
    """(line number, column letter) of byte ``pos``, counting delimiters before it on its line."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    return data.count(b"\n", 0, pos) + 1, column_letter(data[line_start:pos].count(delimiter))


def _read_csv(f: Path, sheet: str, display: str) -> RawSheet:
    data = f.read_bytes()
    sh = RawSheet(sheet, [], [])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        sh.problems.append(
            problem(
                "bad_encoding",
                display,
                sheet,
                value="UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "NUL bytes",
                message=(
                    f"{f.name} is UTF-16 or binary, not UTF-8 text (Excel's 'Unicode Text' is UTF-16). "
                    "Save it as 'CSV UTF-8 (Comma delimited)'."
                ),
            )
        )
        return sh
    first_line = data.split(b"\n", 1)[0]
    delim = ";" if first_line.count(b";") > first_line.count(b",") else ","
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        row, letter = _where_in_text(body, exc.start, delim.encode())
        bad = body[exc.start : exc.start + 1]
        try:
            guess = f"; it looks like Windows-1252 (cp1252), where it reads {bad.decode('cp1252')!r}"
        except UnicodeDecodeError:
            guess = ""
        sh.problems.append(
            problem(
                "bad_encoding",
                display,
                sheet,
                row,
                letter,
                "",
                f"byte 0x{bad.hex()}",
                message=(
                    f"{f.name} is not UTF-8: byte 0x{bad.hex()} on row {row}{guess}. The file is refused rather than "
                    "guessed (a wrong guess changes names silently). Save it as 'CSV UTF-8 (Comma delimited)' and ingest again."
                ),
            )
        )
        return sh
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    records: list[list[str]] = []
    try:
        for rec in reader:
            records.append(rec)
    except csv.Error as exc:
        sh.problems.append(
            problem(
                "bad_csv",
                display,
                sheet,
                len(records) + 1,
                "",
                "",
                str(exc),
                message=(
                    f"{f.name} cannot be parsed from row {len(records) + 1}: {exc}. A quote opened in a value must be closed "
                    "(write a quote inside a value as two quotes); a value is limited to 128 KB."
                ),
            )
        )
        return sh
    if not records:
        return sh
    # rows keep every field: the validator finds the header row, then reports fields beyond it
    sh.headers = [h if h != "" else None for h in records[0]]
    sh.rows = [(n, [v if v != "" else None for v in rec]) for n, rec in enumerate(records[1:], start=2)]
    sh.decimal_comma = delim == ";"
    sh.from_csv = True
    return sh
