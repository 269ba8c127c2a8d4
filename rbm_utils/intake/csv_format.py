"""How a CSV file is written: its encoding, its separator and its decimal mark, told or refused.

A CSV file carries no declaration of any of the three, so each is read from the file and
refused when it cannot be told for sure, never guessed:

- **encoding**: UTF-8 (with or without BOM) or UTF-16 with its BOM (Excel's "Unicode Text");
  anything else (cp1252, UTF-16 without BOM, binary) is refused, naming the first bad byte at
  the row and column the officer sees (rows counted as records, as Excel shows them: a quoted
  value over several lines is one row);
- **separator**: ``,``, ``;`` or tab, the one found on the header line; a header line holding
  two of them is ambiguous;
- **decimal mark**: in a ``;`` or tab file, from the numbers of the numeric columns: ``12,5``
  says decimal comma, ``12.5`` decimal point. Both in one folder, or only numbers such as
  ``1,250`` or ``1.250`` (a thousand and a quarter or one and a quarter), is ambiguous. A ``,``
  file always has a decimal point.

Example:
    >>> delimiter_of("kpi_id;name;value\\r\\nK1;A;12,5\\r\\n")
    ';'
    >>> mark_of("12,5"), mark_of("1.250"), mark_of("1.250,5"), mark_of("2026")
    ('comma', 'either', 'comma', None)
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from rbm_utils.core.schema import Sheet, column_letter
from rbm_utils.core.text import plain_spaces

#: The separators told apart; a header line holds exactly one of them.
DELIMITERS = (",", ";", "\t")
NUMERIC_TYPES = ("number", "integer", "year")

_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
_ONE_MARK = re.compile(r"^(\d+)([.,])(\d+)$")
_GROUPED = re.compile(r"^\d{1,3}([.,])\d{3}(?:\1\d{3})+$")  # 1.250.000: the mark groups thousands
_BOTH = re.compile(r"^\d{1,3}([.,])\d{3}(?:\1\d{3})*([.,])\d+$")  # 1.250,5


def mark_of(value: str) -> str | None:
    """What a number as written says of the decimal mark: 'comma', 'point', 'either' (1,250:
    a thousands separator or a decimal mark) or None (no mark, or not a number).

    >>> mark_of("0,250"), mark_of("1250,500"), mark_of("1,250,000"), mark_of("-12.5"), mark_of("AFR-1.2")
    ('comma', 'comma', 'point', 'point', None)
    """
    text = plain_spaces(value).translate(_MINUS).strip().lstrip("+-").replace(" ", "")
    m = _ONE_MARK.match(text)
    if m:
        whole, mark, decimals = m.groups()
        said = "comma" if mark == "," else "point"
        if len(decimals) != 3 or whole.startswith("0") or len(whole) > 3:
            return said  # a thousands group has 3 digits after 1-3 digits, never led by 0
        return "either"
    m = _GROUPED.match(text)
    if m:
        return "point" if m.group(1) == "," else "comma"  # the mark repeated is the thousands one
    m = _BOTH.match(text)
    if m and m.group(1) != m.group(2):
        return "comma" if m.group(2) == "," else "point"
    return None


def _outside_quotes(line: str) -> str:
    """``line`` with its quoted parts removed.

    >>> _outside_quotes('a;"b,c";d')
    'a;;d'
    """
    return re.sub(r'"[^"]*"?', "", line)


def delimiter_of(text: str) -> str | None:
    """The separator of a CSV text: the one of ``,`` ``;`` tab on its first line holding any
    (a title line above the header has none); None when that line holds two of them. A file
    with no separator at all (one column) is read with ``,``.

    >>> delimiter_of("Results chain (draft)\\na\\tb\\n"), delimiter_of("a;b,c\\n"), delimiter_of("x\\n")
    ('\\t', None, ',')
    """
    for line in io.StringIO(text[: 1 << 16], newline=""):
        bare = _outside_quotes(line)
        found = [d for d in DELIMITERS if d in bare]
        if len(found) > 1:
            return None
        if found:
            return found[0]
    return ","


def decode(data: bytes) -> tuple[str, str] | tuple[None, str]:
    """(text, encoding name) of a CSV file's bytes, or (None, why) when it is not UTF-8 nor UTF-16
    with a BOM. ``why`` is 'utf-16 damaged', 'nul' (UTF-16 without BOM, or binary) or 'utf-8 at N'
    (N: the offset of the first bad byte in ``data``).

    >>> decode(b"\\xef\\xbb\\xbfa,b"), decode("a,b".encode("utf-16")), decode(b"caf\\xe9")
    (('a,b', 'UTF-8 with BOM'), ('a,b', 'UTF-16'), (None, 'utf-8 at 3'))
    """
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            return None, "utf-16 damaged"
    if b"\x00" in data:
        return None, "nul"
    skip = 3 if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8"), "UTF-8 with BOM" if skip else "UTF-8"
    except UnicodeDecodeError as exc:
        return None, f"utf-8 at {exc.start + skip}"


def where_in_bytes(data: bytes, pos: int, delimiter: str) -> tuple[int, str]:
    """(row, column letter) of byte ``pos`` of a CSV file, rows counted as records (a quoted
    value over several lines is one row, as Excel shows it). The bytes are read one character
    per byte (Latin-1), so positions stay exact whatever the file's real encoding.

    >>> where_in_bytes(b'a,b\\n"x\\ny",\\xe9\\n', 11, ",")
    (2, 'B')
    """
    text = data.decode("latin-1")
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for line in io.StringIO(text, newline=""):
            consumed += len(line)
            yield line

    row, start = 0, 0
    try:
        for _ in csv.reader(lines(), delimiter=delimiter):
            row += 1
            if consumed > pos:
                break
            start = consumed
    except csv.Error:
        row += 1
    field, quoted = 0, False
    for ch in text[start:pos]:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            field += 1
    return max(row, 1), column_letter(field)


def _norm(header: Any) -> str:
    return re.sub(r"\s+", "_", plain_spaces(str(header)).strip().lower())


def numeric_columns(sh: Sheet | None, records: list[list[str]]) -> tuple[int, dict[int, str]]:
    """(index of the header record, {field index: column name}) of the numeric columns of a
    table sheet: the header is the record among the first 20 naming most of the sheet's columns."""
    if sh is None or sh.kind != "table":
        return 0, {}
    best, at = 0, 0
    for i, rec in enumerate(records[:20]):
        score = sum(1 for h in rec if sh.has(_norm(h)))
        if score > best:
            best, at = score, i
    if not best:
        return 0, {}
    cols = {i: _norm(h) for i, h in enumerate(records[at]) if sh.has(_norm(h))}
    return at, {i: n for i, n in cols.items() if sh.column(n).type in NUMERIC_TYPES}


#: One number's say on the decimal mark: (mark, row, column letter, column name, value).
Evidence = tuple[str, int, str, str, str]


def decimal_evidence(sh: Sheet | None, records: list[list[str]]) -> dict[str, Evidence]:
    """The first number of each kind ('comma', 'point', 'either') in the numeric columns,
    with its row (the record's number) and column."""
    at, cols = numeric_columns(sh, records)
    found: dict[str, Evidence] = {}
    for idx, name in cols.items():
        for n, rec in enumerate(records[at + 1 :], start=at + 2):
            if idx >= len(rec):
                continue
            v = rec[idx]
            if "," not in v and "." not in v:
                continue
            mark = mark_of(v)
            if mark is not None and (mark not in found or n < found[mark][1]):
                found[mark] = (mark, n, column_letter(idx), name, v)
    return found
