"""Cells and text: the one test of an empty cell, cell-to-text and cell-to-number, HTML escaping.

Example:
    >>> is_blank(None), is_blank(" \\u00a0"), is_blank(float("nan")), is_blank(0)
    (True, True, True, False)
    >>> cell_text("  AFR "), cell_number("2.5"), escape_text("<b>")
    ('AFR', 2.5, '&lt;b&gt;')
"""
from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

#: Characters that look like a space (no-break, thin, zero-width, BOM): a cell of only these is empty.
SPACE_LIKE = "\u00a0\u2007\u202f\u2009\u200a\u200b\ufeff"
_SPACES = dict.fromkeys(map(ord, SPACE_LIKE), " ")


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


def blank_mask(values: pd.Series) -> np.ndarray:
    """Vectorised :func:`is_blank` over a column.

    >>> blank_mask(pd.Series(["a", " ", None])).tolist()
    [False, True, True]
    """
    s = values.astype(object)
    return (s.isna() | s.map(lambda v: isinstance(v, str) and not v.translate(_SPACES).strip())).to_numpy(dtype=bool)


def escape_text(value: Any) -> str:
    """HTML-escape free text for anything that becomes HTML (charts, notebooks, dashboards).

    Missing values (None, NaN, NA) give ''.

    >>> escape_text("<script>alert('x')</script> & co")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co'
    >>> escape_text(None)
    ''
    """
    if is_missing(value):
        return ""
    return html.escape(str(value), quote=True)
