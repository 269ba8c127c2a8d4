"""The overview's "Work against the Action Plan": the roll-up by programme, as published.

The roll-up is computed once by the batch (:func:`rbm_utils.analytics.programmes.programme_rollup`,
key ``programmes`` of the analysis); here it is only read. An analysis frozen before the roll-up
existed has no such table: an empty one is shown.

Example:
    >>> rollup({"programmes": pd.DataFrame({"programme": ["connectivity"]})})["programme"].tolist()
    ['connectivity']
    >>> list(rollup({}).columns) == ROLLUP_COLUMNS
    True
    >>> programme_options(["connectivity", "Free text"], {"connectivity": "Affordable connectivity"})
    [('Affordable connectivity', 'connectivity'), ('Free text', 'Free text')]
    >>> named(pd.DataFrame({"programme": ["connectivity", "Free text"]}), {"connectivity": "Affordable connectivity"})
               programme
    0  Affordable connectivity
    1                Free text
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from rbm_utils.analytics.programmes import ROLLUP_COLUMNS

KEY = "programmes"


def rollup(tables: Any) -> pd.DataFrame:
    """The published roll-up by programme of a review (its ``results``), or of a mapping of
    tables (a dashboard's); an empty frame with its columns when the quarter has none."""
    results = getattr(tables, "results", tables)
    frame = results.get(KEY) if isinstance(results, Mapping) else None
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(columns=ROLLUP_COLUMNS)


def programme_options(codes: Iterable[str], names: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) pairs of a programme filter: the programme's name for a listed code, the
    value as written otherwise."""
    return [(names.get(c, c), c) for c in codes]


def named(frame: pd.DataFrame | None, names: Mapping[str, str]) -> pd.DataFrame | None:
    """A copy of ``frame`` to show, its ``programme`` column holding each listed code's name
    (other values as written); ``frame`` itself when it has no such column."""
    if frame is None or "programme" not in frame.columns or not names:
        return frame
    return frame.assign(programme=frame["programme"].map(lambda p: names.get(p, p) if isinstance(p, str) else p))
