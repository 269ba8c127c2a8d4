"""Partners across the bureau: the resource mobilisation register read once, then who works with
which unit and initiative, the largest partners, concentration on few donors, new partners,
pipeline per relationship owner and resources by stage.

Rules (docs/rules.md, "Partners and resource mobilisation"):

- the register is sheet Partners of every unit; a blank ``stage`` (a row of an older workbook)
  is ``received``; partners are matched ignoring case and spaces, shown with their first spelling;
- a row funds an *output* (its ``result_id``, else the output of its ``activity_id`` in sheet
  Activities), else an *initiative* (its ``initiative``), else the unit as a whole;
- *secured* = agreement_signed + received; *pipeline* = the open stages prospect,
  proposal_submitted and pledged; *weighted pipeline* = each open amount times its stage's
  weight (``funding.pipeline_weights``); declined counts nowhere but its own column;
- a row's *year* is the year its money is due: for ``received`` its actual_date (else its
  expected_date), for the other stages its expected_date (else its actual_date); undated: none;
- a partner is *new this year* when the earliest year of its rows (declined ones left out),
  anywhere in the bureau, is the reporting year (a partner with no dated row is never new);
- concentration, over secured amounts: the top-3 share (the three largest partners' share of the
  total) and the Herfindahl index (the sum of every partner's squared share: 1 = one partner
  holds everything, 1/n = n equal partners).

Example:
    >>> p = pd.DataFrame({"unit_code": ["AFR", "AFR"], "partner": ["EU", "eu "],
    ...     "stage": ["received", "prospect"], "amount": [100.0, 50.0], "result_id": ["O1", "O1"]})
    >>> units = partner_units({"Partners": p}, "2026-Q3")
    >>> units[["partner", "secured", "pipeline", "weighted_pipeline"]].to_dict("records")
    [{'partner': 'EU', 'secured': 100.0, 'pipeline': 50.0, 'weighted_pipeline': 5.0}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import conformed_sheet as _conformed
from rbm_utils.analytics.frames import match_key as _key
from rbm_utils.core.codes import PARTNER_STAGES
from rbm_utils.core.config import Funding
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import number_column as _num
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

#: Open stages: money that could still come (weighted in the pipeline).
OPEN_STAGES = ("prospect", "proposal_submitted", "pledged")
#: Secured stages: money signed for or received.
SECURED_STAGES = ("agreement_signed", "received")
#: unit_code of the rows that total the whole bureau.
BUREAU = "bureau"

REGISTER_COLUMNS = [
    "unit_code",
    "partner",
    "partner_key",
    "partner_type",
    "target",
    "result_id",
    "initiative",
    "theme",
    "activity_id",
    "contribution_type",
    "stage",
    "amount",
    "weighted",
    "expected_date",
    "actual_date",
    "owner",
    "year",
]
STAGE_SUMS = [*PARTNER_STAGES, "secured", "pipeline", "weighted_pipeline"]
PARTNER_UNIT_COLUMNS = [
    "unit_code",
    "partner",
    "partner_type",
    *STAGE_SUMS,
    "n_contributions",
    "initiatives",
    "outputs",
    "owners",
    "first_year",
    "new_this_year",
]
LARGEST_COLUMNS = [
    "rank",
    "partner",
    "partner_type",
    "n_units",
    "units",
    "n_initiatives",
    "initiatives",
    "secured",
    "received",
    "pipeline",
    "weighted_pipeline",
    "share_of_secured",
    "first_year",
    "new_this_year",
]
CONCENTRATION_COLUMNS = [
    "unit_code",
    "n_partners",
    "secured",
    "largest_partner",
    "largest_share",
    "top3_share",
    "herfindahl",
    "n_new_partners",
]
OWNER_COLUMNS = ["unit_code", "owner", "n_open", "pipeline", "weighted_pipeline", "secured", "next_expected"]
STAGE_COLUMNS = ["unit_code", *STAGE_SUMS, "n_partners"]


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(_text(s).replace("", None), errors="coerce")


def _join(values: pd.Series) -> str:
    return "; ".join(sorted({v for v in values if v}))


def register(state: Mapping[str, pd.DataFrame], funding: Funding | None = None) -> pd.DataFrame:
    """Sheet Partners of every unit, read once: columns :data:`REGISTER_COLUMNS` (rules in the
    module docstring). ``target`` is ``output``, ``initiative`` or ``unit``; ``initiative`` and
    ``theme`` come from the output's Results row when the row funds an output; ``weighted`` is
    the amount times its stage's weight for an open stage, else 0.

    >>> register({}).columns.tolist()[:4]
    ['unit_code', 'partner', 'partner_key', 'partner_type']
    """
    weights = (funding or Funding()).pipeline_weights
    p = _conformed(state, "Partners")
    if p.empty:
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    ac = _conformed(state, "Activities")
    res = _conformed(state, "Results")
    act_out = {(u, a): r for u, a, r in zip(ac["unit_code"], _text(ac["activity_id"]), _text(ac["result_id"]))}
    res_init = {(u, r): i for u, r, i in zip(res["unit_code"], _text(res["result_id"]), _text(res["initiative"]))}
    res_theme = {(u, r): t for u, r, t in zip(res["unit_code"], _text(res["result_id"]), _text(res["theme"]))}
    init_theme: dict[tuple[str, str], str] = {}
    for u, i, t in zip(res["unit_code"], _key(res["initiative"]), _text(res["theme"])):
        if i and t:
            init_theme.setdefault((u, i), t)
    units = p["unit_code"].astype(str)
    given = _text(p["result_id"])
    act = _text(p["activity_id"])
    via = pd.Series([act_out.get((u, a), "") for u, a in zip(units, act)], index=p.index, dtype=object)
    result = given.where(given != "", via)
    initiative = _text(p["initiative"])
    target = np.where(result != "", "output", np.where(initiative != "", "initiative", "unit"))
    from_result = pd.Series([res_init.get((u, r), "") for u, r in zip(units, result)], index=p.index, dtype=object)
    initiative = initiative.where((result == "") | (from_result == ""), from_result)
    theme = pd.Series(
        [res_theme.get((u, r), "") or init_theme.get((u, i), "") for u, r, i in zip(units, result, _key(initiative))],
        index=p.index,
        dtype=object,
    )
    stage = _text(p["stage"]).replace("", "received")
    amount = _num(p["amount"]).fillna(0.0)
    expected, actual = _dates(p["expected_date"]), _dates(p["actual_date"])
    received = stage == "received"
    first = actual.where(received, expected)
    second = expected.where(received, actual)
    year = first.fillna(second).dt.year.astype("Int64")
    out = pd.DataFrame(
        {
            "unit_code": units,
            "partner": _text(p["partner"]),
            "partner_key": _key(p["partner"]),
            "partner_type": _text(p["partner_type"]).replace("", "unspecified"),
            "target": target,
            "result_id": result,
            "initiative": initiative,
            "theme": theme,
            "activity_id": act,
            "contribution_type": _text(p["contribution_type"]),
            "stage": stage,
            "amount": amount,
            "weighted": amount * stage.map(lambda s: float(weights.get(s, 0.0)) if s in OPEN_STAGES else 0.0),
            "expected_date": expected,
            "actual_date": actual,
            "owner": _text(p["owner"]),
            "year": year,
        }
    )
    return out[out["partner_key"] != ""].reset_index(drop=True)[REGISTER_COLUMNS]


def stage_sums(reg: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Amounts of ``reg`` (a :func:`register`) per stage grouped ``by``, with secured, pipeline
    and weighted_pipeline (columns ``by`` + :data:`STAGE_SUMS`).

    >>> r = register({"Partners": pd.DataFrame({"unit_code": ["AFR"], "partner": ["EU"],
    ...     "stage": ["pledged"], "amount": [10.0]})})
    >>> stage_sums(r, ["unit_code"])[["pledged", "pipeline", "weighted_pipeline"]].iloc[0].tolist()
    [10.0, 10.0, 7.0]
    """
    if reg.empty:
        return pd.DataFrame(columns=[*by, *STAGE_SUMS])
    wide = reg.pivot_table(index=by, columns="stage", values="amount", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(PARTNER_STAGES), fill_value=0.0).astype("float64")
    wide["secured"] = wide[list(SECURED_STAGES)].sum(axis=1)
    wide["pipeline"] = wide[list(OPEN_STAGES)].sum(axis=1)
    wide["weighted_pipeline"] = reg.groupby(by)["weighted"].sum().astype("float64")
    wide.columns.name = None
    return wide.reset_index()[[*by, *STAGE_SUMS]]


