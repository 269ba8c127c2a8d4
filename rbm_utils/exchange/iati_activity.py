"""One unit's ``iati-activity`` element: its identity, partners, dates, money and results.

The mapping (docs/exports.md, "IATI mapping") in code: the result's level gives the IATI
result type, the KPI's measure and direction the indicator's ``measure`` and ``ascending``,
each quarter from the one after the baseline to the target quarter (and every quarter with a
reported value) one ``period`` with the expected value as target and the KPI's value as
actual, breakdowns as ``dimension``. Every text goes through :func:`clean` (characters XML
cannot hold removed); lxml escapes the rest.

Example:
    >>> clean("Tab\\tok, bell\\x07 gone & <kept>")
    'Tab\\tok, bell gone & <kept>'
    >>> number(2.50), number(1234567.0), number(1 / 3)
    ('2.5', '1234567', '0.3333')
    >>> LEVEL_RESULT_TYPE["behaviour"], MEASURE_CODES["percent"]
    ('2', '2')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from lxml import etree

from rbm_utils.core.config import Unit
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.settings import IatiSettings
from rbm_utils.core.text import is_missing

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: IATI ResultType of each level (1 Output, 2 Outcome, 3 Impact). IATI has no activity level: the
#: work programme's own results are the nearest to outputs (their description says "Level: activity").
LEVEL_RESULT_TYPE = {"activity": "1", "output": "1", "reach": "2", "capacity": "2", "behaviour": "2", "impact": "3"}
#: IATI IndicatorMeasure of each KPI measure (1 Unit, 2 Percentage); a currency amount or a
#: ratio is a quantity in its own unit (1), named in the indicator's description.
MEASURE_CODES = {"number": "1", "percent": "2", "currency": "1", "ratio": "1"}
#: IATI OrganisationType of each partner type (10 Government, 21 International NGO,
#: 40 Multilateral, 70 Private Sector, 80 Academic, 90 Other).
PARTNER_ORG_TYPES = {
    "government": "10",
    "regulator": "10",
    "private": "70",
    "academia": "80",
    "un_agency": "40",
    "ngo": "21",
    "development_bank": "40",
    "other": "90",
}
#: Register stages whose partner is a funder of the activity (blank: an old register, received).
FUNDING_STAGES = ("agreement_signed", "received", None, "")
#: IATI ActivityStatus: 1 Pipeline, 2 Implementation, 3 Finalisation, 5 Cancelled.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value: Any) -> str:
    """Text an XML file can hold: missing is ``""``, characters XML 1.0 forbids are removed."""
    if is_missing(value):
        return ""
    return _INVALID_XML.sub("", str(value)).strip()


def number(value: float) -> str:
    """A number as IATI writes it: no exponent, at most four decimals, no trailing zeros."""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    """A child element with the attributes that are not None (``_`` in a name becomes ``-``)."""
    el = etree.SubElement(parent, tag)
    for key, value in attrs.items():
        if value is not None:
            el.set(XML_LANG if key == "xml_lang" else key.replace("_", "-"), value)
    if text is not None:
        el.text = text
    return el


def narrative(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """``<tag><narrative>text</narrative></tag>`` under ``parent``."""
    el = sub(parent, tag)
    sub(el, "narrative", clean(text) or "-")
    return el


def _dims(key: str) -> list[tuple[str, str]]:
    pairs = []
    for part in str(key or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            pairs.append((clean(k), clean(v)))
    return sorted(pairs)


def _rows(frames: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = frames.get(name)
    return frame if frame is not None else pd.DataFrame()


def activity_status(activities: pd.DataFrame) -> str:
    """IATI ActivityStatus from the unit's work programme: all cancelled 5, all planned 1,
    all completed or cancelled 3 (finalisation), else 2 (implementation).

    >>> activity_status(pd.DataFrame({"status": ["planned", "ongoing"]})), activity_status(pd.DataFrame())
    ('2', '2')
    """
    statuses = set(activities["status"].dropna()) if "status" in activities.columns else set()
    if not statuses:
        return "2"
    if statuses == {"cancelled"}:
        return "5"
    if statuses == {"planned"}:
        return "1"
    if statuses <= {"completed", "cancelled"}:
        return "3"
    return "2"


def _dates(parent: etree._Element, activities: pd.DataFrame, kpis: pd.DataFrame, quarter: Quarter) -> None:
    """activity-date: planned start (1), actual start (2), planned end (3), actual end (4)."""
    reporting = quarter.end.isoformat()

    def pick(col: str, last: bool) -> str | None:
        if col not in activities.columns:
            return None
        days = sorted(d for d in activities[col].dropna().astype(str) if d)
        return (days[-1] if last else days[0]) if days else None

    planned_start = pick("planned_start", False)
    if planned_start is None:
        bases = [Quarter.parse_or_none(p) for p in kpis.get("baseline_period", pd.Series(dtype=object))]
        known = sorted(q for q in bases if q is not None)
        planned_start = (known[0] if known else quarter).start.isoformat()
    sub(parent, "activity-date", type="1", iso_date=planned_start)
    actual_start = pick("actual_start", False)
    if actual_start is not None and actual_start <= reporting:
        sub(parent, "activity-date", type="2", iso_date=actual_start)
    planned_end = pick("planned_end", True)
    if planned_end is not None and planned_end > planned_start:
        sub(parent, "activity-date", type="3", iso_date=planned_end)
    done = activity_status(activities) in ("3", "5")
    actual_end = pick("actual_end", True)
    if done and actual_end is not None and actual_end <= reporting:
        sub(parent, "activity-date", type="4", iso_date=actual_end)


def _money(parent: etree._Element, frames: Mapping[str, pd.DataFrame], quarter: Quarter) -> None:
    budget = _rows(frames, "Budget")
    if not budget.empty:
        for year, amount in budget.groupby("year", sort=True)["amount"].sum().items():
            b = sub(parent, "budget", type="1", status="1")
            sub(b, "period-start", iso_date=f"{int(year):04d}-01-01")
            sub(b, "period-end", iso_date=f"{int(year):04d}-12-31")
            sub(b, "value", number(amount), value_date=f"{int(year):04d}-01-01")
    spent = _rows(frames, "Expenditure")
    if spent.empty:
        return
    spent = spent[[Quarter.parse(p) <= quarter for p in spent["period"]]]
    grouped = spent.assign(source=spent["funding_source"].map(clean)).groupby(["period", "source"], sort=True)
    for (period, source), amount in grouped["amount"].sum().items():
        day = Quarter.parse(period).end.isoformat()
        t = sub(parent, "transaction")
        sub(t, "transaction-type", code="4")
        sub(t, "transaction-date", iso_date=day)
        sub(t, "value", number(amount), value_date=day)
        narrative(t, "description", f"Spending of {period}, funding source: {source}")


def _participants(parent: etree._Element, settings: IatiSettings, partners: pd.DataFrame) -> None:
    org = sub(parent, "participating-org", ref=settings.reporting_org_ref, type=settings.reporting_org_type, role="4")
    sub(org, "narrative", clean(settings.reporting_org_name))
    if partners.empty:
        return
    stage = partners["stage"] if "stage" in partners.columns else pd.Series([None] * len(partners))
    funders = partners[stage.map(lambda s: is_missing(s) or s in FUNDING_STAGES)]
    seen: dict[str, str] = {}
    for _, p in funders.iterrows():
        name = clean(p["partner"])
        if name and name not in seen:
            seen[name] = PARTNER_ORG_TYPES.get(str(p.get("partner_type")), "90")
    for name in sorted(seen):
        fund = sub(parent, "participating-org", type=seen[name], role="1")
        sub(fund, "narrative", name)


def period_targets(kpi: Mapping[str, Any], milestones: Mapping[str, float], periods: list[Quarter]) -> list[float]:
    """Each period's target: the milestone where one is set, else the value expected on the
    straight line from baseline to target (docs/rules.md, "Expected progress by now"), the target from
    the target quarter on.

    >>> k = {"baseline_value": 0.0, "baseline_period": "2026-Q1", "target_value": 100.0, "target_period": "2027-Q1"}
    >>> period_targets(k, {"2026-Q3": 60.0}, [Quarter.parse(q) for q in ("2026-Q2", "2026-Q3", "2027-Q2")])
    [25.0, 60.0, 100.0]
    """
    b, t = Quarter.parse(kpi["baseline_period"]), Quarter.parse(kpi["target_period"])
    base, target = float(kpi["baseline_value"]), float(kpi["target_value"])
    span = t - b
    out = []
    for p in periods:
        if str(p) in milestones:
            out.append(float(milestones[str(p)]))
        elif p >= t or span <= 0:
            out.append(target)
        else:
            out.append(base + (target - base) * max(0, p - b) / span)
    return out


def _indicator(
    result_el: etree._Element,
    kpi: Mapping[str, Any],
    frames: Mapping[str, pd.DataFrame],
    series: pd.DataFrame,
    quarter: Quarter,
    currency: str,
) -> None:
    kid = kpi["kpi_id"]
    ascending = "1" if kpi["direction"] == "increase" else "0"
    ind = sub(result_el, "indicator", measure=MEASURE_CODES.get(str(kpi["measure"]), "1"), ascending=ascending)
    narrative(ind, "title", kpi["name"])
    unit = f" (in {currency})" if kpi["measure"] == "currency" else ""
    text = (
        f"Definition: {clean(kpi.get('definition')) or 'not given'}{unit}. Data source: {clean(kpi['data_source'])}. "
        f"Quarterly values combine by {kpi['aggregation']}; each period's actual is the value as of the quarter's end."
    )
    narrative(ind, "description", text)
    sub(ind, "reference", vocabulary="99", code=clean(kid))
    b, t = Quarter.parse(kpi["baseline_period"]), Quarter.parse(kpi["target_period"])
    base = sub(ind, "baseline", year=str(b.year), iso_date=b.end.isoformat(), value=number(kpi["baseline_value"]))
    narrative(base, "comment", f"Baseline of {b}")
    mil = _rows(frames, "Milestones")
    mil = mil[mil["kpi_id"] == kid] if not mil.empty else mil
    milestones = dict(zip(mil.get("period", []), mil.get("target_value", []), strict=True))
    own = series[series["kpi_id"] == kid] if not series.empty else series
    reported = own[own["reported"].astype(bool)] if not own.empty else own
    totals = {
        Quarter.parse(p): float(v) for p, v in zip(reported.get("period", []), reported.get("current", []), strict=True)
    }
    acts = _rows(frames, "Actuals")
    acts = acts[(acts["kpi_id"] == kid)] if not acts.empty else acts
    breakdown: dict[Quarter, list[tuple[str, float]]] = {}
    comments: dict[Quarter, str] = {}
    for _, a in acts.iterrows():
        p = Quarter.parse(a["period"])
        if p < b or p > quarter:
            continue
        if a["disaggregation"]:
            if not is_missing(a["value"]):
                breakdown.setdefault(p, []).append((a["disaggregation"], float(a["value"])))
        elif clean(a.get("comment")):
            comments[p] = clean(a["comment"])
    periods = sorted(set(Quarter.span(b + 1, t)) | {p for p in totals if p <= quarter} | set(breakdown))
    for p, target in zip(periods, period_targets(kpi, milestones, periods), strict=True):
        per = sub(ind, "period")
        sub(per, "period-start", iso_date=p.start.isoformat())
        sub(per, "period-end", iso_date=p.end.isoformat())
        if not math.isnan(target):
            sub(per, "target", value=number(target))
        if p in totals and not math.isnan(totals[p]):
            actual = sub(per, "actual", value=number(totals[p]))
            if p in comments:
                narrative(actual, "comment", comments[p])
        for key, value in sorted(breakdown.get(p, [])):
            actual = sub(per, "actual", value=number(value))
            for name, val in _dims(key):
                sub(actual, "dimension", name=name, value=val)
            narrative(actual, "comment", "Breakdown as reported for the quarter")


def unit_activity(
    parent: etree._Element,
    unit: Unit,
    frames: Mapping[str, pd.DataFrame],
    series: pd.DataFrame,
    quarter: Quarter,
    settings: IatiSettings,
    currency: str,
    stamp: str,
) -> etree._Element:
    """Append the ``iati-activity`` of ``unit`` (its rows of each sheet in ``frames``, its
    :func:`rbm_utils.analytics.kpi.kpi_series` rows in ``series``) to ``parent``."""
    act = sub(
        parent,
        "iati-activity",
        last_updated_datetime=stamp,
        xml_lang=settings.language,
        default_currency=currency,
        hierarchy="1",
    )
    sub(act, "iati-identifier", clean(settings.activity_prefix + unit.code))
    org = sub(act, "reporting-org", ref=settings.reporting_org_ref, type=settings.reporting_org_type)
    sub(org, "narrative", clean(settings.reporting_org_name))
    narrative(act, "title", f"{unit.name} ({unit.code}): results framework")
    narrative(
        act,
        "description",
        f"The results, indicators, budget and spending of {unit.name} ({unit.code}) as reviewed for {quarter}.",
    ).set("type", "1")
    _participants(act, settings, _rows(frames, "Partners"))
    activities, kpis = _rows(frames, "Activities"), _rows(frames, "KPIs")
    sub(act, "activity-status", code=activity_status(activities))
    _dates(act, activities, kpis, quarter)
    _money(act, frames, quarter)
    results = _rows(frames, "Results")
    if results.empty or kpis.empty:
        return act
    for _, res in results.sort_values("result_id").iterrows():
        rtype = LEVEL_RESULT_TYPE.get(str(res["level"]))
        own = kpis[kpis["result_id"] == res["result_id"]].sort_values("kpi_id")
        if rtype is None or own.empty:
            continue
        r = sub(act, "result", type=rtype)
        narrative(r, "title", res["title"])
        about = [f"Level: {res['level']}"] + [
            f"{k}: {clean(res.get(k))}" for k in ("programme", "initiative", "theme") if clean(res.get(k))
        ]
        narrative(r, "description", "; ".join(about))
        sub(r, "reference", vocabulary="99", code=clean(res["result_id"]))
        for _, kpi in own.iterrows():
            _indicator(r, kpi.to_dict(), frames, series, quarter, currency)
    return act
