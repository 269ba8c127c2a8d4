"""Assumption tests: each causal assumption of the theory of change checked against actuals,
quarter by quarter, with the figures behind every verdict.

Verdicts (``rbm_utils.core.codes.VERDICTS``): ``holds``, ``weakening``, ``broken``, ``untested``.
Tests (``schema.ASSUMPTION_TESTS``), with m = ``assumption_margin`` (0.10):

- ``min_ratio``: observed = current(kpi) / current(reference_kpi) at the period;
- ``min_value``: observed = current(kpi);
- ``min_achievement``: observed = achievement(kpi);
  for these three, with threshold T: observed < T -> ``broken``; T <= observed < T + m*|T|
  -> ``weakening`` (met, but by less than the margin); observed >= T + m*|T| -> ``holds``;
  ``untested`` when the KPI (or the reference KPI) was not reported in the last
  ``no_data_quarters`` quarters up to the period, or the figure cannot be computed
  (reference at 0, no achievement);
- ``non_decreasing``: observed = current(kpi) at the period - current(kpi) at its previous
  reported period; against the KPI's direction (a fall for ``increase``, a rise for
  ``decrease``) by more than m*|previous| -> ``broken``, by less (or exactly that) ->
  ``weakening``, otherwise ``holds``; ``untested`` in a period with no new report or with
  no earlier report to compare with;
- ``manual``: the officer's ``verdict`` (blank -> ``untested``), explained by ``evidence``,
  at the reviewed quarter only.

Figures are compared after rounding to 9 decimals.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> a = schema.conform("Assumptions", pd.DataFrame({"unit_code": ["AFR"], "assumption_id": ["AS1"],
    ...     "test": ["min_value"], "kpi_id": ["K1"], "threshold": [100]}), with_unit=True)
    >>> series = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "period": ["2026-Q3"],
    ...     "reported": [True], "current": [105.0], "achievement": [0.5]})
    >>> t = assumption_tests({"Assumptions": a}, "2026-Q3", series, None)
    >>> t.loc[0, "verdict"]
    'weakening'
    >>> t.loc[0, "explanation"]
    'K1 = 105 at 2026-Q3; meets the threshold 100 but by less than the 10% margin (below 110): weakening'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.analytics.frames import thresholds as _thresholds
from rbm_utils.core import schema
from rbm_utils.core.codes import VERDICTS, Verdict
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of, text_of
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

THRESHOLD_TESTS = ("min_ratio", "min_value", "min_achievement")
_DECIMALS = 9
#: Verdicts that can worsen, best first (``untested`` is outside the order).
VERDICT_RANK: dict[Verdict, int] = {"holds": 0, "weakening": 1, "broken": 2}

TEST_COLUMNS = [
    "unit_code",
    "assumption_id",
    "period",
    "test",
    "kpi_id",
    "reference_kpi_id",
    "observed",
    "threshold",
    "verdict",
    "explanation",
    "from_result",
    "to_result",
    "statement",
]
CHANGE_COLUMNS = [
    "unit_code",
    "assumption_id",
    "statement",
    "test",
    "previous_verdict",
    "verdict",
    "changed",
    "worsened",
    "explanation",
]
LOG_COLUMNS = ["unit_code", "assumption_id", "quarter", "statement", "test", "verdict", "evidence", "review_note"]


def fmt(x: float | None) -> str:
    """A figure for an explanation: thousands separated, at most 2 decimals.

    >>> fmt(1234.5), fmt(40.0), fmt(0.333), fmt(float("nan"))
    ('1,234.5', '40', '0.33', 'n/a')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "n/a"
    x = float(x)
    if x != 0 and abs(x) < 0.01:
        return f"{x:.3g}"
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def threshold_verdicts(observed, threshold, margin: float = 0.10) -> np.ndarray:
    """Vectorised verdict of a threshold test (NaN observed or threshold -> ``untested``).

    >>> threshold_verdicts([9.99, 10, 10.99, 11, np.nan], [10] * 5).tolist()
    ['broken', 'weakening', 'weakening', 'holds', 'untested']
    """
    obs = np.round(np.asarray(observed, dtype=float), _DECIMALS)
    thr = np.asarray(threshold, dtype=float)
    upper = np.round(thr + margin * np.abs(thr), _DECIMALS)
    thr = np.round(thr, _DECIMALS)
    with np.errstate(invalid="ignore"):
        return np.select(
            [np.isnan(obs) | np.isnan(thr), obs < thr, obs < upper],
            ["untested", "broken", "weakening"],
            default="holds",
        ).astype(object)