def _first_years(reg: pd.DataFrame) -> pd.Series:
    """Earliest year of each partner's rows but declined ones (by partner_key), across the bureau."""
    return reg[reg["stage"] != "declined"].groupby("partner_key")["year"].min()


def _spelling(reg: pd.DataFrame) -> pd.DataFrame:
    """First spelling and type of each partner (by partner_key)."""
    return reg.groupby("partner_key", sort=False).agg(
        partner=("partner", "first"), partner_type=("partner_type", "first")
    )


def partner_units(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, funding: Funding | None = None
) -> pd.DataFrame:
    """Partner x unit: amounts by stage, the initiatives and outputs funded, the owners, the
    partner's first year in the register (bureau-wide) and whether it is new this year.
    Columns :data:`PARTNER_UNIT_COLUMNS`, largest secured first within each unit.
    """
    reg = register(state, funding)
    if reg.empty:
        return pd.DataFrame(columns=PARTNER_UNIT_COLUMNS)
    year = Quarter.parse(quarter).year
    out = stage_sums(reg, ["unit_code", "partner_key"])
    g = reg.groupby(["unit_code", "partner_key"])
    extra = pd.DataFrame(
        {
            "n_contributions": g.size(),
            "initiatives": g["initiative"].agg(_join),
            "outputs": g["result_id"].agg(_join),
            "owners": g["owner"].agg(_join),
        }
    ).reset_index()
    out = out.merge(extra, on=["unit_code", "partner_key"]).merge(_spelling(reg).reset_index(), on="partner_key")
    out["first_year"] = out["partner_key"].map(_first_years(reg)).astype("Int64")
    out["new_this_year"] = (out["first_year"] == year).fillna(False).astype(bool)
    out = out.sort_values(["unit_code", "secured", "partner"], ascending=[True, False, True])
    return out[PARTNER_UNIT_COLUMNS].reset_index(drop=True)


