"""Small helpers every analytics module shares (one copy, not one per module).

Example:
    >>> text(pd.Series([" a ", None])).tolist()
    ['a', '']
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from . import schema
from .config import DEFAULT_THRESHOLDS


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