def _series_frame(series: pd.DataFrame | None, qidx: int, wanted: pd.DataFrame) -> pd.DataFrame:
    """The series rows of the wanted (unit_code, kpi_id) up to the quarter, with for each
    period: last_rep (index of the latest reported period <= it), first_rep, prev_current and
    prev_pidx (current value and index of the latest reported period before it)."""
    cols = [
        "unit_code",
        "kpi_id",
        "pidx",
        "reported",
        "current",
        "achievement",
        "last_rep",
        "first_rep",
        "prev_current",
        "prev_pidx",
    ]
    if series is None or series.empty or wanted.empty:
        return pd.DataFrame(columns=cols)
    s = series[["unit_code", "kpi_id", "period", "reported", "current", "achievement"]]
    s = s.assign(kpi_id=_text(s["kpi_id"]))
    s = s.merge(wanted.drop_duplicates(), on=["unit_code", "kpi_id"], how="inner")
    s = s.assign(
        pidx=index_of(s["period"]),
        reported=s["reported"].fillna(False).astype(bool),
        current=pd.to_numeric(s["current"], errors="coerce").astype("float64"),
        achievement=pd.to_numeric(s["achievement"], errors="coerce").astype("float64"),
    )
    s = s[s["pidx"] <= qidx].sort_values(["unit_code", "kpi_id", "pidx"], kind="stable").reset_index(drop=True)
    keys = [s["unit_code"], s["kpi_id"]]
    rep_idx = s["pidx"].where(s["reported"])
    s["last_rep"] = rep_idx.groupby(keys).ffill()
    s["first_rep"] = rep_idx.groupby(keys).transform("min")
    s["prev_current"] = s["current"].where(s["reported"]).groupby(keys).shift(1).groupby(keys).ffill()
    s["prev_pidx"] = rep_idx.groupby(keys).shift(1).groupby(keys).ffill()
    return s[cols]


def _kpi_directions(state: Mapping[str, pd.DataFrame], progress: pd.DataFrame | None) -> pd.DataFrame:
    k = _sheet(state, "KPIs")
    frames = []
    if progress is not None and not progress.empty and "direction" in progress.columns:
        frames.append(progress[["unit_code", "kpi_id", "direction"]])
    frames.append(k[["unit_code", "kpi_id", "direction"]])
    d = pd.concat(frames, ignore_index=True)
    d = d.assign(kpi_id=_text(d["kpi_id"]), direction=_text(d["direction"]))
    d = d[d["direction"] != ""]
    return d.drop_duplicates(["unit_code", "kpi_id"], keep="first")