def largest_partners(units: pd.DataFrame) -> pd.DataFrame:
    """Partners across the bureau from :func:`partner_units`, largest secured first: the units
    and initiatives each works with, its share of the bureau's secured total. Columns
    :data:`LARGEST_COLUMNS`; rank 1 = largest (ties: name).

    >>> largest_partners(pd.DataFrame(columns=PARTNER_UNIT_COLUMNS)).columns.tolist()[:3]
    ['rank', 'partner', 'partner_type']
    """
    if units.empty:
        return pd.DataFrame(columns=LARGEST_COLUMNS)
    key = _key(units["partner"])
    g = units.assign(key=key).groupby("key", sort=False)
    out = g.agg(
        partner=("partner", "first"),
        partner_type=("partner_type", "first"),
        n_units=("unit_code", "nunique"),
        units=("unit_code", _join),
        initiatives=("initiatives", lambda s: _join(pd.Series("; ".join(s).split("; ")))),
        secured=("secured", "sum"),
        received=("received", "sum"),
        pipeline=("pipeline", "sum"),
        weighted_pipeline=("weighted_pipeline", "sum"),
        first_year=("first_year", "min"),
        new_this_year=("new_this_year", "any"),
    )
    out["n_initiatives"] = out["initiatives"].map(lambda s: len(s.split("; ")) if s else 0)
    total = float(out["secured"].sum())
    out["share_of_secured"] = out["secured"] / total if total > 0 else np.nan
    out = out.sort_values(["secured", "partner"], ascending=[False, True]).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[LARGEST_COLUMNS]


def _concentration(secured: pd.Series) -> dict[str, object]:
    """Top-3 share and Herfindahl index of positive amounts by partner."""
    s = secured[secured > 0].sort_values(ascending=False)
    total = float(s.sum())
    if total <= 0:
        return {"n_partners": 0, "secured": 0.0, "largest_partner": "", "largest_share": np.nan}
    shares = s / total
    return {
        "n_partners": len(s),
        "secured": total,
        "largest_partner": str(s.index[0]),
        "largest_share": float(shares.iloc[0]),
        "top3_share": float(shares.head(3).sum()),
        "herfindahl": float((shares**2).sum()),
    }


