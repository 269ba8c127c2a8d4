"""Cells and text: the one test of an empty cell, cell-to-text and cell-to-number (one cell or a
whole column), figures in words, HTML and Markdown escaping.

Example:
    >>> is_blank(None), is_blank(" \\u00a0"), is_blank(float("nan")), is_blank(0)
    (True, True, True, False)
    >>> cell_text("  AFR "), cell_number("2.5"), escape_text("<b>")
    ('AFR', 2.5, '&lt;b&gt;')
    >>> fmt_number(1234.5), fmt_share(0.456)
    ('1,234.5', '46%')
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

#: Characters that look like a space (no-break, thin, zero-width, BOM): a cell of only these is empty.
SPACE_LIKE = "\u00a0\u2007\u202f\u2009\u200a\u200b\ufeff"
_SPACES = dict.fromkeys(map(ord, SPACE_LIKE), " ")


def plain_spaces(text: str) -> str:
    """Every look-alike space of :data:`SPACE_LIKE` turned into a plain space (nothing stripped).

    >>> plain_spaces("12\\u00a0500\\u200b")
    '12 500 '
    """
    return text.translate(_SPACES)


#: Characters that take no room at all (zero-width space, non-joiner and joiner, word joiner, BOM,
#: soft hyphen, Mongolian vowel separator): removed from ids, codes and quarters.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_NO_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))
#: A terminal escape sequence (CSI ``ESC [ ... final``, OSC ``ESC ] ... BEL or ESC \``, or a
#: two-character escape), then any other control character, bidirectional overrides included.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_invisible(text: str) -> str:
    """``text`` without the zero-width characters of :data:`INVISIBLE`.

    >>> strip_invisible("AFR\u200d-K1\ufeff")
    'AFR-K1'
    """
    return text.translate(_NO_INVISIBLE)


def ascii_digits(text: str) -> str:
    """Decimal digits of any script (Arabic-Indic, Devanagari, full-width ...) as 0-9.

    >>> ascii_digits("\u0662\u0660\u0662\u0666-Q3"), ascii_digits("\uff12\uff10\uff12\uff16")
    ('2026-Q3', '2026')
    """
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text)


def has_foreign_digits(text: str) -> bool:
    """True when ``text`` holds a decimal digit that is not 0-9.

    >>> has_foreign_digits("2026"), has_foreign_digits("\u0662\u0660\u0662\u0666")
    (False, True)
    """
    return not text.isascii() and any(not c.isascii() and c.isdecimal() for c in text)


def terminal_safe(value: Any) -> str:
    """A value as text safe to print on a terminal: escape sequences and control characters
    (bidirectional overrides too) removed; line breaks and tabs kept.

    >>> terminal_safe("ok\\x1b[2J\\x1b]0;pwned\\x07 done\\r")
    'ok done'
    """
    text = str(value)
    if text.isprintable():
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def is_missing(value: Any) -> bool:
    """True for None, NaN, ``pd.NA`` and ``pd.NaT`` (not for text, however empty).

    >>> is_missing(pd.NA), is_missing(""), is_missing(np.float32("nan"))
    (True, False, True)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return False


def is_blank(value: Any) -> bool:
    """True for a missing value or text of only (look-alike) spaces.

    >>> is_blank(""), is_blank("x")
    (True, False)
    """
    if isinstance(value, str):
        return not value.translate(_SPACES).strip()
    return is_missing(value)


def cell_text(value: Any) -> str:
    """A cell as stripped text, '' when blank.

    >>> cell_text(None), cell_text(3)
    ('', '3')
    """
    return "" if is_blank(value) else str(value).strip()


def cell_number(value: Any) -> float:
    """A cell as float, NaN when blank or not a number.

    >>> math.isnan(cell_number("n/a"))
    True
    """
    if is_blank(value):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def map_unique(values: pd.Series, fn: Any) -> pd.Series:
    """``values.map(fn)`` (same values, index and dtype), with ``fn`` called once per distinct
    value: a column of 800,000 cells usually holds a few hundred.

    Only for text columns whose missing cells are None (as in a conformed frame); anything
    else (numbers, which 1 == 1.0 == True would merge, NaN, unhashable values) is plain
    ``values.map(fn)``.

    >>> map_unique(pd.Series(["a", "", "a", None], dtype=object), lambda v: None if v == "" else v).tolist()
    ['a', nan, 'a', nan]
    """
    arr = values.to_numpy(dtype=object)
    if not len(arr) or pd.api.types.infer_dtype(arr, skipna=True) != "string":
        return values.map(fn)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    na = codes < 0
    if na.any() and not (arr[na] == None).all():  # noqa: E711 - elementwise: NaN or NA, not None
        return values.map(fn)
    mapped = pd.Series([*uniques, None], dtype=object).map(fn)  # missing cells take the last: fn(None)
    out = mapped.take(codes)
    out.index = values.index
    out.name = values.name
    return out


