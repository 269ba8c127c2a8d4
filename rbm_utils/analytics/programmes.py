"""Work against the Action Plan: KPIs, money and people rolled up by programme across the bureau.

Rules (docs/rules.md, "Work against the Action Plan"):

- a result's programme is its Results.programme; a blank one takes the programme its
  Results.theme is filed under (``theme_programme``, from ``action_plan.themes`` of the
  settings); blank when neither gives one. The store keeps what the workbook says; the
  programme is derived here, where the roll-up reads it;
- a KPI's programme is its result's (``progress`` carries the result's programme and theme);
- a money line's (:func:`rbm_utils.analytics.finance.money_by_output`) is its output's;
- per programme: units involved (units with a result in it), results, KPIs per status
  (``n_<status>``, adding up to n_kpis) and the share off track (n_off_track / n_kpis), the
  budget of the year, spent in the year to date, the execution rate (spent / budget of the
  year), staff-months planned and used in the year: the money sums of
  :func:`rbm_utils.analytics.finance.money_totals` by programme;
- rows: every listed programme in the settings' order (a priority with no work shows with
  zeros), then any other programme written in the workbooks (free text, older settings) by
  name, then the results with no programme at all (programme ``""``, "(no programme)").

Example:
    >>> res = pd.DataFrame({"unit_code": ["AFR", "AFR", "CYB"], "result_id": ["O1", "O2", "O1"],
    ...                     "programme": ["", "connectivity", ""], "theme": ["broadband", "", "cybersecurity"]})
    >>> prog = pd.DataFrame({"unit_code": ["AFR", "AFR", "CYB"], "result_id": ["O1", "O2", "O1"],
    ...                      "programme": ["", "connectivity", ""], "theme": ["broadband", "", "cybersecurity"],
    ...                      "status": ["on_track", "off_track", "at_risk"]})
    >>> plan = {"connectivity": "Affordable connectivity", "inclusive_secure": "Inclusive and secure ICTs"}
    >>> themes = {"broadband": "connectivity", "cybersecurity": "inclusive_secure"}
    >>> r = programme_rollup(res, prog, pd.DataFrame(), plan, themes)
    >>> r[["programme", "units", "n_results", "n_kpis", "n_off_track", "share_off_track"]].values.tolist()
    [['connectivity', 'AFR', 2, 2, 1, 0.5], ['inclusive_secure', 'CYB', 1, 1, 0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics import finance
from rbm_utils.core.codes import KPI_STATUSES as STATUS_ORDER
from rbm_utils.core.text import text_column

#: Name shown for results with no programme (neither their own nor their theme's).
NO_PROGRAMME = "(no programme)"

#: Money and people of the year summed by programme (columns of :func:`finance.money_by_output`).
MONEY = ["budget_year", "spent_year", "staff_months_planned_year", "staff_months_used_year"]

#: Columns of :func:`programme_rollup`.
ROLLUP_COLUMNS = [
    "programme",
    "programme_name",
    "listed",
    "n_units",
    "units",
    "n_results",
    "n_kpis",
    *[f"n_{s}" for s in STATUS_ORDER],
    "share_off_track",
    *MONEY[:2],
    "execution_rate",
    *MONEY[2:],
]


def _col(df: pd.DataFrame | None, name: str) -> pd.Series:
    if df is None or name not in df.columns:
        return pd.Series("", index=(df.index if df is not None else pd.RangeIndex(0)), dtype=object)
    return text_column(df[name])


def derived_programme(programme: pd.Series, theme: pd.Series, theme_programme: Mapping[str, str]) -> pd.Series:
    """Each row's programme: its own, else its theme's (``theme_programme``), else ``""``.

    >>> derived_programme(pd.Series(["p1", "", ""]), pd.Series(["t2", "t2", "t9"]), {"t2": "p2"}).tolist()
    ['p1', 'p2', '']
    """
    own = text_column(programme)
    from_theme = text_column(theme).map(lambda t: theme_programme.get(t, "")).astype(object)
    return own.where(own != "", from_theme)


def result_programmes(results: pd.DataFrame | None, theme_programme: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (unit_code, result_id) of sheet Results with its derived ``programme``.

    >>> r = pd.DataFrame({"unit_code": ["A"], "result_id": ["O1"], "programme": [None], "theme": ["t"]})
    >>> result_programmes(r, {"t": "p"}).values.tolist()
    [['A', 'O1', 'p']]
    """
    cols = ["unit_code", "result_id", "programme"]
    if results is None or results.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "unit_code": _col(results, "unit_code"),
            "result_id": _col(results, "result_id"),
            "programme": derived_programme(_col(results, "programme"), _col(results, "theme"), theme_programme or {}),
        }
    )
    return out.drop_duplicates(["unit_code", "result_id"]).reset_index(drop=True)[cols]