def concentration(units: pd.DataFrame) -> pd.DataFrame:
    """Concentration of each unit's secured money on few partners, and the bureau's (unit_code
    :data:`BUREAU`): columns :data:`CONCENTRATION_COLUMNS` (rules in the module docstring).

    >>> u = pd.DataFrame({"unit_code": ["AFR"] * 2, "partner": ["EU", "GSMA"], "secured": [75.0, 25.0],
    ...     "new_this_year": [False, True]})
    >>> c = concentration(u).iloc[0]
    >>> float(c["top3_share"]), float(c["herfindahl"]), c["largest_partner"]
    (1.0, 0.625, 'EU')
    """
    if units.empty:
        return pd.DataFrame(columns=CONCENTRATION_COLUMNS)
    rows = []
    for unit, grp in units.groupby("unit_code", sort=True):
        rows.append(
            {
                "unit_code": unit,
                **_concentration(grp.groupby("partner")["secured"].sum()),
                "n_new_partners": int(grp["new_this_year"].sum()),
            }
        )
    bureau_key = units.assign(key=_key(units["partner"]))
    names = bureau_key.groupby("key")["partner"].first()
    by_partner = bureau_key.groupby("key")["secured"].sum()
    by_partner.index = by_partner.index.map(names)
    new = bureau_key[bureau_key["new_this_year"].astype(bool)]["key"].nunique()
    rows.append({"unit_code": BUREAU, **_concentration(by_partner), "n_new_partners": int(new)})
    return pd.DataFrame(rows).reindex(columns=CONCENTRATION_COLUMNS)


def owner_pipeline(state: Mapping[str, pd.DataFrame], funding: Funding | None = None) -> pd.DataFrame:
    """Pipeline per relationship owner and unit: open deals, their amount and weighted amount,
    what the owner has secured, and the next expected date of an open deal. A blank owner is
    ``unassigned``. Columns :data:`OWNER_COLUMNS`, largest weighted pipeline first.
    """
    reg = register(state, funding)
    if reg.empty:
        return pd.DataFrame(columns=OWNER_COLUMNS)
    reg = reg.assign(owner=reg["owner"].replace("", "unassigned"))
    sums = stage_sums(reg, ["unit_code", "owner"])
    open_ = reg[reg["stage"].isin(OPEN_STAGES)].groupby(["unit_code", "owner"])
    more = pd.DataFrame({"n_open": open_.size(), "next_expected": open_["expected_date"].min()}).reset_index()
    out = sums.merge(more, on=["unit_code", "owner"], how="left")
    out["n_open"] = out["n_open"].fillna(0).astype("int64")
    out["next_expected"] = out["next_expected"].dt.strftime("%Y-%m-%d").fillna("")
    out = out.sort_values(["weighted_pipeline", "unit_code", "owner"], ascending=[False, True, True])
    return out[OWNER_COLUMNS].reset_index(drop=True)


def resources_by_stage(state: Mapping[str, pd.DataFrame], funding: Funding | None = None) -> pd.DataFrame:
    """Resources mobilised by stage per unit, and the bureau's total (unit_code :data:`BUREAU`):
    columns :data:`STAGE_COLUMNS` (n_partners: distinct partners of the unit).

    >>> r = resources_by_stage({"Partners": pd.DataFrame({"unit_code": ["AFR", "CYB"],
    ...     "partner": ["EU", "EU"], "stage": ["received", "prospect"], "amount": [10.0, 20.0]})})
    >>> r.set_index("unit_code")[["received", "prospect", "n_partners"]].loc["bureau"].tolist()
    [10.0, 20.0, 1.0]
    """
    reg = register(state, funding)
    if reg.empty:
        return pd.DataFrame(columns=STAGE_COLUMNS)
    out = stage_sums(reg, ["unit_code"])
    out["n_partners"] = out["unit_code"].map(reg.groupby("unit_code")["partner_key"].nunique())
    total = stage_sums(reg.assign(unit_code=BUREAU), ["unit_code"])
    total["n_partners"] = reg["partner_key"].nunique()
    return pd.concat([out, total], ignore_index=True)[STAGE_COLUMNS]
