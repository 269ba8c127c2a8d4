"""Small helpers every analytics module shares (one copy, not one per module).

Example:
    >>> text(pd.Series([" a ", None])).tolist()
    ['a', '']
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS


def thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """The default thresholds with ``overrides`` applied."""
    return {**DEFAULT_THRESHOLDS, **(overrides or {})}


def sheet_frame(state: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A sheet of a bureau state, or its empty frame (with unit_code) when absent."""
    df = state.get(name)
    return schema.empty_frame(name, with_unit=True) if df is None else df


def text(s: pd.Series) -> pd.Series:
    """A text column as plain str, blanks as ''."""
    return s.astype(object).where(s.notna(), "").astype(str).str.strip()


def match_key(s: pd.Series) -> pd.Series:
    """Matching key: trimmed, inner whitespace collapsed, case folded."""
    return text(s).str.replace(r"\s+", " ", regex=True).str.casefold()


def period_idx(s: pd.Series) -> pd.Series:
    """Period index of each cell (NaN where not a period); parses each distinct value once.

    >>> period_idx(pd.Series(["2026-Q1", "x"])).tolist()[0] == schema.period_index("2026-Q1")
    True
    """
    mapping = {}
    for u in pd.unique(s.astype(object)):
        p = schema.parse_period(u) if isinstance(u, str) else None
        mapping[u] = float(p[0] * 4 + p[1] - 1) if p else np.nan
    return s.astype(object).map(mapping).astype("float64")


def num(s: pd.Series) -> pd.Series:
    """A column as float64, anything not a number as NaN."""
    return pd.to_numeric(s, errors="coerce").astype("float64")
