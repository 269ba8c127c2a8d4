"""Read a folder of CSV files, one per sheet (``KPIs.csv`` ...), into raw sheets.

Only regular files that sit in the folder itself are read: a link (even to a file of the
same folder), a device, a pipe or a file that resolves outside the folder is refused
(``unsafe_file``) before a byte of it is read, so nothing of it can reach the problem table.
Each file's encoding, separator and decimal mark are told from the file or refused
(:mod:`rbm_utils.intake.csv_format`): UTF-8 with or without BOM and UTF-16 with its BOM are
read, anything else is refused naming the first bad byte at its row; ``,``, ``;`` and tab are
told apart by the header line; the decimal mark of ``;`` and tab files is told by their
numbers, across the folder, or the folder is refused (``csv_ambiguous_format``).

Example:
    >>> raw = read_csv_folder(Path("AFR_csv"), limits)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from rbm_utils.core.errors import Problem, problem
from rbm_utils.core.schema import sheet, sheet_names
from rbm_utils.intake.csv_format import decimal_evidence, decode, delimiter_of, where_in_bytes
from rbm_utils.intake.raw import RawSheet, RawWorkbook


def read_csv_folder(folder: Path, lim: Mapping[str, float]) -> RawWorkbook:
    name = folder.name + "/"
    raw = RawWorkbook(name, folder, "csv", "")
    root = folder.resolve()
    known = {s.lower(): s for s in sheet_names()}
    loaded: dict[str, bytes] = {}
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if f.suffix.lower() != ".csv":
            continue
        display = f"{name}{f.name}"
        sheet_name = known.get(f.stem.strip().lower(), f.stem)
        data = _read_inside(f, root, display, sheet_name, lim, raw.problems)
        if data is None:
            continue
        if sheet_name in raw.sheets:
            raw.problems.append(
                problem(
                    "duplicate_sheet",
                    display,
                    sheet_name,
                    message=(f"Two files hold sheet {sheet_name} ({f.name} and another); keep one."),
                )
            )
            continue
        loaded[f.name] = data
        raw.sheets[sheet_name] = _read_csv(f.name, data, sheet_name, display)
    if not loaded and not raw.problems:
        raw.problems.append(
            problem(
                "unsupported_format",
                name,
                message=(
                    f"The folder {folder} holds no .csv files. Give one CSV file per sheet, named after the sheet (KPIs.csv ...)."
                ),
            )
        )
    raw.sha256 = _sha256_named(loaded) if loaded else ""
    _decide_decimal_mark(raw)
    return raw


def _sha256_named(files: Mapping[str, bytes]) -> str:
    """The folder's fingerprint: each file's lower-case name and bytes, in name order."""
    h = hashlib.sha256()
    for fname in sorted(files, key=str.lower):
        h.update(fname.lower().encode())
        h.update(b"\0")
        h.update(files[fname])
        h.update(b"\0")
    return h.hexdigest()


def _read_inside(
    f: Path, root: Path, display: str, sheet_name: str, lim: Mapping[str, float], problems: list[Problem]
) -> bytes | None:
    """The bytes of ``f`` when it is a regular file of the folder itself (never through a link),
    else None with the problem filed. The file is opened without following links and checked
    to be the file that was looked at, so a link swapped in meanwhile is not followed either."""

    def refuse(why: str) -> None:
        problems.append(
            problem(
                "unsafe_file",
                display,
                sheet_name,
                value=f.name,
                message=(
                    f"{f.name} {why}. The folder must hold the CSV files themselves; it was not read. "
                    "Copy the file itself into the folder."
                ),
            )
        )

    try:
        st = os.lstat(f)
    except OSError:
        refuse("cannot be looked at")
        return None
    if stat.S_ISLNK(st.st_mode):
        refuse("is a link (a shortcut) to another file")
        return None
    if not stat.S_ISREG(st.st_mode):
        refuse("is not a regular file (a folder, device or pipe)")
        return None
    if f.resolve().parent != root:
        refuse("lies outside the folder")
        return None
    if st.st_size > lim["max_file_mb"] * 1024 * 1024:
        problems.append(
            problem("file_too_large", display, sheet_name, message=f"{f.name} is over {lim['max_file_mb']} MB.")
        )
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(f, flags)
    except OSError:
        refuse("cannot be opened as a plain file (a link put in its place?)")
        return None
    with os.fdopen(fd, "rb") as fh:
        now = os.fstat(fh.fileno())
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            refuse("was replaced while being read")
            return None
        return fh.read(int(lim["max_file_mb"] * 1024 * 1024) + 1)


def _encoding_problem(fname: str, data: bytes, why: str, sheet_name: str, display: str) -> Problem:
    if why.startswith("utf-8 at "):
        pos = int(why.rsplit(" ", 1)[1])
        first_line = data.split(b"\n", 1)[0].decode("latin-1")
        delim = delimiter_of(first_line) or ","
        row, letter = where_in_bytes(data, pos, delim)
        bad = data[pos : pos + 1]
        try:
            guess = f"; it looks like Windows-1252 (cp1252), where it reads {bad.decode('cp1252')!r}"
        except UnicodeDecodeError:
            guess = ""
        return problem(
            "bad_encoding",
            display,
            sheet_name,
            row,
            letter,
            "",
            f"byte 0x{bad.hex()}",
            message=(
                f"{fname} is not UTF-8: byte 0x{bad.hex()} on row {row}{guess}. The file is refused rather than "
                "guessed (a wrong guess changes names silently). Save it as 'CSV UTF-8 (Comma delimited)' and ingest again."
            ),
        )
    damaged = why == "utf-16 damaged"
    return problem(
        "bad_encoding",
        display,
        sheet_name,
        value="UTF-16 (damaged)" if damaged else "NUL bytes",
        message=(
            f"{fname} is "
            + ("UTF-16 text that cannot be decoded" if damaged else "UTF-16 without its BOM, or binary, not text")
            + ". Save it as 'CSV UTF-8 (Comma delimited)'."
        ),
    )


def _read_csv(fname: str, data: bytes, sheet_name: str, display: str) -> RawSheet:
    sh = RawSheet(sheet_name, [], [])
    text, why = decode(data)
    if text is None:
        sh.problems.append(_encoding_problem(fname, data, why, sheet_name, display))
        return sh
    delim = delimiter_of(text)
    if delim is None:
        sh.problems.append(
            problem(
                "csv_ambiguous_format",
                display,
                sheet_name,
                1,
                message=(
                    f"The header line of {fname} holds more than one of the separators ',' ';' and tab, so the "
                    "columns cannot be told apart for sure. Save it again as 'CSV UTF-8 (Comma delimited)'."
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
                sheet_name,
                len(records) + 1,
                "",
                "",
                str(exc),
                message=(
                    f"{fname} cannot be parsed from row {len(records) + 1}: {exc}. A quote opened in a value must be closed "
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
    sh.from_csv = True
    if delim != ",":  # the decimal mark is decided across the folder (_decide_decimal_mark)
        sh.decimal_evidence = decimal_evidence(sheet(sheet_name) if sheet_name in sheet_names() else None, records)
        sh.decimal_display = display
    return sh


def _decide_decimal_mark(raw: RawWorkbook) -> None:
    """One decimal mark for the ``;`` and tab files of a folder: a comma when their numbers say
    so (12,5), a point when they say so (12.5); refused when they say both, or say nothing but
    hold numbers like 1,250 or 1.250 (a thousand and a quarter, or one and a quarter)."""
    said: dict[str, tuple[RawSheet, tuple[str, int, str, str, str]]] = {}
    for sh in raw.sheets.values():
        for mark, ev in (sh.decimal_evidence or {}).items():
            if mark not in said or (sh.name, ev[1]) < (said[mark][0].name, said[mark][1][1]):
                said[mark] = (sh, ev)

    def where(mark: str) -> str:
        sh, (_, row, letter, _name, value) = said[mark]
        return f"'{value}' at {sh.name}!{letter}{row}"

    clash: str | None = None
    if "comma" in said and "point" in said:
        clash = (
            f"Numbers of the folder's ';' or tab files use both a decimal comma ({where('comma')}) and a decimal "
            f"point ({where('point')}); one of them would be read a thousand times too large or too small."
        )
        at = said["point"]
    elif "either" in said and "comma" not in said and "point" not in said:
        clash = (
            f"Numbers such as {where('either')} in a ';' or tab file may mean a thousand and more or one and a "
            "fraction, and no other number of the folder says which mark is the decimal one."
        )
        at = said["either"]
    if clash is not None:
        sh, (_, row, letter, name, value) = at
        raw.problems.append(
            problem(
                "csv_ambiguous_format",
                sh.decimal_display,
                sh.name,
                row,
                letter,
                name,
                value,
                message=clash
                + " Write numbers without thousands separators and with one decimal mark, or save as 'CSV UTF-8 (Comma delimited)'.",
            )
        )
    comma = "comma" in said and "point" not in said
    for sh in raw.sheets.values():
        sh.decimal_comma = comma and sh.decimal_evidence is not None
