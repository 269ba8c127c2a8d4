"""The funding framework, as UN INFO shows it: per output and per initiative of each unit, what
is required, secured, received and spent in the reporting year, the funding gap and the
pipeline that could close it.

Rules (docs/rules.md, "Funding framework"), for a quarter of year Y:

- *required* = the Budget lines of year Y (every funding source, every region);
- *regular* = those of them whose funding_source is one of ``funding.regular_budget_sources``
  (compared ignoring case): the bureau's own money, secured and received once budgeted;
- the partner register's rows of year Y count (a row's year: :mod:`rbm_utils.analytics.partners`;
  an undated row counts for the reporting year); a blank stage is ``received``;
- *secured* = regular + register amounts at agreement_signed or received;
- *received* = regular + register amounts at received (the regular budget is available money,
  so it counts as received);
- *spent* = Expenditure of Y-Q1 up to the quarter;
- *gap* = max(required - secured, 0); *pipeline* = register amounts at prospect,
  proposal_submitted or pledged; *weighted_pipeline* = each of them times its stage's weight
  (``funding.pipeline_weights``); *gap_after_pipeline* = max(gap - weighted_pipeline, 0);
  *secured_share* = secured / required (blank without a requirement).

Levels (column ``level``): ``output`` rows hold the lines of one output (a register row that
funds an activity counts for the activity's output); ``initiative`` rows hold the lines of every
output tagged with the initiative (Results.initiative) plus the register rows that fund the
initiative itself, which are *not* spread over its outputs; ``unit`` rows hold every line of the
unit once (including register rows that name neither output nor initiative); the ``bureau`` row
(unit_code ``bureau``) every line of the bureau once. Add up rows of one level only: an
initiative row repeats its outputs' money, and gaps are computed at each level (a surplus on
one output does not fill another output's gap, but it does in the unit's row).

Example:
    >>> import pandas as pd
    >>> b = pd.DataFrame({"unit_code": ["AFR", "AFR"], "result_id": ["O1", "O1"],
    ...     "funding_source": ["Regular budget", "Donor"], "year": [2026, 2026], "amount": [600.0, 400.0]})
    >>> p = pd.DataFrame({"unit_code": ["AFR", "AFR"], "partner": ["EU", "GSMA"], "result_id": ["O1", "O1"],
    ...     "stage": ["agreement_signed", "pledged"], "amount": [100.0, 200.0]})
    >>> f = funding_framework({"Budget": b, "Partners": p}, "2026-Q3")
    >>> f[f["level"] == "output"][["required", "secured", "received", "gap", "weighted_pipeline",
    ...     "gap_after_pipeline"]].iloc[0].tolist()
    [1000.0, 700.0, 600.0, 300.0, 140.0, 160.0]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import conformed_sheet as _conformed
from rbm_utils.analytics.frames import match_key as _key
from rbm_utils.analytics.partners import BUREAU, OPEN_STAGES, SECURED_STAGES, register
from rbm_utils.core.config import Funding
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import number_column as _num
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

LEVELS = ("output", "initiative", "unit", "bureau")
#: The additive parts of a line; the shown figures are derived from them (:func:`_figures`).
_PARTS = ["required", "regular", "partner_secured", "partner_received", "spent", "pipeline", "weighted_pipeline"]
FUNDING_COLUMNS = [
    "quarter",
    "unit_code",
    "level",
    "result_id",
    "initiative",
    "title",
    "required",
    "regular",
    "secured",
    "received",
    "spent",
    "gap",
    "pipeline",
    "weighted_pipeline",
    "gap_after_pipeline",
    "secured_share",
]


def _lines(state: Mapping[str, pd.DataFrame], q: Quarter, funding: Funding) -> pd.DataFrame:
    """Every money line of year ``q.year``: unit_code, result_id, initiative_key and the parts."""
    regular = {str(_key(pd.Series([s])).iloc[0]) for s in funding.regular_budget_sources}
    b = _conformed(state, "Budget")
    b = b[_num(b["year"]) == q.year]
    amount = _num(b["amount"]).fillna(0.0)
    budget = pd.DataFrame(
        {
            "unit_code": b["unit_code"],
            "result_id": _text(b["result_id"]),
            "required": amount,
            "regular": amount.where(_key(b["funding_source"]).isin(regular), 0.0),
        }
    )
    e = _conformed(state, "Expenditure")
    pidx = index_of(e["period"])
    e = e[(pidx >= Quarter(q.year, 1).index) & (pidx <= q.index)]
    spent = pd.DataFrame(
        {"unit_code": e["unit_code"], "result_id": _text(e["result_id"]), "spent": _num(e["amount"]).fillna(0.0)}
    )
    reg = register(state, funding)
    reg = reg[reg["year"].isna() | (reg["year"] == q.year)]
    partner = pd.DataFrame(
        {
            "unit_code": reg["unit_code"],
            "result_id": reg["result_id"],
            "initiative": reg["initiative"].where(reg["target"] == "initiative", ""),
            "partner_secured": reg["amount"].where(reg["stage"].isin(SECURED_STAGES), 0.0),
            "partner_received": reg["amount"].where(reg["stage"] == "received", 0.0),
            "pipeline": reg["amount"].where(reg["stage"].isin(OPEN_STAGES), 0.0),
            "weighted_pipeline": reg["weighted"],
        }
    )
    lines = pd.concat([budget, spent, partner], ignore_index=True)
    for col in _PARTS:
        lines[col] = lines[col].astype("float64").fillna(0.0) if col in lines else 0.0
    lines["initiative"] = lines.get("initiative", pd.Series(dtype=object)).fillna("").astype(str)
    # an output's initiative comes from its Results row
    res = _conformed(state, "Results")
    tag = {(u, r): i for u, r, i in zip(res["unit_code"], _text(res["result_id"]), _text(res["initiative"])) if i}
    from_output = [tag.get((u, r), "") for u, r in zip(lines["unit_code"], lines["result_id"])]
    lines["initiative"] = np.where(lines["result_id"] != "", from_output, lines["initiative"])
    lines["initiative_key"] = _key(lines["initiative"])
    return lines


def _figures(sums: pd.DataFrame) -> pd.DataFrame:
    """secured, received, gap, gap_after_pipeline and secured_share from the summed parts."""
    out = sums.copy()
    out["secured"] = out["regular"] + out["partner_secured"]
    out["received"] = out["regular"] + out["partner_received"]
    out["gap"] = (out["required"] - out["secured"]).clip(lower=0.0)
    out["gap_after_pipeline"] = (out["gap"] - out["weighted_pipeline"]).clip(lower=0.0)
    out["secured_share"] = out["secured"] / out["required"].where(out["required"] > 0)
    return out


def funding_framework(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, funding: Funding | None = None
) -> pd.DataFrame:
    """The funding framework of ``quarter``'s year: columns :data:`FUNDING_COLUMNS`, rows per
    output, initiative, unit and the bureau (rules and levels in the module docstring), ordered
    by unit, level and id."""
    q = Quarter.parse(quarter)
    funding = funding or Funding()
    lines = _lines(state, q, funding)
    if lines.empty:
        return pd.DataFrame(columns=FUNDING_COLUMNS)
    res = _conformed(state, "Results")
    titles = {(u, r): t for u, r, t in zip(res["unit_code"], _text(res["result_id"]), _text(res["title"]))}
    inits = {(u, r): i for u, r, i in zip(res["unit_code"], _text(res["result_id"]), _text(res["initiative"]))}
    spelled = lines[lines["initiative"] != ""].groupby(["unit_code", "initiative_key"])["initiative"].first()
    parts = []
    out_rows = lines[lines["result_id"] != ""].groupby(["unit_code", "result_id"], as_index=False)[_PARTS].sum()
    out_rows["level"] = "output"
    out_rows["initiative"] = [inits.get((u, r), "") for u, r in zip(out_rows["unit_code"], out_rows["result_id"])]
    out_rows["title"] = [titles.get((u, r), "") for u, r in zip(out_rows["unit_code"], out_rows["result_id"])]
    parts.append(out_rows)
    tagged = lines[lines["initiative_key"] != ""]
    init_rows = tagged.groupby(["unit_code", "initiative_key"], as_index=False)[_PARTS].sum()
    init_rows["level"] = "initiative"
    init_rows["initiative"] = [
        spelled.get((u, k), k) for u, k in zip(init_rows["unit_code"], init_rows["initiative_key"])
    ]
    parts.append(init_rows.drop(columns="initiative_key"))
    unit_rows = lines.groupby("unit_code", as_index=False)[_PARTS].sum()
    unit_rows["level"] = "unit"
    parts.append(unit_rows)
    bureau = lines[_PARTS].sum().to_frame().T
    bureau["unit_code"], bureau["level"] = BUREAU, "bureau"
    parts.append(bureau)
    out = _figures(pd.concat(parts, ignore_index=True))
    out["quarter"] = str(q)
    for col in ("result_id", "initiative", "title"):
        out[col] = out[col].fillna("").astype(str) if col in out else ""
    out["_lvl"] = out["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    out["_unit"] = out["unit_code"] == BUREAU
    out = out.sort_values(["_unit", "unit_code", "_lvl", "result_id", "initiative"])
    return out[FUNDING_COLUMNS].reset_index(drop=True)