def blank_mask(values: pd.Series) -> np.ndarray:
    """Vectorised :func:`is_blank` over a column (each distinct text tested once).

    >>> blank_mask(pd.Series(["a", " ", None])).tolist()
    [False, True, True]
    """
    arr = values.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    except TypeError:  # unhashable cells: one at a time
        return np.array([is_blank(v) for v in arr], dtype=bool)
    blank = np.array([isinstance(u, str) and not u.translate(_SPACES).strip() for u in uniques] + [True], dtype=bool)
    return blank[codes]


#: Characters a typesetter reads as TeX (``$...$``, ``\(...\)``, ``\href``), as numeric entities: shown
#: the same, but no search of the markup (Markdown math, plotly's ``$...$`` titles) finds a delimiter.
_TEX_ENTITIES = {ord("$"): "&#36;", ord("\\"): "&#92;"}

#: Classes that tell MathJax 2 (``tex2jax_ignore``) and 3 (``mathjax_ignore``, JupyterLab 4) to
#: leave an element's text alone: a browser decodes entities before MathJax reads the page.
NO_TYPESETTING = "tex2jax_ignore mathjax_ignore"


def escape_text(value: Any) -> str:
    """HTML-escape free text for anything that becomes HTML (charts, notebooks, dashboards);
    ``$`` and backslash become entities too (workbook text is never TeX).

    Missing values (None, NaN, NA) give ''.

    >>> escape_text("<script>alert('x')</script> & co")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co'
    >>> escape_text(r"$\\href{http://x}{y}$")
    '&#36;&#92;href{http://x}{y}&#36;'
    >>> escape_text(None)
    ''
    """
    if is_missing(value):
        return ""
    return html.escape(str(value), quote=True).translate(_TEX_ENTITIES)


def untypeset(markup: str) -> str:
    """HTML (already escaped) in an element no typesetter reads: a notebook opened in JupyterLab
    typesets every HTML output with MathJax unless told not to.

    >>> untypeset("<p>&#36;x&#36;</p>")
    '<div class="tex2jax_ignore mathjax_ignore"><p>&#36;x&#36;</p></div>'
    """
    return f'<div class="{NO_TYPESETTING}">{markup}</div>'


def text_column(values: pd.Series) -> pd.Series:
    """Vectorised :func:`cell_text`: each cell as stripped ``str``, '' where blank (same index).

    >>> text_column(pd.Series([" a ", None, "\\u200b", 3])).tolist()
    ['a', '', '', '3']
    """
    s = values.astype(object)
    out = s.where(s.notna(), "").astype(str).str.strip()
    return out.where(~blank_mask(out), "")


def number_column(values: pd.Series) -> pd.Series:
    """A column as float64, anything that is not a number as NaN (same index).

    >>> number_column(pd.Series(["2.5", None, "x", 4])).tolist()[::3]
    [2.5, 4.0]
    """
    return pd.to_numeric(values, errors="coerce").astype("float64")


def fmt_number(value: Any, measure: str = "number", currency: str = "CHF") -> str:
    """A figure in words-friendly form: thousands separators, at most two decimals, the unit of
    the measure (``percent``: a % sign, ``currency``: the currency first). '' when missing.

    >>> fmt_number(1234.5), fmt_number(45.25, "percent"), fmt_number(12000, "currency", "CHF")
    ('1,234.5', '45.25%', 'CHF 12,000')
    """
    v = cell_number(value)
    if math.isnan(v):
        return ""
    if abs(v - round(v)) < 1e-6:
        text = f"{round(v):,}"
    else:
        text = f"{v:,.2f}".rstrip("0").rstrip(".")
    if measure == "percent":
        return text + "%"
    if measure == "currency":
        return f"{currency} {text}"
    return text


def fmt_share(value: Any) -> str:
    """A share (0.456) as a whole percentage ('46%'); '' when missing.

    >>> fmt_share(0.456), fmt_share(None)
    ('46%', '')
    """
    v = cell_number(value)
    return "" if math.isnan(v) else f"{v * 100:.0f}%"


def markdown_text(value: Any) -> str:
    """Free text made inert for Markdown: one line, HTML special characters as entities (a
    Markdown renderer shows them as text), backslash, brackets and backticks escaped.

    >>> markdown_text("  <b>[link](x)</b>\\n`code` ")
    '&lt;b&gt;\\\\[link\\\\](x)&lt;/b&gt; \\\\`code\\\\`'
    """
    text = html.escape(" ".join(cell_text(value).split()), quote=False)
    for ch in ("\\", "[", "]", "`"):
        text = text.replace(ch, "\\" + ch)
    return text
