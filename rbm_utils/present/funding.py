"""What the review notebooks and the dashboards show of funding and partners: the published
``funding``, ``partners``, ``partners_largest``, ``partner_concentration``, ``partner_owners``
and ``resources_by_stage`` tables cut to a level, and the same sections for both (a notebook
shows each part in its own cell; a dashboard shows :func:`unit_parts` or :func:`bureau_parts`).

Nothing is recomputed: these only select rows and reshape a table for display.

Example:
    >>> f = pd.DataFrame({"unit_code": ["AFR", "AFR", "bureau"], "level": ["output", "unit", "bureau"],
    ...     "result_id": ["AFR-O1", "", ""], "title": ["CIRTs", "", ""]})
    >>> outputs(f)["result_id"].tolist(), units(f)["unit_code"].tolist()
    (['AFR-O1', 'All outputs'], ['AFR', 'All units'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from rbm_utils.analytics.partners import BUREAU
from rbm_utils.present import columns
from rbm_utils.present.reports import table_html

NO_FUNDING = "No budget or partner contribution this year."
NO_PARTNER = "No partner in the register."
#: Shown in place of the bureau's unit_code.
ALL_UNITS = "All units"


def _level(frame: pd.DataFrame | None, level: str) -> pd.DataFrame:
    if frame is None or frame.empty or "level" not in frame.columns:
        return pd.DataFrame(columns=list(columns.FUNDING_ACROSS_UNITS))
    return frame[frame["level"] == level].reset_index(drop=True)


def outputs(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The output rows of a funding table, then each unit's total (result_id ``All outputs``:
    every line of the unit once, including partner money for an initiative or the unit)."""
    total = _level(frame, "unit").assign(result_id="All outputs", title="Every line of the unit")
    out = _level(frame, "output")
    return pd.concat([out, total], ignore_index=True) if len(total) else out


def initiatives(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The initiative rows of a funding table."""
    return _level(frame, "initiative")


def units(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Each unit's row of a funding table, then the bureau's (shown as ``All units``)."""
    bureau = _level(frame, "bureau").assign(unit_code=ALL_UNITS)
    out = _level(frame, "unit")
    return pd.concat([out, bureau], ignore_index=True) if len(bureau) else out


def by_unit(frame: pd.DataFrame | None) -> pd.DataFrame:
    """A per-unit table with its bureau row (resources by stage, concentration) labelled ``All units``."""
    if frame is None or frame.empty:
        return pd.DataFrame() if frame is None else frame
    return frame.assign(unit_code=frame["unit_code"].replace(BUREAU, ALL_UNITS))


def partner_matrix(partners: pd.DataFrame | None) -> pd.DataFrame:
    """Partner x unit: what each partner has secured or has in the pipeline with each unit
    (secured + pipeline, declined left out), one column per unit, the partner's total last;
    largest total first.

    >>> p = pd.DataFrame({"partner": ["EU", "EU", "GSMA"], "unit_code": ["AFR", "CYB", "AFR"],
    ...     "secured": [10.0, 5.0, 1.0], "pipeline": [0.0, 2.0, 0.0]})
    >>> partner_matrix(p).to_dict("records")
    [{'partner': 'EU', 'AFR': 10.0, 'CYB': 7.0, 'total': 17.0}, {'partner': 'GSMA', 'AFR': 1.0, 'CYB': 0.0, 'total': 1.0}]
    """
    if partners is None or partners.empty:
        return pd.DataFrame(columns=["partner", "total"])
    value = partners["secured"].astype("float64") + partners["pipeline"].astype("float64")
    wide = partners.assign(_v=value).pivot_table(
        index="partner", columns="unit_code", values="_v", aggfunc="sum", fill_value=0.0
    )
    wide.columns.name = None
    wide["total"] = wide.sum(axis=1)
    wide = wide.reset_index().sort_values(["total", "partner"], ascending=[False, True])
    return wide.reset_index(drop=True)


def unit_parts(
    tables: Mapping[str, pd.DataFrame], currency: str = "CHF", *, across_units: bool = True, figure: Any = None
) -> list[Any]:
    """The "Funding and partners" section of one unit's review (tables cut to the unit): the
    chart per output, the funding table per output and per initiative, the partners and the
    pipeline per relationship owner (HTML strings, escaped). ``across_units=False`` leaves the
    unit column out, as the unit's review notebook does. ``figure``: the chart as the review
    notebook drew it (published), else it is drawn here."""
    fund = tables.get("funding")
    if figure is None:
        from rbm_utils.present import charts  # plotly: only when the chart is drawn here

        figure = charts.funding_framework(fund, currency=currency)
    unit = ("unit_code",) if across_units else ()
    return [
        figure,
        table_html(outputs(fund), (*unit, *columns.FUNDING), empty=NO_FUNDING),
        table_html(initiatives(fund), (*unit, *columns.FUNDING_INITIATIVES), empty="No initiative funded."),
        table_html(
            tables.get("partners"),
            columns.PARTNERS_ACROSS_UNITS if across_units else columns.PARTNERS,
            empty=NO_PARTNER,
        ),
        table_html(tables.get("partner_owners"), columns.PARTNER_OWNERS, empty=NO_PARTNER),
    ]


def bureau_parts(tables: Mapping[str, pd.DataFrame], currency: str = "CHF") -> list[Any]:
    """The "Partners and resource mobilisation" section of the overview: funding per unit and the
    bureau's total, resources by stage per unit, the partner x unit view, the largest partners,
    concentration and the pipeline per owner."""
    from rbm_utils.present import charts

    fund = tables.get("funding")
    stages = tables.get("resources_by_stage")
    return [
        charts.funding_framework(fund, title="Funding per unit", currency=currency, level="unit"),
        table_html(units(fund), columns.FUNDING_UNITS, empty=NO_FUNDING),
        charts.resources_by_stage(stages if stages is not None else pd.DataFrame(), currency=currency),
        table_html(by_unit(stages), columns.RESOURCES_BY_STAGE, empty=NO_PARTNER),
        table_html(partner_matrix(tables.get("partners")), empty=NO_PARTNER),
        table_html(tables.get("partners_largest"), columns.LARGEST_PARTNERS, max_rows=15, empty=NO_PARTNER),
        table_html(by_unit(tables.get("partner_concentration")), columns.CONCENTRATION, empty=NO_PARTNER),
        table_html(tables.get("partner_owners"), columns.PARTNER_OWNERS, empty=NO_PARTNER),
    ]
