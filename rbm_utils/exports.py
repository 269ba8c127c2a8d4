"""Files the workbench writes for people to open in Excel: safe from formula injection.

A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is a formula to
Excel; such text gets a leading apostrophe. Numbers stay numbers.

Example:
    >>> safe_text("=HYPERLINK(...)")
    "'=HYPERLINK(...)"
    >>> safe_text(-3.5)
    -3.5
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> Any:
    """Quote text that a spreadsheet would run as a formula; leave everything else alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell passed through :func:`safe_text`."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_text)
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as UTF-8 CSV, atomically, with formula-looking text quoted."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            safe_frame(df).to_csv(fh, index=False)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
