"""The illustrative sample bureau: one workbook per unit of ``parameters/workbench.yaml``.

``rbm sample [--out DIR]`` writes ``<UNIT>.xlsx`` for the six regional offices and seven
thematic clusters, modelled on the ITU Telecommunication Development Bureau (BDT). The
structure is real (regions, thematic priorities, regional initiatives, study-group questions);
only the impact KPIs carry public figures (ITU Facts and Figures, edition stated with every
value; quarters between public points interpolated and labelled so). Everything else
(budgets, activities, risks, partners and most KPI values) is invented and labelled
illustrative. Generation is deterministic: the same seed gives the same frames.

The series are tuned so that, at the reporting quarter, the bureau shows a realistic mix:
KPIs on track, at risk, off track, target met and without recent data; assumptions that hold,
weaken and break; outputs under- and over-spent. :func:`kpi_status`,
:func:`assumption_check` and :func:`budget_check` recompute those verdicts with the simple
default rules of shared/DESIGN.md, independently of the analytics modules.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> unit, frames = sample_unit(load_config(), "AFR")
    >>> unit["unit_type"], len(frames["KPIs"]) >= 12
    ('region', True)
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS, Config
from rbm_utils.core.schema import period_from_index, period_index

log = logging.getLogger(__name__)

__all__ = [
    "NOTICE",
    "INTERNET_USE",
    "GENDER_PARITY",
    "COVERAGE_5G",
    "sample_unit",
    "build_sample",
    "kpi_status",
    "assumption_check",
    "budget_check",
    "public_quarter",
]

#: Shown in red on the Guide sheet of every sample workbook.
NOTICE = ("ILLUSTRATIVE SAMPLE - invented data modelled on the ITU-D/BDT structure. Only impact KPIs "
          "carry public ITU figures (edition in data_source; quarters between public points are "
          "interpolated). Budgets, activities, risks, partners, people and all other figures are invented.")

# --------------------------------------------------------------------------------------
# Public reference figures (ITU; copied from the project's reference notes, edition per value).
# ITU revises statistics between editions: every value keeps its edition.
# --------------------------------------------------------------------------------------

#: Individuals using the Internet, % of population: (year, edition, {area: value}).
INTERNET_USE: tuple[tuple[int, str, dict[str, float]], ...] = (
    (2019, "FF2019", {"World": 53.6, "AFR": 28.2, "EUR": 82.5}),
    (2023, "FF2023", {"World": 67.4, "AFR": 37.1, "AMS": 86.9, "ARB": 68.9, "ASP": 65.9, "CIS": 89.1, "EUR": 90.5}),
    (2025, "FF2025", {"World": 74.0, "AFR": 36.0, "ARB": 70.0, "ASP": 77.0}),
)
#: Gender parity score for Internet use (female % / male %; parity 0.98-1.02), FF2024.
GENDER_PARITY: tuple[tuple[int, str, dict[str, float]], ...] = (
    (2019, "FF2024", {"World": 0.91, "ASP": 0.89, "ARB": 0.86}),
    (2024, "FF2024", {"World": 0.94, "ASP": 0.95, "ARB": 0.86}),
)
#: 5G population coverage, % (FF2023, via a secondary press report).
COVERAGE_5G: tuple[tuple[int, str, dict[str, float]], ...] = (
    (2023, "FF2023", {"World": 40.0, "EUR": 68.0, "AMS": 59.0, "ASP": 42.0, "ARB": 12.0, "CIS": 8.0, "AFR": 6.0}),
)
_EDITION_TITLE = {"FF2019": "ITU Facts and Figures 2019", "FF2023": "ITU Facts and Figures 2023",
                  "FF2024": "ITU Facts and Figures 2024", "FF2025": "ITU Facts and Figures 2025"}

REGION_NAMES = {"AFR": "Africa", "AMS": "Americas", "ARB": "Arab States", "ASP": "Asia-Pacific",
                "CIS": "Commonwealth of Independent States", "EUR": "Europe", "World": "World"}

#: Kigali Action Plan (WTDC-22) priority each theme is filed under.
THEME_PROGRAMME = {
    "broadband": "Affordable connectivity",
    "spectrum": "Affordable connectivity",
    "cybersecurity": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "accessibility": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "gender": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "youth": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "emergency": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "environment": "Inclusive and secure telecommunications/ICTs for sustainable development",
    "digital_services": "Digital transformation",
    "innovation": "Digital transformation",
    "capacity": "Digital transformation",
    "policy_regulation": "Enabling policy and regulatory environment",
    "statistics": "Enabling policy and regulatory environment",
}

#: Links of each theme to study-group questions, ITU-T/ITU-R study groups and other bodies.
THEME_LINKS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "broadband": (("ITU-D SG1", "Q1/1", "contributes"), ("ITU-D SG1", "Q5/1", "draws_on"), ("ITU-T", "SG15", "draws_on")),
    "spectrum": (("ITU-D SG1", "Q2/1", "contributes"), ("ITU-R", "SG1", "draws_on"), ("ITU-R", "SG6", "informs")),
    "cybersecurity": (("ITU-T", "SG17", "draws_on"), ("ITU-D SG1", "Q6/1", "informs")),
    "accessibility": (("ITU-D SG1", "Q7/1", "joint"), ("ITU-T", "SG16", "draws_on")),
    "gender": (("other", "EQUALS Global Partnership", "joint"),),
    "youth": (("other", "Generation Connect", "joint"),),
    "emergency": (("ITU-R", "SG5", "draws_on"), ("ITU-D SG2", "Q6/2", "informs"),
                  ("other", "Emergency Telecommunications Cluster", "joint")),
    "environment": (("ITU-D SG2", "Q6/2", "contributes"), ("ITU-T", "SG5", "draws_on")),
    "statistics": (("other", "Expert Group on Telecommunication/ICT Indicators (EGTI)", "contributes"),
                   ("ITU-D SG1", "Q1/1", "informs")),
    "innovation": (("ITU-T", "SG13", "informs"), ("other", "WSIS Action Lines", "contributes")),
    "digital_services": (("ITU-T", "SG16", "draws_on"), ("ITU-D SG1", "Q6/1", "informs")),
    "policy_regulation": (("ITU-D SG1", "Q6/1", "contributes"), ("ITU-T", "SG3", "draws_on")),
    "capacity": (("other", "ITU Academy", "draws_on"), ("ITU-D SG1", "Q5/1", "informs")),
}


@dataclass(frozen=True)
class _Output:
    initiative: str | None
    theme: str
    title: str
    kpi_name: str
    target: int


@dataclass(frozen=True)
class _Plan:
    focus: str
    instrument: str
    outputs: tuple[_Output, ...]
    regions: tuple[str, ...] = ()   # clusters: regions where the cluster works


def _o(initiative, theme, title, kpi_name, target) -> _Output:
    return _Output(initiative, theme, title, kpi_name, target)


#: The sample units. Initiative codes and titles are real (WTDC-17 Buenos Aires Action Plan
#: unless the title says otherwise; ASP/ARB/CIS/EUR codes from the 2015-2017 cycle).
PLANS: dict[str, _Plan] = {
    "AFR": _Plan("broadband, cybersecurity and spectrum management", "a national broadband, cybersecurity or spectrum instrument", (
        _o("AFR2", "broadband", "Promotion of emerging broadband technologies (AFR2)", "National broadband plans or pilots delivered", 16),
        _o("AFR3", "cybersecurity", "Building trust and security in the use of telecommunications/ICT (AFR3)", "CIRT readiness assessments completed", 20),
        _o("AFR4", "capacity", "Strengthening human and institutional capacity building (AFR4)", "ITU Academy courses delivered", 48),
        _o("AFR5", "spectrum", "Radio-frequency spectrum management and transition to digital broadcasting (AFR5)", "Countries assisted on spectrum management or digital broadcasting", 16),
    )),
    "AMS": _Plan("disaster communications and resilient connectivity", "a national emergency telecommunication plan or connectivity strategy", (
        _o("AMS1", "emergency", "Disaster risk reduction and management communications (AMS1)", "National emergency telecommunication plans drafted", 12),
        _o("AMS1 (2026-2029)", "broadband", "Resilient infrastructure for universal and meaningful connectivity (AMS1, Baku Action Plan)", "Infrastructure resilience assessments delivered", 12),
        _o(None, "accessibility", "ICT accessibility policies and services", "ICT accessibility assessments delivered", 12),
    )),
    "ARB": _Plan("broadband, cybersecurity and accessibility", "a broadband, cybersecurity or accessibility policy", (
        _o("ARB1", "broadband", "Development of broadband access and adoption of broadband (ARB1)", "Broadband strategy reviews delivered", 12),
        _o("ARB2", "cybersecurity", "Building confidence and security in the use of telecommunications/ICTs (ARB2)", "Cyber drills and CIRT assessments delivered", 16),
        _o("ARB5", "accessibility", "Access to telecommunications/ICTs for persons with disabilities (ARB5)", "ICT accessibility assessments delivered", 12),
    )),
    "ASP": _Plan("emergency telecommunications, broadband and regulation", "a broadband plan, regulatory reform or emergency telecommunication plan", (
        _o("ASP2", "emergency", "Emergency telecommunications (ASP2)", "National emergency telecommunication plans drafted", 12),
        _o("ASP4", "broadband", "Development of broadband access and adoption of broadband (ASP4)", "Broadband master plans delivered", 12),
        _o("ASP5", "policy_regulation", "Policy and regulation (ASP5)", "Regulatory reviews delivered", 16),
    )),
    "CIS": _Plan("accessibility, broadband and cybersecurity", "an accessibility, broadband or cybersecurity instrument", (
        _o("CIS2", "accessibility", "Access to telecommunication/ICT services for persons with disabilities (CIS2)", "ICT accessibility assessments delivered", 10),
        _o("CIS4", "broadband", "Development of broadband access and adoption of broadband (CIS4)", "Broadband development studies delivered", 10),
        _o("CIS5", "cybersecurity", "Building confidence and security in the use of ICTs (CIS5)", "Cyber drills and CIRT assessments delivered", 12),
    )),
    "EUR": _Plan("spectrum, broadband and innovation", "a spectrum, broadband or innovation policy", (
        _o("EUR1", "spectrum", "Spectrum management and transition to digital broadcasting (EUR1)", "Spectrum management reviews delivered", 12),
        _o("EUR2", "broadband", "Development of broadband access and adoption of broadband (EUR2)", "Broadband mapping or plan reviews delivered", 12),
        _o("EUR5", "innovation", "Entrepreneurship, innovation and youth (EUR5)", "Innovation ecosystem assessments delivered", 10),
    )),
    "NDI": _Plan("broadband planning and spectrum management", "a national broadband plan or spectrum roadmap", (
        _o(None, "broadband", "Broadband plans and infrastructure mapping", "Countries supported with infrastructure maps or broadband plans", 24),
        _o(None, "spectrum", "Spectrum management assistance", "Spectrum management assessments delivered", 16),
        _o(None, "broadband", "Connectivity models for rural and remote areas", "Rural connectivity business models documented", 12),
    ), ("AFR", "ASP", "AMS", "ARB")),
    "CYB": _Plan("incident response and cybersecurity strategy", "a national cybersecurity strategy", (
        _o(None, "cybersecurity", "National CIRT establishment and enhancement", "CIRT assessments or establishments supported", 20),
        _o(None, "cybersecurity", "Regional cyber drills", "Regional cyber drills held", 16),
        _o(None, "cybersecurity", "Child online protection frameworks", "Countries assisted on child online protection", 16),
    ), ("AFR", "ARB", "CIS", "EUR")),
    "DIN": _Plan("digital inclusion of women, youth and persons with disabilities", "a digital inclusion or accessibility policy", (
        _o(None, "accessibility", "ICT accessibility policies", "ICT accessibility policy assessments delivered", 16),
        _o(None, "gender", "Digital skills for women and girls", "Digital skills programmes for women and girls run", 24),
        _o(None, "youth", "Youth digital skills and engagement", "Youth digital skills bootcamps run", 20),
    ), ("ARB", "ASP", "AMS", "AFR")),
    "DSA": _Plan("digital transformation and innovation", "a digital transformation strategy", (
        _o(None, "digital_services", "Digital government and e-services", "Digital service pilots supported", 12),
        _o(None, "innovation", "Innovation ecosystems and entrepreneurship", "Innovation ecosystem assessments delivered", 12),
        _o(None, "digital_services", "Digital transformation toolkits", "Toolkits and guidelines published", 10),
    ), ("AFR", "ASP", "EUR")),
    "ENV": _Plan("e-waste management and green digital transformation", "an e-waste or green ICT policy", (
        _o(None, "environment", "E-waste policy and regulation", "Countries assisted on e-waste policy", 12),
        _o(None, "environment", "Green and climate-resilient ICT", "Climate-resilient ICT assessments delivered", 10),
        _o(None, "environment", "Environmental data and monitoring", "E-waste statistics reports published", 10),
    ), ("ASP", "AMS", "AFR")),
    "EMT": _Plan("emergency telecommunication preparedness", "a national emergency telecommunication plan", (
        _o(None, "emergency", "National emergency telecommunication plans", "National emergency telecommunication plans drafted", 16),
        _o(None, "emergency", "Early warning and disaster connectivity", "Emergency equipment deployments supported", 12),
        _o(None, "emergency", "Simulation exercises and preparedness", "Simulation exercises held", 16),
    ), ("AMS", "ASP", "AFR", "ARB")),
    "STA": _Plan("collecting and using ICT statistics", "an official ICT data collection programme", (
        _o(None, "statistics", "ICT household surveys", "Countries supported with ICT household surveys", 20),
        _o(None, "statistics", "Statistical capacity on ICT indicators", "Training courses on ICT indicators delivered", 16),
        _o(None, "statistics", "ICT data publications", "Statistical reports published", 12),
    ), ("AFR", "ARB", "CIS", "ASP")),
}

_PARTNERS = (
    ("Ministry of ICT of a host country (illustrative)", "government"),
    ("National regulatory authority (illustrative)", "regulator"),
    ("Mobile network operator (illustrative)", "private"),
    ("Regional university (illustrative)", "academia"),
    ("UN agency partner (illustrative)", "un_agency"),
    ("Regional development bank (illustrative)", "development_bank"),
    ("Civil-society network (illustrative)", "ngo"),
    ("Donor government (illustrative)", "government"),
)
_CASH_TYPES = {"private", "development_bank", "government"}

_RISKS = (
    ("Financial", "Extra-budgetary funding for {topic} falls short", "Donor priorities shift; pledges arrive late",
     "Diversify donors; phase activities to secured funds"),
    ("Political", "Elections or unrest delay government requests", "Changes of government and security situations",
     "Keep contacts at technical level; re-plan missions"),
    ("Organizational", "Key posts vacant in the unit", "Recruitment delays and staff turnover",
     "Temporary assignments; cross-training of staff"),
    ("Operational", "Procurement delays postpone equipment and pilots", "Long procurement cycles at partners",
     "Plan procurement early; use framework agreements"),
    ("Regulatory", "Regulatory changes stall {topic} reforms", "New laws or restructuring of regulators",
     "Engage regulators early; regional peer exchange"),
    ("Safety and Security", "Cyber incident disrupts online training platforms", "Attacks on platforms and mailboxes",
     "Harden platforms; keep a backup delivery channel"),
    ("Social and Environmental", "Women under-represented among participants", "Nomination practices of administrations",
     "Nomination targets; targeted outreach"),
    ("Strategic", "Overlap with other agencies' programmes dilutes results", "Uncoordinated programmes in the same countries",
     "Joint planning with UN country teams"),
)

_COMMENTS_SLOW = ("Country requests slower than planned", "Missions postponed pending government clearance",
                  "Partner funding arrived late", "Staff vacancy slowed delivery")



# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def _stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (unlike ``hash()``)."""
    return zlib.crc32(text.encode("utf-8"))


