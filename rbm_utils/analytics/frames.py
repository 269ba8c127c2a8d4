"""Small helpers every analytics module shares (one copy, not one per module).

Cells and columns as text or numbers come from :mod:`rbm_utils.core.text`, quarter indexes of a
period column from :mod:`rbm_utils.core.quarters`; here only what is about a bureau state.

Example:
    >>> match_key(pd.Series([" Digital  Skills ", None])).tolist()
    ['digital skills', '']
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS
from rbm_utils.core.text import text_column

#: Two computed figures closer than this are equal (floating-point noise, not a change).
TOLERANCE = 1e-9


def thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """The default thresholds with ``overrides`` applied."""
    return {**DEFAULT_THRESHOLDS, **(overrides or {})}


def sheet_frame(state: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A sheet of a bureau state, or its empty frame (with unit_code) when absent."""
    df = state.get(name)
    return schema.empty_frame(name, with_unit=True) if df is None else df


def match_key(s: pd.Series) -> pd.Series:
    """Matching key: trimmed, inner whitespace collapsed, case folded."""
    return text_column(s).str.replace(r"\s+", " ", regex=True).str.casefold()


def conformed_sheet(state: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A sheet of a bureau state conformed to the contract (a new frame; empty when absent).

    >>> list(conformed_sheet({}, "Milestones").columns)
    ['unit_code', 'kpi_id', 'period', 'target_value']
    """
    df = state.get(name)
    if df is None:
        return schema.empty_frame(name, with_unit=True)
    return schema.conform(name, df, with_unit=True)


def column(df: pd.DataFrame, name: str, default: object = None) -> pd.Series:
    """Column ``name`` of ``df``, or a column of ``default`` when ``df`` has none (same index).

    >>> column(pd.DataFrame({"a": [1]}), "b", "x").tolist()
    ['x']
    """
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def column_text(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``df`` as stripped text, '' where blank or absent."""
    return text_column(column(df, name))
