"""The rules behind each KPI figure (docs/rules.md, "KPI progress"): achievement, expected
progress and status, as vectorised functions of numpy arrays.

:mod:`rbm_utils.analytics.kpi_grid` applies them to every (KPI, quarter) of a bureau; they
are public so that a single figure can be checked by hand.

Example:
    >>> achievement([30.0], [0.0], [100.0], ["increase"]).tolist()
    [0.3]
    >>> status_codes([0.3], [0.25], [1.2], [True]).tolist()
    ['on_track']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from rbm_utils.analytics.frames import thresholds as thresholds_with
from rbm_utils.core.codes import KpiStatus

#: Figures are compared with thresholds after rounding to this many decimals, so that
#: floating-point noise (0.7 computed as 0.69999999999) never changes a status.
DECIMALS = 9


def achievement(current: ArrayLike, baseline: ArrayLike, target: ArrayLike, direction: ArrayLike) -> np.ndarray:
    """Share of the way from baseline to target: (current - baseline) / (target - baseline);
    where target == baseline: 1.0 if current is at or beyond the target in the KPI's direction,
    else 0.0 (NaN if current is NaN).

    >>> achievement(np.array([70.0]), np.array([100.0]), np.array([50.0]), np.array(["decrease"])).tolist()
    [0.6]
    """
    current = np.asarray(current, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    target = np.asarray(target, dtype=float)
    direction = np.asarray(direction, dtype=object)
    span = target - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (current - baseline) / span
    beyond = np.where(direction == "decrease", current <= target, current >= target)
    flat = np.where(np.isnan(current) | np.isnan(target), np.nan, beyond.astype(float))
    return np.where(span == 0, flat, ratio)


def expected(
    pidx: ArrayLike,
    bidx: ArrayLike,
    tidx: ArrayLike,
    milestone: ArrayLike,
    baseline: ArrayLike,
    target: ArrayLike,
    direction: ArrayLike,
) -> np.ndarray:
    """Expected share of the way from baseline to target at quarter index ``pidx``: linear from
    the baseline quarter ``bidx`` to the target quarter ``tidx``, or the milestone's own share
    where a milestone is set for the quarter.

    >>> expected([2.0, 2.0], [0.0, 0.0], [4.0, 4.0], [np.nan, 30.0], [0.0, 0.0], [100.0, 100.0],
    ...          ["increase", "increase"]).tolist()
    [0.5, 0.3]
    """
    pidx = np.asarray(pidx, dtype=float)
    bidx = np.asarray(bidx, dtype=float)
    tidx = np.asarray(tidx, dtype=float)
    span = tidx - bidx
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.clip((pidx - bidx) / span, 0.0, 1.0)
    linear = np.where(span > 0, linear, np.where(pidx >= tidx, 1.0, 0.0))
    linear = np.where(np.isnan(span) | np.isnan(pidx), np.nan, linear)
    milestone = np.asarray(milestone, dtype=float)
    from_milestone = achievement(milestone, baseline, target, direction)
    return np.where(np.isnan(milestone), linear, from_milestone)


def status_codes(
    achievement: ArrayLike,
    expected: ArrayLike,
    performance: ArrayLike,
    reported_recently: ArrayLike,
    thresholds: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Vectorised status rule (docs/rules.md "Status"): arrays in, array of status codes out.

    In this order: ``target_met`` if achievement >= 1; ``no_data`` if nothing was reported
    recently while progress was expected (expected > 0); ``not_started`` if expected <= 0;
    ``no_data`` if performance cannot be computed (missing baseline, target or periods);
    ``on_track`` if performance >= on_track; ``at_risk`` if >= at_risk; else ``off_track``.

    >>> status_codes([0.45, 0.2], [0.5, 0.5], [0.9, 0.4], [True, True]).tolist()
    ['on_track', 'off_track']
    """
    t = thresholds_with(thresholds)
    ach = np.round(np.asarray(achievement, dtype=float), DECIMALS)
    exp = np.asarray(expected, dtype=float)
    perf = np.round(np.asarray(performance, dtype=float), DECIMALS)
    recent = np.asarray(reported_recently, dtype=bool)
    conditions = [
        ach >= 1,
        ~recent & (exp > 0),
        exp <= 0,
        np.isnan(perf),
        perf >= float(t["on_track"]),
        perf >= float(t["at_risk"]),
    ]
    choices = ["target_met", "no_data", "not_started", "no_data", "on_track", "at_risk"]
    return np.select(conditions, choices, default="off_track").astype(object)


def status_from_performance(
    performance: float,
    *,
    achievement: float = float("nan"),
    expected: float = 1.0,
    reported_recently: bool = True,
    thresholds: Mapping[str, float] | None = None,
) -> KpiStatus:
    """Status of one KPI from its performance and context (same rule as :func:`status_codes`).

    >>> status_from_performance(0.9)
    'on_track'
    >>> status_from_performance(0.69)
    'off_track'
    >>> status_from_performance(0.5, achievement=1.0)
    'target_met'
    >>> status_from_performance(float("nan"), expected=0.0)
    'not_started'
    """
    return cast(
        KpiStatus, str(status_codes([achievement], [expected], [performance], [reported_recently], thresholds)[0])
    )