def _order(found: set[str], listed: list[str]) -> list[str]:
    """Listed programmes first (all of them), then others by name, then blank."""
    others = sorted(p for p in found if p and p not in listed)
    return [*listed, *others, *([""] if "" in found else [])]


def programme_rollup(
    results: pd.DataFrame | None,
    progress: pd.DataFrame | None,
    money: pd.DataFrame | None,
    programmes: Mapping[str, str] | None = None,
    theme_programme: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """KPIs, money and people of the bureau by programme (rules in the module docstring).

    ``results``: sheet Results of the bureau (unit_code, result_id, programme, theme);
    ``progress``: :func:`rbm_utils.analytics.kpi.kpi_progress`; ``money``:
    :func:`rbm_utils.analytics.finance.money_by_output`; ``programmes``: code -> name of the
    listed programmes; ``theme_programme``: theme code -> programme code. Columns
    :data:`ROLLUP_COLUMNS`; ``listed`` says whether the programme is one of ``programmes``.

    >>> programme_rollup(None, None, None).empty
    True
    """
    names = dict(programmes or {})
    themes = dict(theme_programme or {})
    res = result_programmes(results, themes)
    kp = pd.DataFrame(
        {
            "unit_code": _col(progress, "unit_code"),
            "programme": derived_programme(_col(progress, "programme"), _col(progress, "theme"), themes),
            "status": _col(progress, "status"),
        }
    )
    mo = pd.DataFrame(columns=["unit_code", "result_id", *MONEY, "quarter"])
    if money is not None and not money.empty:
        mo = money.drop(columns=["programme"], errors="ignore").merge(res, on=["unit_code", "result_id"], how="left")
        mo["programme"] = mo["programme"].astype(object).where(mo["programme"].notna(), "")
    else:
        mo["programme"] = pd.Series(dtype=object)
    found = set(res["programme"]) | set(kp["programme"]) | set(mo["programme"])
    order = _order(found, list(names))
    if not order:
        return pd.DataFrame(columns=ROLLUP_COLUMNS)
    out = pd.DataFrame({"programme": order})
    out["programme_name"] = [names.get(p, p) if p else NO_PROGRAMME for p in order]
    out["listed"] = [p in names for p in order]
    units = pd.concat([res[["unit_code", "programme"]], kp[["unit_code", "programme"]], mo[["unit_code", "programme"]]])
    by_units = units[units["unit_code"] != ""].groupby("programme")["unit_code"].agg(lambda u: sorted(set(u)))
    out["n_units"] = [len(by_units.get(p, [])) for p in order]
    out["units"] = [", ".join(by_units.get(p, [])) for p in order]
    out["n_results"] = [int((res["programme"] == p).sum()) for p in order]
    out["n_kpis"] = [int((kp["programme"] == p).sum()) for p in order]
    for s in STATUS_ORDER:
        out[f"n_{s}"] = [int(((kp["programme"] == p) & (kp["status"] == s)).sum()) for p in order]
    n = out["n_kpis"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share_off_track"] = np.where(n > 0, out["n_off_track"].to_numpy(dtype=float) / n, np.nan)
    if len(mo):
        tot = finance.money_totals(mo, ["programme"]).set_index("programme")
    else:
        tot = pd.DataFrame(columns=[*MONEY, "execution_rate"])
    for c in [*MONEY, "execution_rate"]:
        vals = tot[c] if c in tot.columns else pd.Series(dtype=float)
        fill = np.nan if c == "execution_rate" else 0.0
        out[c] = [float(vals.get(p, fill)) for p in order]
    return out[ROLLUP_COLUMNS]