def public_quarter(year: int) -> str:
    """The quarter a public annual figure is recorded at: Q4 of its year (ITU Facts and
    Figures is published in the last quarter).

    >>> public_quarter(2023)
    '2023-Q4'
    """
    return f"{int(year)}-Q4"


def _quarter_start(pidx: int) -> dt.date:
    y, q = divmod(pidx, 4)
    return dt.date(y, 3 * q + 1, 1)


def _quarter_end(pidx: int) -> dt.date:
    return _quarter_start(pidx + 1) - dt.timedelta(days=1)


def _round_to(x: float, step: float) -> float:
    return float(round(x / step) * step)


def _ceil_to(x: float, step: float) -> float:
    return float(math.ceil(x / step - 1e-9) * step)


def _floor_to(x: float, step: float) -> float:
    return float(math.floor(x / step + 1e-9) * step)


# --------------------------------------------------------------------------------------
# the self-check: default rules of DESIGN.md, computed independently of the analytics
# --------------------------------------------------------------------------------------

def _achievement(current: float, baseline: float, target: float, direction: str) -> float:
    span = target - baseline
    if span == 0:
        beyond = current <= target if direction == "decrease" else current >= target
        return 1.0 if beyond else 0.0
    return (current - baseline) / span


def _assess_one(kpi: Mapping[str, Any], rows: Sequence[tuple[int, float, float | None, float | None]],
                milestones: Mapping[int, float], qidx: int, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Status of one KPI at quarter index ``qidx`` from its total rows (pidx, value, num, den)."""
    b, t = float(kpi["baseline_value"]), float(kpi["target_value"])
    bidx, tidx = period_index(kpi["baseline_period"]), period_index(kpi["target_period"])
    rows = sorted((r for r in rows if r[0] <= qidx), key=lambda r: r[0])
    reported = [r for r in rows if r[0] >= bidx]
    used = [r for r in rows if r[0] > bidx]
    agg = kpi["aggregation"]
    pooled = (kpi["measure"] == "percent" and used
              and all(r[2] is not None and r[3] is not None and r[3] > 0 for r in used))
    if not used:
        current = b
    elif pooled and agg == "latest":
        current = 100.0 * used[-1][2] / used[-1][3]
    elif pooled and agg in ("sum", "mean"):
        current = 100.0 * sum(r[2] for r in used) / sum(r[3] for r in used)
    elif pooled and agg == "max":
        current = max(100.0 * r[2] / r[3] for r in used)
    elif agg == "sum":
        current = b + sum(r[1] for r in used)
    elif agg == "latest":
        current = used[-1][1]
    elif agg == "max":
        current = max(r[1] for r in used)
    else:
        current = sum(r[1] for r in used) / len(used)
    ach = _achievement(current, b, t, kpi["direction"])
    if qidx in milestones:
        expected = _achievement(milestones[qidx], b, t, kpi["direction"])
    elif tidx > bidx:
        expected = min(max((qidx - bidx) / (tidx - bidx), 0.0), 1.0)
    else:
        expected = 1.0 if qidx >= tidx else 0.0
    perf = ach / expected if expected > 0 else float("nan")
    interval = {"semi-annual": 2, "annual": 4}.get(kpi.get("frequency") or "quarterly", 1)
    window = int(thresholds["no_data_quarters"]) * interval
    recent = any(qidx - window < r[0] <= qidx for r in reported)
    a, p = round(ach, 9), round(perf, 9)
    if a >= 1:
        status = "target_met"
    elif not recent and expected > 0:
        status = "no_data"
    elif expected <= 0:
        status = "not_started"
    elif math.isnan(p):
        status = "no_data"
    elif p >= thresholds["on_track"]:
        status = "on_track"
    elif p >= thresholds["at_risk"]:
        status = "at_risk"
    else:
        status = "off_track"
    return {"current": current, "achievement": ach, "expected": expected, "performance": perf,
            "status": status, "last_period": period_from_index(reported[-1][0]) if reported else None}


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else float(v)


def _total_rows(actuals: pd.DataFrame) -> dict[str, list[tuple[int, float, float | None, float | None]]]:
    out: dict[str, list] = {}
    dis = actuals["disaggregation"].astype(object)
    total = dis.isna() | dis.map(lambda v: isinstance(v, str) and not v.strip())
    for r in actuals.loc[total.to_numpy(dtype=bool)].itertuples(index=False):
        out.setdefault(r.kpi_id, []).append((period_index(r.period), float(r.value), _num(r.numerator), _num(r.denominator)))
    return out


def _milestone_map(milestones: pd.DataFrame) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in milestones.itertuples(index=False):
        out.setdefault(r.kpi_id, {})[period_index(r.period)] = float(r.target_value)
    return out


def kpi_status(frames: Mapping[str, pd.DataFrame], quarter: str,
               thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Status of every KPI at ``quarter`` by the default rules (self-check of the sample).

    Current value by aggregation (sum: baseline + increments after the baseline period;
    latest: last value; percent rows with numerator/denominator pooled), achievement,
    expected (milestone of the quarter, else linear), performance = achievement / expected,
    status: target_met, no_data (nothing in the last 2 quarters), not_started, on_track
    (>= 0.9), at_risk (>= 0.7), off_track. Only total rows (blank disaggregation) count.

    >>> from rbm_utils.core.config import load_config
    >>> _, frames = sample_unit(load_config(), "CYB")
    >>> set(kpi_status(frames, "2026-Q3")["status"]) >= {"on_track", "off_track"}
    True
    """
    t = {**DEFAULT_THRESHOLDS, **(dict(thresholds) if thresholds else {})}
    qidx = period_index(quarter)
    rows = _total_rows(frames["Actuals"])
    ms = _milestone_map(frames.get("Milestones", schema.empty_frame("Milestones")))
    out = []
    for k in frames["KPIs"].to_dict("records"):
        res = _assess_one(k, rows.get(k["kpi_id"], []), ms.get(k["kpi_id"], {}), qidx, t)
        out.append({"kpi_id": k["kpi_id"], "result_id": k["result_id"], **res})
    return pd.DataFrame(out, columns=["kpi_id", "result_id", "current", "achievement", "expected",
                                      "performance", "status", "last_period"])


def assumption_check(frames: Mapping[str, pd.DataFrame], quarter: str, margin: float = 0.10) -> pd.DataFrame:
    """Verdict of every assumption at ``quarter`` (self-check of the sample).

    min_ratio: current(kpi) / current(reference) >= threshold; min_value: current >= threshold;
    min_achievement: achievement >= threshold (below: broken; less than ``margin`` above:
    weakening; else holds); non_decreasing: the value reported at the quarter against the
    previous report, a move against the KPI's direction by more than ``margin`` x previous is
    broken, a smaller one weakening, none holds; manual: the officer's verdict; no data
    (no report at the quarter for non_decreasing): untested.

    >>> from rbm_utils.core.config import load_config
    >>> _, frames = sample_unit(load_config(), "AFR")
    >>> sorted(set(assumption_check(frames, "2026-Q3")["test"]))[:2]
    ['manual', 'min_achievement']
    """
    qidx = period_index(quarter)
    st = kpi_status(frames, quarter).set_index("kpi_id")
    rows = _total_rows(frames["Actuals"])
    kpis_dir = dict(zip(frames["KPIs"]["kpi_id"], frames["KPIs"]["direction"]))
    out = []
    for a in frames["Assumptions"].to_dict("records"):
        test, thr = a["test"], _num(a.get("threshold"))
        value: float | None = None
        verdict = "untested"
        if test == "manual":
            verdict = a.get("verdict") or "untested"
        elif test == "non_decreasing":
            reps = sorted((r for r in rows.get(a["kpi_id"], []) if r[0] <= qidx), key=lambda r: r[0])
            if len(reps) >= 2 and reps[-1][0] == qidx:
                prev, cur = reps[-2][1], reps[-1][1]
                value = cur - prev
                sign = -1.0 if kpis_dir.get(a["kpi_id"]) == "decrease" else 1.0
                against = -sign * value  # movement against the KPI's direction
                verdict = "broken" if against > margin * abs(prev) else "weakening" if against > 0 else "holds"
        elif a["kpi_id"] in st.index and st.loc[a["kpi_id"], "last_period"] is not None and thr is not None:
            s = st.loc[a["kpi_id"]]
            if test == "min_value":
                value = float(s["current"])
            elif test == "min_achievement":
                value = float(s["achievement"])
            elif test == "min_ratio" and a.get("reference_kpi_id") in st.index:
                ref = float(st.loc[a["reference_kpi_id"], "current"])
                value = float(s["current"]) / ref if ref else None
            if value is not None:
                verdict = "broken" if value < thr else "weakening" if value < thr * (1 + margin) else "holds"
        out.append({"assumption_id": a["assumption_id"], "test": test, "kpi_id": a.get("kpi_id"),
                    "value": value, "threshold": thr, "verdict": verdict})
    return pd.DataFrame(out, columns=["assumption_id", "test", "kpi_id", "value", "threshold", "verdict"])


def budget_check(frames: Mapping[str, pd.DataFrame], quarter: str, gap: float = 0.15) -> pd.DataFrame:
    """Spending against the budget elapsed by ``quarter``, per output (self-check of the sample).

    Budget to date = full budgets of past years + the current year's budget x quarters
    elapsed / 4. ``ratio`` = spent / budget to date; ``flag`` under (< 1 - gap), over
    (> 1 + gap) or on_plan.

    >>> from rbm_utils.core.config import load_config
    >>> _, frames = sample_unit(load_config(), "EUR")
    >>> sorted(budget_check(frames, "2026-Q3")["flag"].unique())[0] in {"on_plan", "over", "under"}
    True
    """
    year, qn = schema.parse_period(quarter)
    b = frames["Budget"]
    share = np.where(b["year"].astype(float) < year, 1.0, np.where(b["year"].astype(float) == year, qn / 4, 0.0))
    budget = (b["amount"].astype(float) * share).groupby(b["result_id"]).sum()
    e = frames["Expenditure"]
    e = e.loc[[period_index(p) <= period_index(quarter) for p in e["period"]]]
    spent = e["amount"].astype(float).groupby(e["result_id"]).sum()
    out = pd.DataFrame({"budget_to_date": budget, "spent": spent.reindex(budget.index).fillna(0.0)})
    out["ratio"] = out["spent"] / out["budget_to_date"]
    out["flag"] = np.where(out["ratio"] < 1 - gap, "under", np.where(out["ratio"] > 1 + gap, "over", "on_plan"))
    return out.rename_axis("result_id").reset_index()


# --------------------------------------------------------------------------------------
# KPI definitions
# --------------------------------------------------------------------------------------

@dataclass
class _Kpi:
    kpi_id: str
    result_id: str
    name: str
    definition: str
    measure: str
    direction: str
    aggregation: str
    baseline_value: float
    baseline_period: str
    target_value: float
    target_period: str
    data_source: str
    frequency: str
    responsible: str
    kind: str = "count"          # count | currency | pct | level | public
    role: str = ""
    split: bool = False          # clusters: report by region too
    den: tuple[int, int] = (60, 160)
    semiannual: bool = False
    public_rows: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in schema.sheet("KPIs").column_names}


