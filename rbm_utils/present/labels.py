"""Colours and words for every status code on screen: charts, notebook tables and dashboards.

The codes themselves, their order and their plain words come from :mod:`rbm_utils.core.codes`;
this module adds what only display needs (colours, legend order, the ``no_kpi`` of a result
without KPIs, the dashboards' publication badges).

The status colours are the Okabe-Ito palette (vermillion, orange, bluish green, blue, sky blue,
yellow, grey), told apart by readers with any common colour-vision deficiency; a status is never
carried by colour alone (a legend, a word or a count beside it), and a badge's text is black or
white, whichever contrasts more with its colour (:func:`text_color`). Charts, the review notebooks' helpers and
the dashboards all take their colours and words from here, so a legend, a table badge and a
filter label always agree.

Example:
    >>> status_label("off_track"), status_color("off_track")
    ('Off track', '#D55E00')
    >>> STATUS_LEGEND_ORDER[-1], status_label("no_kpi"), status_color("nonsense") == UNKNOWN_COLOR
    ('no_kpi', 'No KPI', True)
    >>> RATING_ORDER, label("broken")
    (('low', 'medium', 'high', 'critical'), 'Broken')
"""

from __future__ import annotations

from typing import Any

from rbm_utils.analytics.kpi import STATUS_COLORS as KPI_STATUS_COLORS
from rbm_utils.analytics.pathway import NO_KPI, NODE_STATUS_COLORS
from rbm_utils.core.codes import (
    KPI_STATUS_LABELS,
    KPI_STATUSES,
    RISK_RATINGS,
    VERDICTS,
    KpiStatus,
    RiskRating,
    Verdict,
)

__all__ = [
    "APPROVAL_COLORS",
    "APPROVAL_LABELS",
    "BADGE_COLORS",
    "REFRESH_COLORS",
    "REFRESH_LABELS",
    "FLOW_KIND_COLORS",
    "FUNDING_COLORS",
    "FUNDING_LABELS",
    "STAGE_COLORS",
    "STAGE_LABELS",
    "FLOW_KIND_ORDER",
    "KPI_STATUSES",
    "KpiStatus",
    "NO_KPI",
    "QUADRANT_COLORS",
    "RATING_COLORS",
    "RATING_LABELS",
    "RATING_ORDER",
    "RiskRating",
    "STATUS_COLORS",
    "STATUS_LABELS",
    "STATUS_LEGEND_ORDER",
    "UNKNOWN_COLOR",
    "VERDICT_COLORS",
    "VERDICT_LABELS",
    "Verdict",
    "label",
    "status_color",
    "status_label",
    "text_color",
]

#: Colour of a code the maps do not know.
UNKNOWN_COLOR = "#7f7f7f"

#: KPI status colours (the analytics' RAG map, one copy) plus ``no_kpi`` (a result with no KPI).
STATUS_COLORS: dict[str, str] = {**KPI_STATUS_COLORS, NO_KPI: NODE_STATUS_COLORS[NO_KPI]}
#: Legend words of each KPI status (:data:`rbm_utils.core.codes.KPI_STATUS_LABELS`) plus ``no_kpi``.
STATUS_LABELS: dict[str, str] = {**KPI_STATUS_LABELS, NO_KPI: "No KPI"}
#: KPI statuses in legend order (worst first, as :data:`rbm_utils.core.codes.KPI_STATUSES`), then ``no_kpi``.
STATUS_LEGEND_ORDER: tuple[str, ...] = (*KPI_STATUSES, NO_KPI)

#: Risk ratings low to critical (:data:`rbm_utils.core.codes.RISK_RATINGS`), their colours and words.
RATING_ORDER: tuple[RiskRating, ...] = RISK_RATINGS
RATING_COLORS: dict[str, str] = {"low": "#56B4E9", "medium": "#F0E442", "high": "#E69F00", "critical": "#D55E00"}
RATING_LABELS: dict[str, str] = {r: r.capitalize() for r in RISK_RATINGS}

#: Assumption verdicts (:data:`rbm_utils.core.codes.VERDICTS`): colours and words.
VERDICT_COLORS: dict[str, str] = {
    "holds": "#009E73",
    "weakening": "#E69F00",
    "broken": "#D55E00",
    "untested": "#999999",
}
VERDICT_LABELS: dict[str, str] = {v: v.capitalize() for v in VERDICTS}

