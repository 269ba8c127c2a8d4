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
    >>> g = pd.DataFrame({"e": [0] * 10, "pidx": np.arange(10.0), "reported": [True] * 10,
    ...                   "current": [50.0, 50.0] + [2.0 * i for i in range(2, 10)]})
    >>> [a.tolist() for a in forecast_line(g, 1, 2)]  # the latest 8 points only
    [[2.0], [0.0]]
    """
    # the latest points picked in numpy; the means and sums are pandas' (compensated) group sums
    keep = g["reported"].to_numpy(dtype=bool) & np.isfinite(g["current"].to_numpy(dtype=float))
    rows = np.flatnonzero(keep)
    e = g["e"].to_numpy()[rows]
    if (e[1:] < e[:-1]).any():  # by entity (a grid is: kept as is)
        order = np.argsort(e, kind="stable")
        rows, e = rows[order], e[order]
    n_e = np.bincount(e, minlength=n_entities)[:n_entities] if len(e) else np.zeros(n_entities, dtype=np.int64)
    end = np.cumsum(n_e)  # one past each entity's last point
    last = end[e] - np.arange(len(e)) <= FORECAST_MAX_POINTS  # its latest FORECAST_MAX_POINTS points
    rows, e = rows[last], e[last]
    px = g["pidx"].to_numpy(dtype=float)[rows]
    py = g["current"].to_numpy(dtype=float)[rows]
    means = pd.DataFrame({"x": px, "y": py}, copy=False).groupby(e, sort=True).mean()  # pandas' sums
    ents = means.index.to_numpy(dtype=np.int64)
    n = np.bincount(e, minlength=n_entities)[ents] if len(e) else np.zeros(0, dtype=np.int64)
    mx, my = means["x"].to_numpy(), means["y"].to_numpy()
    x = px - np.repeat(mx, n)
    y = py - np.repeat(my, n)
    sums = pd.DataFrame({"sxy": x * y, "sxx": x * x}, copy=False).groupby(e, sort=True).sum()
    sxy, sxx = sums["sxy"].to_numpy(), sums["sxx"].to_numpy()
    slope = np.full(n_entities, np.nan)
    intercept = np.full(n_entities, np.nan)
    ok = (n >= max(int(min_points), 2)) & (sxx > 0)
    idx = ents[ok]
    slope[idx] = sxy[ok] / sxx[ok]
    intercept[idx] = my[ok] - slope[idx] * mx[ok]
    return slope, intercept