def _series_points(table, area: str) -> list[tuple[int, float, str, int]]:
    return [(period_index(public_quarter(y)), float(vals[area]), ed, y) for y, ed, vals in table if area in vals]


def _public_kpi(kid: str, rid: str, unit: str, table, area: str, *, name: str, what: str, measure: str,
                target: Any, target_period: str, target_note: str, first: int, qidx: int,
                decimals: int, extra_source: str = "") -> _Kpi | None:
    """An impact KPI on public figures: the public points in the window plus linearly
    interpolated quarters between consecutive points (labelled illustrative)."""
    pts = _series_points(table, area)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for p in range(first, qidx + 1):
        exact = [x for x in pts if x[0] == p]
        if exact:
            _, v, ed, y = exact[0]
            used.add(ed)
            rows.append({"pidx": p, "value": round(v, decimals),
                         "evidence": f"{_EDITION_TITLE[ed]} ({ed}), estimate for {y}", "comment": "public figure"})
            continue
        before = [x for x in pts if x[0] < p]
        after = [x for x in pts if p < x[0] <= qidx]
        if before and after:
            (p0, v0, e0, y0), (p1, v1, e1, y1) = before[-1], after[0]
            used.update((e0, e1))
            v = v0 + (v1 - v0) * (p - p0) / (p1 - p0)
            rows.append({"pidx": p, "value": round(v, decimals),
                         "evidence": f"Interpolated between {e0} ({y0}) and {e1} ({y1})",
                         "comment": "quarter interpolated, illustrative"})
    public_in = [x for x in pts if first <= x[0] <= qidx]
    if not public_in:
        log.info("%s: no public %s figure for %s in the window; KPI left out", unit, what, area)
        return None
    bidx, base, _, _ = public_in[0]
    target = float(target(base)) if callable(target) else float(target)
    if period_index(target_period) <= bidx:
        target_period = period_from_index(bidx + 8)
    source = ("; ".join(f"{_EDITION_TITLE[e]} ({e})" for e in sorted(used))
              + (f", {extra_source}" if extra_source else "")
              + "; quarters interpolated, illustrative")
    region = REGION_NAMES.get(area, area)
    definition = (f"{what}, {region} (ITU estimate). Annual figure: the estimate for year Y is recorded at "
                  f"quarter Y-Q4; quarters between public points are linearly interpolated (illustrative). "
                  f"Baseline: the first public point in the window. {target_note}")
    return _Kpi(kid, rid, name, definition, measure, "increase", "latest", base, period_from_index(bidx),
                target, target_period, source, "annual", f"{unit} M&E focal point (source: ITU statistics)",
                kind="public", public_rows=rows)