#: Quadrants of money spent against delivery (:func:`rbm_utils.analytics.finance.burn_vs_delivery`), legend order.
QUADRANT_COLORS: dict[str, str] = {
    "efficient": "#1b5e20",
    "on plan": "#2e9e4f",
    "front-loaded": "#f0a30a",
    "slow start": "#f6d55c",
    "delivery lagging": "#e8590c",
    "overspending for delivery": "#c0392b",
    "no budget": "#9e9e9e",
    "no delivery data": "#b8c7d9",
}

#: Layers of the money flows (:func:`rbm_utils.analytics.finance.money_flows` kinds), in order, and their colours.
FLOW_KIND_ORDER: tuple[str, ...] = ("source", "unit", "programme", "output")
FLOW_KIND_COLORS: dict[str, str] = {"source": "#1f4e79", "unit": "#2e75b6", "programme": "#9dc3e6", "output": "#c9d9ea"}

#: Approval state of a unit-quarter (:data:`rbm_utils.core.codes.APPROVAL_STATES`): colours and words.
#: Stages of the partner register (funding charts), from the first contact to the money received.
STAGE_COLORS: dict[str, str] = {
    "prospect": "#d9e7f5",
    "proposal_submitted": "#9dc3e6",
    "pledged": "#5b9bd5",
    "agreement_signed": "#2e75b6",
    "received": "#1f4e79",
    "declined": "#bdbdbd",
}
STAGE_LABELS: dict[str, str] = {s: s.replace("_", " ").capitalize() for s in STAGE_COLORS}
#: The measures of the funding framework chart, in the order drawn.
FUNDING_COLORS: dict[str, str] = {
    "required": "#9e9e9e",
    "secured": "#2e75b6",
    "received": "#1f4e79",
    "spent": "#2e9e4f",
    "gap": "#c0392b",
    "weighted_pipeline": "#f0a30a",
}
FUNDING_LABELS: dict[str, str] = {
    "required": "Required",
    "secured": "Secured",
    "received": "Received",
    "spent": "Spent",
    "gap": "Funding gap",
    "weighted_pipeline": "Pipeline (weighted)",
}
APPROVAL_COLORS: dict[str, str] = {"draft": "#999999", "approved": "#009E73", "pending": "#E69F00"}
APPROVAL_LABELS: dict[str, str] = {"draft": "Draft", "approved": "Approved", "pending": "Pending escalation"}

#: Publication badges of the dashboards' landing page (a review published, failed or not run).
BADGE_COLORS: dict[str, str] = {"published": "#009E73", "failed": "#D55E00", "not reviewed": "#999999"}

#: A unit's between-review refresh (:data:`rbm_utils.publish.refresh_state.REFRESH_STATUSES`): colours and words.
REFRESH_COLORS: dict[str, str] = {"queued": "#56B4E9", "running": "#0072B2", "done": "#009E73", "failed": "#D55E00"}
REFRESH_LABELS: dict[str, str] = {
    "queued": "Refresh queued",
    "running": "Refreshing",
    "done": "Up to date",
    "failed": "Refresh failed",
}


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more (WCAG relative luminance) with ``background`` (``#rrggbb``).

    >>> text_color("#D55E00"), text_color("#0072B2"), text_color("#999999")
    ('#000', '#fff', '#000')
    """
    rgb = [int(background.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lum = sum(
        w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4) for w, c in zip((0.2126, 0.7152, 0.0722), rgb)
    )
    return "#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff"


_WORDS: dict[str, str] = {**RATING_LABELS, **VERDICT_LABELS, **STATUS_LABELS}


def status_color(status: Any) -> str:
    """Colour of a KPI status code (or ``no_kpi``); :data:`UNKNOWN_COLOR` when unknown.

    >>> status_color("on_track"), status_color(None)
    ('#009E73', '#7f7f7f')
    """
    return STATUS_COLORS.get(str(status), UNKNOWN_COLOR) if status is not None else UNKNOWN_COLOR


def status_label(status: Any) -> str:
    """Legend word of a KPI status code; an unknown code is shown as it is ('unknown' when empty).

    >>> status_label("target_met"), status_label("odd"), status_label("")
    ('Target met', 'odd', 'unknown')
    """
    text = "" if status is None else str(status)
    return STATUS_LABELS.get(text, text or "unknown")


def label(code: Any) -> str:
    """Plain word of any shared status code (KPI status, risk rating, verdict); the code itself otherwise.

    >>> label("critical"), label("holds"), label("no_data"), label("spending_gap")
    ('Critical', 'Holds', 'No data', 'spending_gap')
    """
    text = "" if code is None else str(code)
    return _WORDS.get(text, text)
