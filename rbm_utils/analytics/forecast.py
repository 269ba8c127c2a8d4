"""The forecast of a KPI: a straight line through its latest reported current values,
extended to the target quarter (docs/rules.md, "Forecast: likely to meet the target?").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: At most this many latest reported quarters feed the forecast line.
FORECAST_MAX_POINTS = 8


def forecast_line(g: pd.DataFrame, n_entities: int, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line (as numpy.polyfit degree 1) through the current values of the last
    reported quarters (at most :data:`FORECAST_MAX_POINTS`) of each entity.

    ``g`` is an assessed grid of :mod:`rbm_utils.analytics.kpi_grid` (e, pidx, reported,
    current). Returns (slope, intercept) per entity, NaN where fewer than ``min_points`` points.

    >>> g = pd.DataFrame({"e": [0, 0, 0], "pidx": [1.0, 2.0, 3.0], "reported": [True] * 3,
    ...                   "current": [10.0, 20.0, 30.0]})
    >>> [a.tolist() for a in forecast_line(g, 1, 2)]
    [[10.0], [0.0]]
    """
    pts = g.loc[
        g["reported"].to_numpy(dtype=bool) & np.isfinite(g["current"].to_numpy(dtype=float)), ["e", "pidx", "current"]
    ]
    pts = pts.loc[pts.groupby("e", sort=False).cumcount(ascending=False) < FORECAST_MAX_POINTS]
    grp = pts.groupby("e", sort=False)
    n = grp["pidx"].transform("size").to_numpy()
    mx = grp["pidx"].transform("mean").to_numpy()  # each mean once (used twice)
    my = grp["current"].transform("mean").to_numpy()
    x = pts["pidx"].to_numpy(dtype=float) - mx
    y = pts["current"].to_numpy(dtype=float) - my
    sums = pd.DataFrame(
        {
            "e": pts["e"].to_numpy(),
            "sxy": x * y,
            "sxx": x * x,
            "n": n,
            "mx": mx,
            "my": my,
        },
        copy=False,
    )
    agg = sums.groupby("e", sort=False).agg(
        sxy=("sxy", "sum"), sxx=("sxx", "sum"), n=("n", "first"), mx=("mx", "first"), my=("my", "first")
    )
    slope = np.full(n_entities, np.nan)
    intercept = np.full(n_entities, np.nan)
    ok = (agg["n"] >= max(int(min_points), 2)) & (agg["sxx"] > 0)
    agg = agg.loc[ok]
    idx = agg.index.to_numpy(dtype=np.int64)
    slope[idx] = agg["sxy"].to_numpy() / agg["sxx"].to_numpy()
    intercept[idx] = agg["my"].to_numpy() - slope[idx] * agg["mx"].to_numpy()
    return slope, intercept