def _kpis(unit: str, utype: str, plan: _Plan, rng: np.random.Generator, first: int, qidx: int) -> list[_Kpi]:
    bp = period_from_index(first)
    tp_short = period_from_index(max(first + 15, qidx + 1))  # 2026-Q4 for the default calendar
    tp_long = period_from_index(max(first + 19, qidx + 2))   # 2027-Q4: end of the ITU Strategic Plan 2024-2027
    resp = f"{unit} programme officer (illustrative)"
    split = utype == "cluster"
    ks: list[_Kpi] = []

    def add(result: str, name: str, definition: str, measure: str, aggregation: str, base: float, target: float,
            source: str, *, direction="increase", kind="count", role="", split_=False, tp=tp_short, bp_=bp,
            den=(60, 160), semiannual=False, frequency="quarterly") -> None:
        ks.append(_Kpi(f"{unit}-K{len(ks) + 1:02d}", f"{unit}-{result}", name, definition + " Figures illustrative.",
                       measure, direction, aggregation, float(base), bp_, float(target), tp, "Illustrative: " + source,
                       frequency, resp, kind=kind, role=role, split=split_, den=den, semiannual=semiannual))

    n_out = len(plan.outputs)
    a3 = "A3" if n_out >= 3 else "A1"
    add("A1", "Workshops and training sessions delivered",
        "Number of workshops and training sessions held in the quarter (increment).",
        "number", "sum", 0, int(rng.integers(30, 49)), "BDT events database (attendance lists)", role="workshops", split_=split)
    add("A2", "Technical assistance missions completed",
        "Number of country technical-assistance missions completed in the quarter (increment).",
        "number", "sum", 0, int(rng.integers(16, 29)), "mission reports", split_=split)
    add(a3, "Work-plan tasks delivered on schedule",
        "Share of work-plan tasks due in the quarter that were delivered on schedule (numerator: on time; denominator: due).",
        "percent", "latest", int(rng.integers(60, 69)), int(rng.integers(85, 91)), "operational plan tracker",
        kind="pct", den=(40, 80))
    add("A1", "Partner resources mobilised (CHF)",
        "Cash and in-kind contributions signed with partners in the quarter, in CHF (increment).",
        "currency", "sum", 0, _round_to(rng.uniform(0.8e6, 2.0e6), 50000), "partnership agreements register", kind="currency")
    add("A2", "Median days to answer a request for assistance",
        "Median number of days between a member state's request for assistance and BDT's answer, in the quarter.",
        "number", "latest", int(rng.integers(40, 51)), int(rng.integers(20, 26)), "request tracking log",
        direction="decrease", kind="level")
    for j, o in enumerate(plan.outputs, start=1):
        add(f"O{j}", o.kpi_name, f"{o.kpi_name}: count of deliverables completed in the quarter (increment).",
            "number", "sum", 0, o.target, "deliverable register (published reports and letters)", split_=split and j == 1,
            tp=tp_long)
    add("R1", f"Participants trained on {plan.focus}",
        "Number of people (policy makers, regulators, practitioners) completing a BDT training in the quarter (increment).",
        "number", "sum", 0, int(rng.integers(900, 1500)), "ITU Academy and event registration records",
        role="participants", split_=split, tp=tp_long)
    add("R1", "Share of women among participants",
        "Women among participants completing a training in the quarter (numerator: women; denominator: all participants).",
        "percent", "latest", int(rng.integers(28, 36)), int(rng.integers(45, 51)), "ITU Academy and event registration records",
        kind="pct", split_=split, tp=tp_long, den=(80, 200))
    add("C1", "Participants passing the post-training assessment",
        "Share of assessed participants who passed the post-training assessment in the quarter.",
        "percent", "latest", int(rng.integers(50, 61)), int(rng.integers(75, 81)), "post-training assessments",
        kind="pct", role="pass_rate", tp=tp_long, den=(60, 150))
    add("C1", "Institutions with a trained focal team",
        "Number of national institutions that newly have a trained focal team (increment).",
        "number", "sum", 0, int(rng.integers(12, 21)), "institutional capacity survey (semi-annual)",
        tp=tp_long, bp_=period_from_index(first + 4), semiannual=True, frequency="semi-annual")
    add("B1", f"Countries adopting {plan.instrument} with BDT support",
        "Number of countries adopting the instrument (law, strategy, plan or regulation) in the quarter, with BDT support (increment).",
        "number", "sum", 0, int(rng.integers(8, 15)), "national gazettes and government notifications",
        role="adoption", split_=split, tp=tp_long)
    add("B1", "Trained participants applying the skills six months later",
        "Share of surveyed former participants who report applying the skills at work, six months after training.",
        "percent", "latest", int(rng.integers(30, 41)), int(rng.integers(60, 71)), "six-month follow-up survey of participants",
        kind="pct", role="applying", tp=tp_long, den=(40, 120))

    def add_public(result: str, table, area: str, what: str, name: str, measure: str, target: Any,
                   target_period: str, note: str, decimals: int, extra: str = "") -> None:
        k = _public_kpi(f"{unit}-K{len(ks) + 1:02d}", f"{unit}-{result}", unit, table, area, name=name, what=what,
                        measure=measure, target=target, target_period=target_period, target_note=note,
                        first=first, qidx=qidx, decimals=decimals, extra_source=extra)
        if k is not None:
            ks.append(k)

    internet = "Percentage of individuals using the Internet"
    parity = "Gender parity score for Internet use (female rate / male rate; parity is 0.98-1.02)"
    if utype == "region" and any(unit in v for _, _, v in INTERNET_USE):
        add_public("I1", INTERNET_USE, unit, internet, f"Individuals using the Internet, {REGION_NAMES.get(unit, unit)} (%)",
                   "percent", lambda base: min(98, round(base + 12)), "2029-Q4",
                   "Target illustrative (end of the Baku Action Plan period 2026-2029).", 2)
        if any(unit in v for _, _, v in GENDER_PARITY):
            add_public("I2", GENDER_PARITY, unit, parity, f"Gender parity score for Internet use, {REGION_NAMES.get(unit, unit)}",
                       "ratio", 0.98, "2029-Q4", "Target: parity (0.98), wording of Connect 2020 target 2.5.A; date illustrative.", 3)
    elif unit == "DIN":
        for area in ("World", "ASP", "ARB"):
            add_public("I1", GENDER_PARITY, area, parity, f"Gender parity score for Internet use, {REGION_NAMES[area]}",
                       "ratio", 0.98, "2029-Q4", "Target: parity (0.98), wording of Connect 2020 target 2.5.A; date illustrative.", 3)
    else:
        add_public("I1", INTERNET_USE, "World", internet, "Individuals using the Internet, World (%)", "percent", 75.0,
                   "2025-Q4", "Target: Broadband Commission 2025 target 3 (75 % worldwide by 2025).", 2)
        if unit == "NDI":
            add_public("I1", COVERAGE_5G, "World", "Percentage of the population covered by a 5G mobile network",
                       "Population covered by 5G, World (%)", "percent", 60.0, "2029-Q4", "Target illustrative.", 2,
                       extra="via a secondary press report")
    return ks