def assumption_tests(
    state: Mapping[str, pd.DataFrame],
    quarter: QuarterLike,
    series: pd.DataFrame | None,
    progress: pd.DataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Verdict of every assumption for every quarter from the first reported quarter of its
    KPI up to ``quarter`` (manual tests, incomplete tests and tests whose KPI was never
    reported: one row at ``quarter``). Columns :data:`TEST_COLUMNS`; rules in the module
    docstring.

    ``series`` is :func:`rbm_utils.analytics.kpi.kpi_series` (unit_code, kpi_id, period, reported,
    current, achievement are used); ``progress`` (:func:`rbm_utils.analytics.kpi.kpi_progress`, may be
    None) supplies each KPI's direction, else sheet KPIs does (blank direction = increase).
    ``threshold`` of a non_decreasing row is the largest tolerated change against the
    direction, signed: -m*|previous| for an increase KPI, +m*|previous| for a decrease KPI.

    >>> assumption_tests({}, "2026-Q3", None).empty
    True
    """
    q = Quarter.parse(quarter)
    t = _thresholds(thresholds)
    margin = float(t["assumption_margin"])
    nq = int(t["no_data_quarters"])
    mtext = f"{margin:.0%}"
    qidx = q.index
    a = _sheet(state, "Assumptions")
    if a.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    a = pd.DataFrame(
        {
            "unit_code": a["unit_code"],
            "assumption_id": _text(a["assumption_id"]),
            "test": _text(a["test"]),
            "kpi_id": _text(a["kpi_id"]),
            "reference_kpi_id": _text(a["reference_kpi_id"]),
            "threshold": pd.to_numeric(a["threshold"], errors="coerce").astype("float64"),
            "manual_verdict": _text(a["verdict"]),
            "evidence": _text(a["evidence"]),
            "from_result": a["from_result"],
            "to_result": a["to_result"],
            "statement": a["statement"],
        }
    )

    single: list[pd.DataFrame] = []  # rows at the quarter only: manual, incomplete, never reported

    def at_quarter(rows: pd.DataFrame, verdicts, explanations) -> None:
        if len(rows):
            single.append(
                rows.assign(period=str(q), observed=np.nan, verdict=list(verdicts), explanation=list(explanations))
            )

    # manual tests
    man = a[a["test"] == "manual"]
    mv = man["manual_verdict"].where(man["manual_verdict"].isin(VERDICTS), "untested")
    at_quarter(
        man,
        mv,
        [
            (f"officer's verdict: {v}; " if v != "untested" else "no verdict recorded; ")
            + (f"evidence: {e}" if e else "no evidence given")
            for v, e in zip(mv, man["evidence"])
        ],
    )
    # unknown and incomplete tests
    auto = a[a["test"] != "manual"]
    unknown = ~auto["test"].isin(schema.ASSUMPTION_TESTS)
    at_quarter(
        auto[unknown], ["untested"] * int(unknown.sum()), [f"unknown test {x!r}" for x in auto.loc[unknown, "test"]]
    )
    auto = auto[~unknown]
    missing = pd.Series("", index=auto.index)
    for test, needs in schema.ASSUMPTION_TEST_NEEDS.items():
        if test == "manual":
            continue
        for col in needs:
            lacking = (auto["test"] == test) & (auto[col].isna() if col == "threshold" else auto[col] == "")
            missing = missing.where(~lacking, missing + ", " + col)
    missing = missing.str.lstrip(", ")
    incomplete = missing != ""
    at_quarter(
        auto[incomplete],
        ["untested"] * int(incomplete.sum()),
        [f"incomplete test: no {m}" for m in missing[incomplete]],
    )
    auto = auto[~incomplete]

    # tests against the series
    wanted = pd.concat(
        [
            auto[["unit_code", "kpi_id"]],
            auto.loc[auto["test"] == "min_ratio", ["unit_code", "reference_kpi_id"]].rename(
                columns={"reference_kpi_id": "kpi_id"}
            ),
        ],
        ignore_index=True,
    )
    s = _series_frame(series, qidx, wanted)
    rows = auto.merge(s, on=["unit_code", "kpi_id"], how="inner")
    rows = rows[rows["pidx"] >= rows["first_rep"]]
    seen = rows[["unit_code", "assumption_id"]].drop_duplicates()
    never = auto.merge(seen, on=["unit_code", "assumption_id"], how="left", indicator=True)
    never = never[never["_merge"] == "left_only"].drop(columns="_merge")
    at_quarter(never, ["untested"] * len(never), [f"no value of {k} reported up to {q}" for k in never["kpi_id"]])

    if not rows.empty:
        ref = s[["unit_code", "kpi_id", "pidx", "current", "last_rep"]].rename(
            columns={"kpi_id": "reference_kpi_id", "current": "ref_current", "last_rep": "ref_last_rep"}
        )
        rows = rows.merge(ref, on=["unit_code", "reference_kpi_id", "pidx"], how="left")
        rows = rows.merge(_kpi_directions(state, progress), on=["unit_code", "kpi_id"], how="left")
        rows = _judge(rows, margin, nq, mtext)
        rows["period"] = text_of(rows["pidx"].to_numpy(dtype=float))
        tested = [rows]
    else:
        tested = []
    out = pd.concat([*single, *tested], ignore_index=True) if (single or tested) else pd.DataFrame(columns=TEST_COLUMNS)
    out = out.reindex(columns=TEST_COLUMNS)
    out["observed"] = out["observed"].astype("float64")
    out["threshold"] = out["threshold"].astype("float64")
    return out.sort_values(["unit_code", "assumption_id", "period"], kind="stable").reset_index(drop=True)


def _judge(rows: pd.DataFrame, margin: float, nq: int, mtext: str) -> pd.DataFrame:
    """Observed figure, verdict and explanation of each (assumption, period) row."""
    test = rows["test"].to_numpy(dtype=object)
    pidx = rows["pidx"].to_numpy(dtype=float)
    cur = rows["current"].to_numpy(dtype=float)
    refcur = rows["ref_current"].to_numpy(dtype=float)
    recent = (pidx - rows["last_rep"].to_numpy(dtype=float)) < nq
    ref_recent = (pidx - rows["ref_last_rep"].to_numpy(dtype=float)) < nq
    thr = rows["threshold"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(refcur != 0, cur / refcur, np.nan)
    observed = np.select(
        [test == "min_ratio", test == "min_value", test == "min_achievement"],
        [ratio, cur, rows["achievement"].to_numpy(dtype=float)],
        default=np.nan,
    )
    verdict = threshold_verdicts(observed, thr, margin)

    # non_decreasing
    nd = test == "non_decreasing"
    prev = rows["prev_current"].to_numpy(dtype=float)
    decrease = rows["direction"].fillna("").to_numpy(dtype=object) == "decrease"
    change = cur - prev
    adverse = np.round(np.where(decrease, change, -change), _DECIMALS)
    tol = np.round(margin * np.abs(prev), _DECIMALS)
    reported = rows["reported"].to_numpy(dtype=bool)
    nd_verdict = np.select(
        [~reported | np.isnan(change), adverse > tol, adverse > 0], ["untested", "broken", "weakening"], default="holds"
    )
    verdict = np.where(nd, nd_verdict, verdict)
    observed = np.where(nd, change, observed)
    thr = np.where(nd, np.where(decrease, tol, -tol), thr)
    # stale data leaves threshold tests untested
    stale = ~nd & (~recent | ((test == "min_ratio") & ~ref_recent))
    verdict = np.where(stale, "untested", verdict)

    explanations = []
    for i, (v, tst, k, rk, p) in enumerate(zip(verdict, test, rows["kpi_id"], rows["reference_kpi_id"], pidx)):
        period = str(Quarter.from_index(int(p)))
        o, th = observed[i], thr[i]
        upper = th + margin * abs(th) if not nd[i] else np.nan
        if tst == "non_decreasing":
            if not reported[i]:
                explanations.append(f"no new report of {k} in {period}")
                continue
            if np.isnan(prev[i]):
                explanations.append(f"first report of {k} at {period}: nothing earlier to compare with")
                continue
            pp = str(Quarter.from_index(int(rows["prev_pidx"].iat[i])))
            dirn = "decrease" if decrease[i] else "increase"
            head = (
                f"{k} went from {fmt(prev[i])} ({pp}) to {fmt(cur[i])} ({period}), "
                f"a change of {'+' if change[i] > 0 else ''}{fmt(change[i])}"
            )
            if v == "holds":
                tail = f"not against its direction ({dirn}): holds"
            else:
                word = "more than" if v == "broken" else "within"
                tail = (
                    f"against its direction ({dirn}) by {fmt(abs(change[i]))}, {word} the {mtext} margin "
                    f"of {fmt(tol[i])}: {v}"
                )
            explanations.append(f"{head}; {tail}")
            continue
        if stale[i]:
            who = k if not recent[i] else rk
            explanations.append(f"no report of {who} in the {nq} quarters up to {period}")
            continue
        if tst == "min_ratio":
            if refcur[i] == 0:
                explanations.append(f"{rk} is 0 at {period}: the ratio {k} / {rk} is undefined")
                continue
            head = f"{k} / {rk} = {fmt(cur[i])} / {fmt(refcur[i])} = {fmt(o)} at {period}"
        elif tst == "min_value":
            head = f"{k} = {fmt(o)} at {period}"
        else:
            head = f"achievement of {k} = {fmt(o)}" + (f" ({o:.0%})" if not np.isnan(o) else "") + f" at {period}"
        if v == "untested":
            explanations.append(f"{head}: cannot be compared with the threshold")
        elif v == "holds":
            explanations.append(
                f"{head}; at least the threshold {fmt(th)} plus the {mtext} margin ({fmt(upper)}): holds"
            )
        elif v == "weakening":
            explanations.append(
                f"{head}; meets the threshold {fmt(th)} but by less than the {mtext} margin "
                f"(below {fmt(upper)}): weakening"
            )
        else:
            explanations.append(f"{head}; below the threshold {fmt(th)}: broken")
    return rows.assign(observed=observed, threshold=thr, verdict=verdict, explanation=explanations)


def assumption_changes(tests: pd.DataFrame, quarter: QuarterLike, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Verdict at ``quarter`` against the previous quarter, one row per assumption tested at
    ``quarter``. Columns :data:`CHANGE_COLUMNS`.

    The previous verdict is read from ``previous`` (the previous quarter's
    :func:`assumption_tests`, needed for manual tests, which have one row per run) when
    given, else from ``tests`` itself. ``changed``: a previous verdict exists and differs;
    ``worsened``: it moved down holds -> weakening -> broken (``untested`` never worsens).

    >>> assumption_changes(assumption_tests({}, "2026-Q3", None), "2026-Q3").empty
    True
    """
    q = Quarter.parse(quarter)
    prev_q = str(q.previous)
    if tests.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    cur = tests[tests["period"] == str(q)]
    src = tests if previous is None else previous
    prev = src[src["period"] == prev_q][["unit_code", "assumption_id", "verdict"]]
    prev = prev.drop_duplicates(["unit_code", "assumption_id"], keep="last").rename(
        columns={"verdict": "previous_verdict"}
    )
    out = cur.merge(prev, on=["unit_code", "assumption_id"], how="left")
    out["previous_verdict"] = out["previous_verdict"].astype(object).where(out["previous_verdict"].notna(), None)
    out["changed"] = out["previous_verdict"].notna() & (out["previous_verdict"] != out["verdict"])
    r_now = out["verdict"].map(VERDICT_RANK)
    r_before = out["previous_verdict"].map(VERDICT_RANK)
    out["worsened"] = (r_now > r_before).fillna(False).astype(bool)
    return out[CHANGE_COLUMNS].reset_index(drop=True)


def learning_log(
    history: Mapping[str, Mapping[str, pd.DataFrame]] | pd.DataFrame, changed_only: bool = True
) -> pd.DataFrame:
    """What was learnt about each assumption, quarter by quarter: the non-blank
    ``review_note`` of sheet Assumptions in each quarter's state.

    ``history`` is either a dict quarter -> state (the state as submitted for that quarter,
    e.g. from the store's snapshots) or one long frame: Assumptions rows with a ``quarter``
    column. With ``changed_only`` a note is kept only when it differs from the assumption's
    previous kept note (officers often carry notes forward unchanged). Columns
    :data:`LOG_COLUMNS`, sorted by unit, assumption and quarter.

    >>> learning_log({}).empty
    True
    """
    if isinstance(history, pd.DataFrame):
        long = history
    else:
        parts = [_sheet(st, "Assumptions").assign(quarter=q) for q, st in history.items()]
        long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*LOG_COLUMNS])
    if long.empty:
        return pd.DataFrame(columns=LOG_COLUMNS)
    df = pd.DataFrame(
        {
            "unit_code": long["unit_code"],
            "assumption_id": _text(long["assumption_id"]),
            "quarter": _text(long["quarter"]),
            "statement": long.get("statement"),
            "test": long.get("test"),
            "verdict": long.get("verdict"),
            "evidence": long.get("evidence"),
            "review_note": _text(long["review_note"]),
        }
    )
    df = df[df["review_note"] != ""]
    df = df.assign(_q=index_of(df["quarter"])).sort_values(["unit_code", "assumption_id", "_q"], kind="stable")
    df = df.drop_duplicates(["unit_code", "assumption_id", "quarter"], keep="last")
    if changed_only:
        norm = df["review_note"].str.replace(r"\s+", " ", regex=True)
        before = norm.groupby([df["unit_code"], df["assumption_id"]]).shift(1)
        df = df[norm != before]
    return df[LOG_COLUMNS].reset_index(drop=True)