def _milestones_for(k: _Kpi, back_loaded: bool) -> dict[int, float]:
    """Quarterly milestones on a back-loaded curve (behaviour change lags delivery)."""
    bidx, tidx = period_index(k.baseline_period), period_index(k.target_period)
    out = {}
    for p in range(bidx + 1, tidx + 1):
        f = (p - bidx) / (tidx - bidx)
        f = f ** 1.4 if back_loaded else f
        out[p] = float(round(k.baseline_value + (k.target_value - k.baseline_value) * f))
    return out


# --------------------------------------------------------------------------------------
# series generation
# --------------------------------------------------------------------------------------

_INTENT_STATUS = {"on": "on_track", "at_risk": "at_risk", "off": "off_track", "met": "target_met", "stale": "no_data"}


def _reporting_periods(k: _Kpi, last: int) -> list[int]:
    bidx = period_index(k.baseline_period)
    ps = list(range(bidx + 1, last + 1))
    if k.semiannual:
        ps = [p for p in ps if p % 4 in (1, 3)]  # Q2 and Q4
    return ps


def _desired_achievement(intent: str, expected: float, rng: np.random.Generator) -> float:
    if intent == "met":
        return float(rng.uniform(1.03, 1.12))
    if intent == "on":
        return float(min(rng.uniform(0.98, 1.08) * expected, 0.96))
    if intent == "at_risk":
        return float(rng.uniform(0.77, 0.83) * expected)
    if intent == "off":
        return float(rng.uniform(0.35, 0.55) * expected)
    return float(rng.uniform(0.55, 0.85) * expected)  # stale


def _split_counts(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if total <= 0:
        return np.zeros(len(weights), dtype=int)
    return rng.multinomial(int(total), weights / weights.sum())


def _candidate(k: _Kpi, intent: str, milestones: dict[int, float], qidx: int, rng: np.random.Generator,
               regions: Sequence[str], dip: bool, thresholds: Mapping[str, float]) -> list[dict[str, Any]]:
    """One candidate series (total rows, plus region rows for split KPIs)."""
    last = qidx - int(rng.integers(2, 4)) if intent == "stale" else qidx
    periods = _reporting_periods(k, last)
    if not periods:
        return []
    exp_at = _assess_one(k.row(), [], milestones, last, thresholds)["expected"]
    ach = _desired_achievement(intent, exp_at, rng)
    b, t = k.baseline_value, k.target_value
    current = b + ach * (t - b)
    rows: list[dict[str, Any]] = []
    n = len(periods)
    if k.kind in ("count", "currency"):
        step = 1000.0 if k.kind == "currency" else 1.0
        total = current - b
        total = _ceil_to(total, step) if intent == "met" else _round_to(total, step)
        units = int(round(total / step))
        w = rng.gamma(2.0, size=n) * np.linspace(0.6, 1.4, n)
        inc = _split_counts(units, w, rng) * step
        reg_w = rng.dirichlet(np.full(len(regions), 3.0)) if (k.split and regions) else None
        for p, v in zip(periods, inc):
            rows.append({"pidx": p, "value": float(v), "disaggregation": ""})
            if reg_w is not None:
                parts = _split_counts(int(round(v / step)), reg_w, rng) * step
                for r, pv in zip(regions, parts):
                    rows.append({"pidx": p, "value": float(pv), "disaggregation": f"region={r}"})
        return rows
    # level KPIs (percent with numerator/denominator, or plain numbers): a monotone path
    dip = dip and n >= 2
    m = n - 1 if dip else n  # with a dip, the path peaks at the previous report, then falls
    steps = rng.gamma(2.0, size=m)
    frac = np.cumsum(steps) / steps.sum()
    end_path = current / (1.0 - rng.uniform(0.14, 0.22)) if dip else current  # a fall of over 10 %
    path = b + (end_path - b) * frac
    if dip:
        path = np.append(path, current)
    if k.kind == "pct":
        path = np.clip(path, 0.0, 100.0)
        prev = -1.0
        for i, (p, level) in enumerate(zip(periods, path)):
            if k.split and regions:
                dens = [int(rng.integers(max(5, k.den[0] // len(regions)), max(6, k.den[1] // len(regions))))
                        for _ in regions]
                nums = [int(min(d, max(0, round(d * np.clip(level + rng.normal(0, 4), 0, 100) / 100)))) for d in dens]
                num, den = sum(nums), sum(dens)
            else:
                den = int(rng.integers(k.den[0], k.den[1] + 1))
                num = int(min(den, max(0, round(level * den / 100))))
                nums, dens = [], []
            is_dip = dip and i == n - 1
            while not is_dip and 100.0 * num / den < prev and num < den:
                num += 1
                if nums:
                    j = int(np.argmax([d - x for d, x in zip(dens, nums)]))
                    nums[j] += 1
            value = 100.0 * num / den
            prev = value
            rows.append({"pidx": p, "value": round(value, 2), "numerator": float(num), "denominator": float(den),
                         "disaggregation": ""})
            for r, x, d in zip(regions if nums else (), nums, dens):
                rows.append({"pidx": p, "value": round(100.0 * x / d, 2), "numerator": float(x),
                             "denominator": float(d), "disaggregation": f"region={r}"})
        return rows
    values = np.round(path)
    if k.direction == "decrease":
        values = np.minimum.accumulate(values)
    else:
        values = np.maximum.accumulate(values)
    for p, v in zip(periods, values):
        rows.append({"pidx": p, "value": float(v), "disaggregation": ""})
    return rows


def _series(k: _Kpi, intent: str, milestones: dict[int, float], qidx: int, rng: np.random.Generator,
            regions: Sequence[str], dip: bool, thresholds: Mapping[str, float]) -> list[dict[str, Any]]:
    """A series whose status at ``qidx`` is the intended one (retries with fresh noise)."""
    want = _INTENT_STATUS[intent]
    rows: list[dict[str, Any]] = []
    for _ in range(40):
        rows = _candidate(k, intent, milestones, qidx, rng, regions, dip, thresholds)
        totals = [(r["pidx"], r["value"], r.get("numerator"), r.get("denominator")) for r in rows if not r["disaggregation"]]
        if _assess_one(k.row(), totals, milestones, qidx, thresholds)["status"] == want:
            return rows
    log.warning("sample: %s did not reach the intended status %s", k.kpi_id, want)
    return rows


# --------------------------------------------------------------------------------------
# the unit
# --------------------------------------------------------------------------------------

def _generic_plan(unit_code: str, themes: Sequence[str], utype: str, regions: Sequence[str]) -> _Plan:
    themes = list(themes) or ["capacity"]
    outs = tuple(_o(None, themes[j % len(themes)], f"{themes[j % len(themes)].replace('_', ' ').capitalize()} work programme {j + 1}",
                    f"{themes[j % len(themes)].replace('_', ' ').capitalize()} deliverables completed ({j + 1})", 12)
                 for j in range(3))
    regs = () if utype == "region" else tuple(regions[(_stable_hash(unit_code) + i) % len(regions)] for i in range(3))
    return _Plan("the unit's thematic work", "a policy instrument", outs, regs)


def sample_unit(config: Config, unit_code: str, *, seed: int = 2026,
                quarter: str | None = None) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The Unit fields and one conformed frame per table sheet for ``unit_code``.

    Deterministic: ``numpy.random.default_rng(seed + crc32(unit_code))``. The reporting
    quarter defaults to ``config.current_quarter``; periods run from ``config.first_quarter``
    (the sample needs at least four quarters of history).

    >>> from rbm_utils.core.config import load_config
    >>> unit, frames = sample_unit(load_config(), "DIN")
    >>> unit["unit_code"], sorted(frames)[:3]
    ('DIN', ['Activities', 'Actuals', 'Assumptions'])
    """
    u = config.unit(unit_code)
    q = quarter or config.current_quarter
    first = period_index(config.first_quarter)
    qidx = period_index(q)
    if qidx < first + 4:
        raise ValueError(f"the sample needs at least four quarters of history: {q} is too close to "
                         f"the first quarter {config.first_quarter}")
    thresholds = {**DEFAULT_THRESHOLDS, **config.thresholds}
    rng = np.random.default_rng(seed + _stable_hash(u.code))
    position = list(config.units).index(u.code)
    plan = PLANS.get(u.code) or _generic_plan(u.code, u.themes, u.type, schema.REGIONS)
    regions = list(plan.regions) if u.type == "cluster" else [u.code] if u.code in schema.REGIONS else []
    code = u.code

    # ---------------------------------------------------------------- results
    outs = plan.outputs
    out_ids = [f"{code}-O{j}" for j in range(1, len(outs) + 1)]
    main_programme = THEME_PROGRAMME.get(outs[0].theme, "")
    where = REGION_NAMES.get(code, "Member States")
    has_i2 = u.type == "region" and any(code in v for _, _, v in GENDER_PARITY)
    impact_to = f"{code}-I1" + (f"; {code}-I2" if has_i2 else "")
    results: list[dict[str, Any]] = []
    activity_titles = ("Workshops and trainings delivered", "Technical assistance delivered to countries",
                       "Work plan delivered on time and resourced")
    for i, title in enumerate(activity_titles, start=1):
        results.append({"result_id": f"{code}-A{i}", "level": "activity", "title": title,
                        "contributes_to": "; ".join(out_ids), "programme": main_programme})
    for oid, o in zip(out_ids, outs):
        results.append({"result_id": oid, "level": "output", "title": o.title, "contributes_to": f"{code}-R1",
                        "programme": THEME_PROGRAMME.get(o.theme, ""), "initiative": o.initiative, "theme": o.theme})
    results += [
        {"result_id": f"{code}-R1", "level": "reach", "contributes_to": f"{code}-C1", "programme": main_programme,
         "title": f"Policy makers, regulators and practitioners reached on {plan.focus}"},
        {"result_id": f"{code}-C1", "level": "capacity", "contributes_to": f"{code}-B1", "programme": main_programme,
         "title": f"National institutions have the skills for {plan.focus}"},
        {"result_id": f"{code}-B1", "level": "behaviour", "contributes_to": impact_to, "programme": main_programme,
         "title": f"Countries adopt {plan.instrument}"},
    ]
    if u.code == "DIN":
        results.append({"result_id": f"{code}-I1", "level": "impact", "programme": main_programme,
                        "title": "Women and men use the Internet equally"})
    else:
        results.append({"result_id": f"{code}-I1", "level": "impact", "programme": main_programme,
                        "title": f"More people use the Internet ({where if u.type == 'region' else 'worldwide'})"})
    if has_i2:
        results.append({"result_id": f"{code}-I2", "level": "impact", "programme": main_programme,
                        "title": f"Women and men use the Internet equally in {where}"})

    # ---------------------------------------------------------------- KPIs and milestones
    kpis = _kpis(code, u.type, plan, rng, first, qidx)
    by_role = {k.role: k for k in kpis if k.role}
    milestones: dict[str, dict[int, float]] = {}
    if position % 2 == 0:
        milestones[by_role["adoption"].kpi_id] = _milestones_for(by_role["adoption"], back_loaded=True)
    out_kpi = next(k for k in kpis if k.result_id == out_ids[0])
    milestones[out_kpi.kpi_id] = {p: v for p, v in _milestones_for(out_kpi, back_loaded=False).items() if p % 4 == 3}

    # ---------------------------------------------------------------- intended statuses
    tests = ("min_ratio", "min_value", "non_decreasing", "min_achievement", "manual")
    broken = tests[position % len(tests)]
    weak_pool = [t for t in ("min_value", "min_achievement", "manual") if t != broken]
    weakening = weak_pool[position % len(weak_pool)]
    illus = [k for k in kpis if k.kind != "public"]
    protected = {by_role[r].kpi_id for r in ("workshops", "participants", "pass_rate", "applying")}
    stale_pool = [k.kpi_id for k in illus if k.kpi_id not in protected]
    intents = {k.kpi_id: "on" for k in illus}
    stale_id = stale_pool[int(rng.integers(len(stale_pool)))]
    intents[stale_id] = "stale"
    rest = [k.kpi_id for k in illus if k.kpi_id != stale_id]
    order = [rest[i] for i in rng.permutation(len(rest))]
    n_met = 1 + int(rng.random() < 0.5)
    n_risk = int(rng.integers(1, 4))
    n_off = int(rng.integers(1, 3))
    for kid in order[:n_met]:
        intents[kid] = "met"
    for kid in order[n_met:n_met + n_risk]:
        intents[kid] = "at_risk"
    for kid in order[n_met + n_risk:n_met + n_risk + n_off]:
        intents[kid] = "off"
    if broken == "min_value" and intents[by_role["pass_rate"].kpi_id] == "met":
        intents[by_role["pass_rate"].kpi_id] = "on"  # a threshold above a met target would be odd

    # ---------------------------------------------------------------- actuals
    actual_rows: list[dict[str, Any]] = []
    totals: dict[str, list[tuple[int, float, float | None, float | None]]] = {}
    for k in kpis:
        if k.kind == "public":
            rows = [{**r, "disaggregation": ""} for r in k.public_rows]
        else:
            dip = broken == "non_decreasing" and k.role == "applying"
            rows = _series(k, intents[k.kpi_id], milestones.get(k.kpi_id, {}), qidx, rng,
                           regions if k.split else [], dip, thresholds)
            for r in rows:
                r["evidence"] = f"Quarterly report {code} {period_from_index(r['pidx'])}, annex {k.kpi_id} (illustrative)"
            tot = [r for r in rows if not r["disaggregation"]]
            if tot and intents[k.kpi_id] in ("off", "stale"):
                tot[-1]["comment"] = (_COMMENTS_SLOW[int(rng.integers(len(_COMMENTS_SLOW)))]
                                      if intents[k.kpi_id] == "off" else "Reporting paused: data collection under review")
        totals[k.kpi_id] = [(r["pidx"], r["value"], r.get("numerator"), r.get("denominator"))
                            for r in rows if not r["disaggregation"]]
        for r in rows:
            actual_rows.append({"kpi_id": k.kpi_id, "period": period_from_index(r["pidx"]), "value": r["value"],
                                "numerator": r.get("numerator"), "denominator": r.get("denominator"),
                                "disaggregation": r["disaggregation"], "evidence": r.get("evidence"),
                                "comment": r.get("comment")})
    # missing evidence: the latest quarter of two illustrative, recently reported KPIs
    recent_ids = [k.kpi_id for k in illus if totals[k.kpi_id] and totals[k.kpi_id][-1][0] == qidx]
    for kid in [recent_ids[i] for i in sorted(rng.choice(len(recent_ids), size=min(2, len(recent_ids)), replace=False))]:
        for r in actual_rows:
            if r["kpi_id"] == kid and r["period"] == q:
                r["evidence"] = None
                r["comment"] = r["comment"] or "Evidence to be uploaded"

    # ---------------------------------------------------------------- assumptions
    status_now = {k.kpi_id: _assess_one(k.row(), totals[k.kpi_id], milestones.get(k.kpi_id, {}), qidx, thresholds)
                  for k in kpis}
    assumptions = _assumptions(code, kpis, by_role, status_now, totals, broken, weakening, qidx, intents, rng)

    frames_raw = {
        "Results": results,
        "KPIs": [k.row() for k in kpis],
        "Milestones": [{"kpi_id": kid, "period": period_from_index(p), "target_value": v}
                       for kid, ms in milestones.items() for p, v in sorted(ms.items())],
        "Actuals": actual_rows,
        "Assumptions": assumptions,
        "Risks": _risks(code, u.type, plan, out_ids, position, first, qidx, rng),
        "Linkages": _linkages(code, plan, out_ids),
    }
    budget, spend = _money(code, out_ids, position, first, qidx, rng)
    frames_raw["Budget"], frames_raw["Expenditure"] = budget, spend
    activities = _activities(code, u.type, plan, out_ids, regions or [code], position, first, qidx, rng)
    frames_raw["Activities"] = activities
    frames_raw["Partners"] = _partners(activities, rng)

    frames: dict[str, pd.DataFrame] = {}
    for sh in schema.DATA_SHEETS:
        recs = frames_raw.get(sh.name, [])
        df = pd.DataFrame(recs) if recs else schema.empty_frame(sh.name)
        frames[sh.name] = schema.conform(sh.name, df)
    unit_fields = {"unit_code": u.code, "unit_name": u.name, "unit_type": u.type, "reporting_quarter": q,
                   "submitted_by": f"{u.code} M&E focal point (illustrative)"}
    unit_fields = {c: unit_fields[c] for c in schema.sheet("Unit").column_names}
    log.info("sample %s: %d KPIs, %d actuals", code, len(frames["KPIs"]), len(frames["Actuals"]))
    return unit_fields, frames


def _assumptions(code: str, kpis: list[_Kpi], by_role: dict[str, _Kpi], status_now: dict[str, dict],
                 totals: dict[str, list], broken: str, weakening: str, qidx: int, intents: dict[str, str],
                 rng: np.random.Generator) -> list[dict[str, Any]]:
    """Five assumptions, one per test type; thresholds set from the actuals so that the
    intended one breaks, another weakens and the rest hold."""
    def verdict_of(test: str) -> str:
        return "broken" if test == broken else "weakening" if test == weakening else "holds"

    out: list[dict[str, Any]] = []
    w, p = by_role["workshops"], by_role["participants"]
    r_cum = status_now[p.kpi_id]["current"] / max(status_now[w.kpi_id]["current"], 1e-9)
    last_w = {r[0]: r[1] for r in totals[w.kpi_id]}.get(qidx, 0.0)
    last_p = {r[0]: r[1] for r in totals[p.kpi_id]}.get(qidx, 0.0)
    ratios = [r_cum] + ([last_p / last_w] if last_w > 0 else [])
    if verdict_of("min_ratio") == "broken":
        thr = _ceil_to(1.25 * max(ratios), 1)
    else:
        thr = max(1.0, _floor_to(0.75 * min(ratios), 1))
    out.append({"from_result": w.result_id, "to_result": p.result_id, "test": "min_ratio", "kpi_id": p.kpi_id,
                "reference_kpi_id": w.kpi_id, "threshold": thr,
                "statement": f"Each workshop or training session reaches at least {thr:g} participants, so delivery turns into reach."})

    pr = by_role["pass_rate"]
    v = status_now[pr.kpi_id]["current"]
    how = verdict_of("min_value")
    thr = (min(100.0, _ceil_to(v * 1.12, 5)) if how == "broken" else float(math.floor(v / 1.04)) if how == "weakening"
           else max(5.0, _floor_to(v * 0.85, 5)))
    out.append({"from_result": pr.result_id, "to_result": f"{code}-B1", "test": "min_value", "kpi_id": pr.kpi_id,
                "threshold": thr,
                "statement": f"At least {thr:g} % of assessed participants pass, enough for institutions to act on what they learnt."})

    ap = by_role["applying"]
    out.append({"from_result": ap.result_id, "to_result": f"{code}-I1", "test": "non_decreasing", "kpi_id": ap.kpi_id,
                "statement": "The share of former participants applying their skills keeps rising, so adoption reaches users."})

    how = verdict_of("min_achievement")
    cands = [k for k in kpis if k.kind in ("count",) and intents.get(k.kpi_id) in ("on", "at_risk", "off")
             and status_now[k.kpi_id]["achievement"] > 0.05]
    cands.sort(key=lambda k: status_now[k.kpi_id]["achievement"])
    if how == "broken":  # the weakest link: an off-track KPI if there is one
        pick = next((k for rank in ("off", "at_risk") for k in cands if intents[k.kpi_id] == rank), cands[0])
    else:
        pick = cands[-1]
    a = status_now[pick.kpi_id]["achievement"]
    thr = (_ceil_to(a * 1.3, 0.05) if how == "broken" else _floor_to(a / 1.04, 0.01) if how == "weakening"
           else max(0.05, _floor_to(a * 0.75, 0.05)))
    nxt = {"O": f"{code}-R1", "R": f"{code}-C1", "C": f"{code}-B1", "B": f"{code}-I1", "A": f"{code}-O1"}
    level_letter = pick.result_id.split("-")[-1][0]
    out.append({"from_result": pick.result_id, "to_result": nxt.get(level_letter, f"{code}-R1"),
                "test": "min_achievement", "kpi_id": pick.kpi_id, "threshold": round(thr, 2),
                "statement": f"'{pick.name}' has covered at least {thr:.0%} of the way to its target by now; otherwise the next level cannot follow."})

    how = verdict_of("manual")
    evidence = {"holds": "Minutes of the regional consultation with member states, {q} (illustrative)",
                "weakening": "Two governments postponed the policy debate; letters on file, {q} (illustrative)",
                "broken": "Budget laws cut the counterpart funds in three countries; gazette notices, {q} (illustrative)"}[how]
    out.append({"from_result": f"{code}-B1", "to_result": f"{code}-I1", "test": "manual", "verdict": how,
                "evidence": evidence.format(q=period_from_index(qidx)),
                "statement": "Governments keep digital policy a priority through elections and budget cycles."})
    for i, a_ in enumerate(out, start=1):
        a_["assumption_id"] = f"{code}-AS{i:02d}"
        if a_["test"] != "manual":
            a_["review_note"] = {"broken": "Broken at the reporting quarter: re-plan the link.",
                                 "weakening": "Close to the threshold: watch next quarter.",
                                 "holds": None}[verdict_of(a_["test"])]
        else:
            a_["review_note"] = None if how == "holds" else "Raised with the unit's management."
    return out


def _risks(code: str, utype: str, plan: _Plan, out_ids: list[str], position: int, first: int, qidx: int,
           rng: np.random.Generator) -> list[dict[str, Any]]:
    """Five risks: a high open one everywhere, a critical open one in every other unit."""
    high = [(3, 5), (5, 3), (4, 4)]
    critical = [(4, 5), (5, 4), (5, 5)]
    medium = [(3, 4), (2, 5), (4, 3)]
    low = [(2, 3), (1, 4), (3, 3)]
    pick = lambda opts: opts[int(rng.integers(len(opts)))]  # noqa: E731
    slots = [(pick(high), "open"),
             (pick(critical), "open") if position % 2 == 0 else (pick(medium), "open"),
             (pick(medium), "monitoring"),
             (pick(low), "closed"),
             (pick(high), "monitoring")]
    templates = [_RISKS[i] for i in rng.permutation(len(_RISKS))[:len(slots)]]
    q_end = _quarter_end(qidx)
    start = _quarter_start(first)
    rows = []
    targets = out_ids + [f"{code}-R1", f"{code}-B1"]
    for i, (((lk, im), status), (cat, title, cause, mitig)) in enumerate(zip(slots, templates), start=1):
        topic = plan.outputs[i % len(plan.outputs)].theme.replace("_", " ")
        identified = start + dt.timedelta(days=int(rng.integers(0, max(1, (q_end - start).days - 30))))
        review = None if status == "closed" else (q_end + dt.timedelta(days=int(rng.integers(15, 60)))).isoformat()
        rows.append({"risk_id": f"{code}-RSK{i:02d}", "category": cat, "title": title.format(topic=topic),
                     "cause": cause, "result_id": targets[int(rng.integers(len(targets)))], "likelihood": lk,
                     "impact": im, "owner": f"{code} {'Regional Director' if utype == 'region' else 'Cluster Facilitator'}",
                     "mitigation": mitig, "status": status, "identified_on": identified.isoformat(), "review_on": review})
    return rows


def _linkages(code: str, plan: _Plan, out_ids: list[str]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for oid, o in zip(out_ids, plan.outputs):
        for body, ref, nature in THEME_LINKS.get(o.theme, ()):
            if (oid, body, ref) not in seen:
                seen.add((oid, body, ref))
                rows.append({"result_id": oid, "body": body, "reference": ref, "nature": nature})
    rows.append({"result_id": f"{code}-R1", "body": "other", "reference": "ITU Academy", "nature": "draws_on"})
    return rows


def _money(code: str, out_ids: list[str], position: int, first: int, qidx: int,
           rng: np.random.Generator) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Budget per output, funding source and year; quarterly spending at a rate per output
    (on plan, under- or over-spent)."""
    pattern = (1.0, 0.6, 1.35, 0.95)
    fy, ly = first // 4, qidx // 4
    budget, spend = [], []
    for j, oid in enumerate(out_ids):
        rate = pattern[(position + j) % len(pattern)]
        sources = ["Regular budget"]
        if j % 2 == 0:
            sources.append("ICT Development Fund")
        if j == 1:
            sources.append("Extra-budgetary: donor agreement (illustrative)")
        for src in sources:
            base = _round_to(rng.uniform(120_000, 450_000) * (1.0 if src == "Regular budget" else 0.5), 5000)
            sm = float(rng.integers(6, 25)) if src == "Regular budget" else float(rng.integers(0, 7))
            annual = {}
            for y in range(fy, ly + 1):
                annual[y] = _round_to(base * rng.uniform(0.9, 1.15), 5000)
                budget.append({"result_id": oid, "funding_source": src, "year": y, "amount": annual[y], "staff_months": sm})
            for p in range(first, qidx + 1):
                amount = _round_to(annual[p // 4] / 4 * rate * rng.uniform(0.8, 1.2), 100)
                spend.append({"result_id": oid, "period": period_from_index(p), "funding_source": src,
                              "amount": amount, "staff_months": round(sm / 4 * min(rate, 1.2) * rng.uniform(0.8, 1.2), 1)})
    return budget, spend


def _activities(code: str, utype: str, plan: _Plan, out_ids: list[str], regions: list[str], position: int,
                first: int, qidx: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two activities per output, all four activity types in every unit; clusters' activities
    are placed in the regions they work in."""
    statuses = ["completed", "ongoing", "ongoing", "delayed", "completed", "planned", "ongoing", "completed"]
    if position % 4 == 1:
        statuses[-1] = "cancelled"
    types = schema.ACTIVITY_TYPES
    q_end = _quarter_end(qidx)
    rows = []
    n = 2 * len(out_ids)
    for k in range(n):
        j = k // 2
        o = plan.outputs[j]
        region = regions[(k + position) % len(regions)]
        where = f" ({REGION_NAMES.get(region, region)})" if utype == "cluster" else ""
        typ = types[k % len(types)]
        topic = o.title[0].lower() + o.title[1:] if o.title[1:2].islower() else o.title
        short = topic.replace(f" ({o.initiative})", "") if o.initiative else topic
        title = {"regional_initiative": f"{o.initiative or 'Regional initiative'}: regional forum on {short}{where}",
                 "operational_plan": f"Operational plan: workshop on {topic}{where}",
                 "project": f"Project: country assistance on {topic}{where}",
                 "other": f"Knowledge exchange with partners on {topic}{where}"}[typ]
        status = statuses[k % len(statuses)]
        clamp = lambda p: max(first, p)  # noqa: E731
        pct = None
        a_start = a_end = None
        if status == "completed":
            ps = clamp(qidx - int(rng.integers(3, 9)))
            pe = min(qidx, ps + int(rng.integers(0, 3)))
            a_start = _quarter_start(ps) + dt.timedelta(days=int(rng.integers(0, 20)))
            a_end = min(_quarter_end(pe) + dt.timedelta(days=int(rng.integers(-10, 25))), q_end)
            a_end = max(a_end, a_start)
            pct = 100.0
        elif status == "ongoing":
            ps = clamp(qidx - int(rng.integers(1, 5)))
            pe = qidx + int(rng.integers(1, 5))
            a_start = _quarter_start(ps) + dt.timedelta(days=int(rng.integers(0, 20)))
            pct = float(int(np.clip(100 * (qidx + 1 - ps) / (pe + 1 - ps) + rng.normal(0, 8), 10, 90)))
        elif status == "delayed":
            ps = clamp(qidx - int(rng.integers(4, 7)))
            pe = max(ps, qidx - int(rng.integers(1, 3)))
            a_start = _quarter_start(ps) + dt.timedelta(days=int(rng.integers(15, 45)))
            pct = float(int(rng.integers(40, 81)))
        elif status == "planned":
            ps = qidx + int(rng.integers(1, 3))
            pe = ps + int(rng.integers(1, 4))
            pct = 0.0
        else:  # cancelled
            ps = clamp(qidx - int(rng.integers(2, 5)))
            pe = ps + 2
            pct = 0.0
        if a_start is not None:
            a_start = min(a_start, q_end)
        rows.append({"activity_id": f"{code}-ACT{k + 1:02d}", "result_id": out_ids[j], "title": title, "type": typ,
                     "region": region if region in schema.REGIONS else None, "status": status,
                     "planned_start": _quarter_start(ps).isoformat(), "planned_end": _quarter_end(pe).isoformat(),
                     "actual_start": a_start.isoformat() if a_start else None,
                     "actual_end": a_end.isoformat() if a_end else None, "percent_complete": pct})
    return rows


def _partners(activities: list[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
    live = [a for a in activities if a["status"] != "cancelled"]
    picks = rng.permutation(len(_PARTNERS))[:4]
    rows, seen = [], set()
    for i, pi in enumerate(picks):
        name, ptype = _PARTNERS[pi]
        act = live[int(rng.integers(len(live)))]
        kinds = ["cash", "in-kind"] if (ptype == "private" and i == 0) else (
            ["cash"] if ptype in _CASH_TYPES else ["in-kind"])
        for kind in kinds:
            key = (name, act["activity_id"], kind)
            if key in seen:
                continue
            seen.add(key)
            amount = _round_to(rng.uniform(20_000, 400_000) if kind == "cash" else rng.uniform(5_000, 80_000), 1000)
            rows.append({"partner": name, "partner_type": ptype, "activity_id": act["activity_id"],
                         "contribution_type": kind, "amount": amount})
    if not any(r["contribution_type"] == "in-kind" for r in rows):
        rows.append({"partner": "Regional university (illustrative)", "partner_type": "academia",
                     "activity_id": live[0]["activity_id"], "contribution_type": "in-kind", "amount": 15000.0})
    if not any(r["contribution_type"] == "cash" for r in rows):
        rows.append({"partner": "Donor government (illustrative)", "partner_type": "government",
                     "activity_id": live[-1]["activity_id"], "contribution_type": "cash", "amount": 150000.0})
    return rows


def build_sample(out_dir: str | Path, config: Config, *, seed: int = 2026, quarter: str | None = None) -> list[Path]:
    """Write ``<UNIT>.xlsx`` for every unit of ``config`` into ``out_dir`` (created if needed)
    and return the paths in config order. Each file is written atomically by the template
    writer, with the illustrative notice on its Guide sheet.

    >>> from rbm_utils.core.config import load_config
    >>> build_sample("/tmp/sample", load_config())   # doctest: +SKIP
    [PosixPath('/tmp/sample/AFR.xlsx'), ...]
    """
    from rbm_utils.intake.template import write_workbook

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for code in config.units:
        if not schema.UNIT_CODE_RE.match(code):  # config checks this too; never build a path from anything else
            raise ValueError(f"unit code {code!r} is not a valid unit code")
        unit, frames = sample_unit(config, code, seed=seed, quarter=quarter)
        paths.append(write_workbook(out / f"{code}.xlsx", unit, frames, notice=NOTICE))
    log.info("wrote %d sample workbooks to %s", len(paths), out)
    return paths
