"""What the sample bureau is made of: public reference figures, the units' plans, and the
invented partners, risks and comments the generator draws from.

Only the impact figures are public (ITU Facts and Figures, edition kept with every value);
initiative codes and titles are real, and the programmes are the Kigali Action Plan's
priorities, read from the package's copy of the public reference notes
(``reference/itu_reference.yaml``); everything else is illustrative.

Example:
    >>> PLANS["AFR"].outputs[0].initiative, REGION_NAMES["ASP"]
    ('AFR2', 'Asia-Pacific')
    >>> THEME_PROGRAMME["broadband"], PROGRAMMES["connectivity"]
    ('connectivity', 'Affordable connectivity')
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from rbm_utils.core.quarters import Quarter

#: Shown in red on the Guide sheet of every sample workbook.
NOTICE = (
    "ILLUSTRATIVE SAMPLE - invented data modelled on the ITU-D/BDT structure. Only impact KPIs "
    "carry public ITU figures (edition in data_source; quarters between public points are "
    "interpolated). Budgets, activities, risks, partners, people and all other figures are invented."
)

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
#: Full title of each edition of ITU Facts and Figures.
EDITION_TITLE = {
    "FF2019": "ITU Facts and Figures 2019",
    "FF2023": "ITU Facts and Figures 2023",
    "FF2024": "ITU Facts and Figures 2024",
    "FF2025": "ITU Facts and Figures 2025",
}

#: Plain names of the regions (and of the world).
REGION_NAMES = {
    "AFR": "Africa",
    "AMS": "Americas",
    "ARB": "Arab States",
    "ASP": "Asia-Pacific",
    "CIS": "Commonwealth of Independent States",
    "EUR": "Europe",
    "World": "World",
}

#: The public reference notes the sample's structure comes from (a copy kept in the package).
REFERENCE = Path(__file__).resolve().parent / "reference" / "itu_reference.yaml"

#: Short code of each Kigali Action Plan (WTDC-22) priority, in the reference's order.
PROGRAMME_CODES = ("connectivity", "transformation", "enabling_env", "cooperation", "inclusive_secure")


def _programmes() -> dict[str, str]:
    """Programme code -> name: the Kigali Action Plan priorities of :data:`REFERENCE`."""
    names = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))["kigali_action_plan_2022_priorities"]
    if len(names) != len(PROGRAMME_CODES):
        raise ValueError(
            f"{REFERENCE.name} lists {len(names)} Kigali priorities, the sample codes {len(PROGRAMME_CODES)}"
        )
    return dict(zip(PROGRAMME_CODES, names, strict=True))


#: The sample's programmes (parameters/workbench.yaml ``action_plan.programmes``): code -> name.
PROGRAMMES = _programmes()

#: Code of the Kigali Action Plan priority each theme is filed under (``action_plan.themes``).
THEME_PROGRAMME = {
    "broadband": "connectivity",
    "spectrum": "connectivity",
    "cybersecurity": "inclusive_secure",
    "accessibility": "inclusive_secure",
    "gender": "inclusive_secure",
    "youth": "inclusive_secure",
    "emergency": "inclusive_secure",
    "environment": "inclusive_secure",
    "digital_services": "transformation",
    "innovation": "transformation",
    "capacity": "transformation",
    "policy_regulation": "enabling_env",
    "statistics": "enabling_env",
}

#: Links of each theme to study-group questions, ITU-T/ITU-R study groups and other bodies.
THEME_LINKS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "broadband": (
        ("ITU-D SG1", "Q1/1", "contributes"),
        ("ITU-D SG1", "Q5/1", "draws_on"),
        ("ITU-T", "SG15", "draws_on"),
    ),
    "spectrum": (("ITU-D SG1", "Q2/1", "contributes"), ("ITU-R", "SG1", "draws_on"), ("ITU-R", "SG6", "informs")),
    "cybersecurity": (("ITU-T", "SG17", "draws_on"), ("ITU-D SG1", "Q6/1", "informs")),
    "accessibility": (("ITU-D SG1", "Q7/1", "joint"), ("ITU-T", "SG16", "draws_on")),
    "gender": (("other", "EQUALS Global Partnership", "joint"),),
    "youth": (("other", "Generation Connect", "joint"),),
    "emergency": (
        ("ITU-R", "SG5", "draws_on"),
        ("ITU-D SG2", "Q6/2", "informs"),
        ("other", "Emergency Telecommunications Cluster", "joint"),
    ),
    "environment": (("ITU-D SG2", "Q6/2", "contributes"), ("ITU-T", "SG5", "draws_on")),
    "statistics": (
        ("other", "Expert Group on Telecommunication/ICT Indicators (EGTI)", "contributes"),
        ("ITU-D SG1", "Q1/1", "informs"),
    ),
    "innovation": (("ITU-T", "SG13", "informs"), ("other", "WSIS Action Lines", "contributes")),
    "digital_services": (("ITU-T", "SG16", "draws_on"), ("ITU-D SG1", "Q6/1", "informs")),
    "policy_regulation": (("ITU-D SG1", "Q6/1", "contributes"), ("ITU-T", "SG3", "draws_on")),
    "capacity": (("other", "ITU Academy", "draws_on"), ("ITU-D SG1", "Q5/1", "informs")),
}


@dataclass(frozen=True)
class Output:
    """One output of a unit's plan: its initiative (None for clusters), theme, title and KPI."""

    initiative: str | None
    theme: str
    title: str
    kpi_name: str
    target: int


@dataclass(frozen=True)
class Plan:
    """A unit's plan: what it works on, the instrument countries adopt, its outputs."""

    focus: str
    instrument: str
    outputs: tuple[Output, ...]
    regions: tuple[str, ...] = ()  # clusters: regions where the cluster works


def _o(initiative: str | None, theme: str, title: str, kpi_name: str, target: int) -> Output:
    return Output(initiative, theme, title, kpi_name, target)


#: The sample units. Initiative codes and titles are real (WTDC-17 Buenos Aires Action Plan
#: unless the title says otherwise; ASP/ARB/CIS/EUR codes from the 2015-2017 cycle).
PLANS: dict[str, Plan] = {
    "AFR": Plan(
        "broadband, cybersecurity and spectrum management",
        "a national broadband, cybersecurity or spectrum instrument",
        (
            _o(
                "AFR2",
                "broadband",
                "Promotion of emerging broadband technologies (AFR2)",
                "National broadband plans or pilots delivered",
                16,
            ),
            _o(
                "AFR3",
                "cybersecurity",
                "Building trust and security in the use of telecommunications/ICT (AFR3)",
                "CIRT readiness assessments completed",
                20,
            ),
            _o(
                "AFR4",
                "capacity",
                "Strengthening human and institutional capacity building (AFR4)",
                "ITU Academy courses delivered",
                48,
            ),
            _o(
                "AFR5",
                "spectrum",
                "Radio-frequency spectrum management and transition to digital broadcasting (AFR5)",
                "Countries assisted on spectrum management or digital broadcasting",
                16,
            ),
        ),
    ),
    "AMS": Plan(
        "disaster communications and resilient connectivity",
        "a national emergency telecommunication plan or connectivity strategy",
        (
            _o(
                "AMS1",
                "emergency",
                "Disaster risk reduction and management communications (AMS1)",
                "National emergency telecommunication plans drafted",
                12,
            ),
            _o(
                "AMS1 (2026-2029)",
                "broadband",
                "Resilient infrastructure for universal and meaningful connectivity (AMS1, Baku Action Plan)",
                "Infrastructure resilience assessments delivered",
                12,
            ),
            _o(
                None,
                "accessibility",
                "ICT accessibility policies and services",
                "ICT accessibility assessments delivered",
                12,
            ),
        ),
    ),
    "ARB": Plan(
        "broadband, cybersecurity and accessibility",
        "a broadband, cybersecurity or accessibility policy",
        (
            _o(
                "ARB1",
                "broadband",
                "Development of broadband access and adoption of broadband (ARB1)",
                "Broadband strategy reviews delivered",
                12,
            ),
            _o(
                "ARB2",
                "cybersecurity",
                "Building confidence and security in the use of telecommunications/ICTs (ARB2)",
                "Cyber drills and CIRT assessments delivered",
                16,
            ),
            _o(
                "ARB5",
                "accessibility",
                "Access to telecommunications/ICTs for persons with disabilities (ARB5)",
                "ICT accessibility assessments delivered",
                12,
            ),
        ),
    ),
    "ASP": Plan(
        "emergency telecommunications, broadband and regulation",
        "a broadband plan, regulatory reform or emergency telecommunication plan",
        (
            _o(
                "ASP2",
                "emergency",
                "Emergency telecommunications (ASP2)",
                "National emergency telecommunication plans drafted",
                12,
            ),
            _o(
                "ASP4",
                "broadband",
                "Development of broadband access and adoption of broadband (ASP4)",
                "Broadband master plans delivered",
                12,
            ),
            _o("ASP5", "policy_regulation", "Policy and regulation (ASP5)", "Regulatory reviews delivered", 16),
        ),
    ),
    "CIS": Plan(
        "accessibility, broadband and cybersecurity",
        "an accessibility, broadband or cybersecurity instrument",
        (
            _o(
                "CIS2",
                "accessibility",
                "Access to telecommunication/ICT services for persons with disabilities (CIS2)",
                "ICT accessibility assessments delivered",
                10,
            ),
            _o(
                "CIS4",
                "broadband",
                "Development of broadband access and adoption of broadband (CIS4)",
                "Broadband development studies delivered",
                10,
            ),
            _o(
                "CIS5",
                "cybersecurity",
                "Building confidence and security in the use of ICTs (CIS5)",
                "Cyber drills and CIRT assessments delivered",
                12,
            ),
        ),
    ),
    "EUR": Plan(
        "spectrum, broadband and innovation",
        "a spectrum, broadband or innovation policy",
        (
            _o(
                "EUR1",
                "spectrum",
                "Spectrum management and transition to digital broadcasting (EUR1)",
                "Spectrum management reviews delivered",
                12,
            ),
            _o(
                "EUR2",
                "broadband",
                "Development of broadband access and adoption of broadband (EUR2)",
                "Broadband mapping or plan reviews delivered",
                12,
            ),
            _o(
                "EUR5",
                "innovation",
                "Entrepreneurship, innovation and youth (EUR5)",
                "Innovation ecosystem assessments delivered",
                10,
            ),
        ),
    ),
    "NDI": Plan(
        "broadband planning and spectrum management",
        "a national broadband plan or spectrum roadmap",
        (
            _o(
                None,
                "broadband",
                "Broadband plans and infrastructure mapping",
                "Countries supported with infrastructure maps or broadband plans",
                24,
            ),
            _o(None, "spectrum", "Spectrum management assistance", "Spectrum management assessments delivered", 16),
            _o(
                None,
                "broadband",
                "Connectivity models for rural and remote areas",
                "Rural connectivity business models documented",
                12,
            ),
        ),
        ("AFR", "ASP", "AMS", "ARB"),
    ),
    "CYB": Plan(
        "incident response and cybersecurity strategy",
        "a national cybersecurity strategy",
        (
            _o(
                None,
                "cybersecurity",
                "National CIRT establishment and enhancement",
                "CIRT assessments or establishments supported",
                20,
            ),
            _o(None, "cybersecurity", "Regional cyber drills", "Regional cyber drills held", 16),
            _o(
                None,
                "cybersecurity",
                "Child online protection frameworks",
                "Countries assisted on child online protection",
                16,
            ),
        ),
        ("AFR", "ARB", "CIS", "EUR"),
    ),
    "DIN": Plan(
        "digital inclusion of women, youth and persons with disabilities",
        "a digital inclusion or accessibility policy",
        (
            _o(
                None,
                "accessibility",
                "ICT accessibility policies",
                "ICT accessibility policy assessments delivered",
                16,
            ),
            _o(
                None,
                "gender",
                "Digital skills for women and girls",
                "Digital skills programmes for women and girls run",
                24,
            ),
            _o(None, "youth", "Youth digital skills and engagement", "Youth digital skills bootcamps run", 20),
        ),
        ("ARB", "ASP", "AMS", "AFR"),
    ),
    "DSA": Plan(
        "digital transformation and innovation",
        "a digital transformation strategy",
        (
            _o(None, "digital_services", "Digital government and e-services", "Digital service pilots supported", 12),
            _o(
                None,
                "innovation",
                "Innovation ecosystems and entrepreneurship",
                "Innovation ecosystem assessments delivered",
                12,
            ),
            _o(None, "digital_services", "Digital transformation toolkits", "Toolkits and guidelines published", 10),
        ),
        ("AFR", "ASP", "EUR"),
    ),
    "ENV": Plan(
        "e-waste management and green digital transformation",
        "an e-waste or green ICT policy",
        (
            _o(None, "environment", "E-waste policy and regulation", "Countries assisted on e-waste policy", 12),
            _o(
                None,
                "environment",
                "Green and climate-resilient ICT",
                "Climate-resilient ICT assessments delivered",
                10,
            ),
            _o(None, "environment", "Environmental data and monitoring", "E-waste statistics reports published", 10),
        ),
        ("ASP", "AMS", "AFR"),
    ),
    "EMT": Plan(
        "emergency telecommunication preparedness",
        "a national emergency telecommunication plan",
        (
            _o(
                None,
                "emergency",
                "National emergency telecommunication plans",
                "National emergency telecommunication plans drafted",
                16,
            ),
            _o(
                None,
                "emergency",
                "Early warning and disaster connectivity",
                "Emergency equipment deployments supported",
                12,
            ),
            _o(None, "emergency", "Simulation exercises and preparedness", "Simulation exercises held", 16),
        ),
        ("AMS", "ASP", "AFR", "ARB"),
    ),
    "STA": Plan(
        "collecting and using ICT statistics",
        "an official ICT data collection programme",
        (
            _o(None, "statistics", "ICT household surveys", "Countries supported with ICT household surveys", 20),
            _o(
                None,
                "statistics",
                "Statistical capacity on ICT indicators",
                "Training courses on ICT indicators delivered",
                16,
            ),
            _o(None, "statistics", "ICT data publications", "Statistical reports published", 12),
        ),
        ("AFR", "ARB", "CIS", "ASP"),
    ),
}

#: Invented partners and their type.
PARTNERS = (
    ("Ministry of ICT of a host country (illustrative)", "government"),
    ("National regulatory authority (illustrative)", "regulator"),
    ("Mobile network operator (illustrative)", "private"),
    ("Regional university (illustrative)", "academia"),
    ("UN agency partner (illustrative)", "un_agency"),
    ("Regional development bank (illustrative)", "development_bank"),
    ("Civil-society network (illustrative)", "ngo"),
    ("Donor government (illustrative)", "government"),
)
#: Partner types that contribute cash.
CASH_TYPES = {"private", "development_bank", "government"}

#: Risk templates: (category, title, cause, mitigation); ``{topic}`` is an output's theme.
RISKS = (
    (
        "Financial",
        "Extra-budgetary funding for {topic} falls short",
        "Donor priorities shift; pledges arrive late",
        "Diversify donors; phase activities to secured funds",
    ),
    (
        "Political",
        "Elections or unrest delay government requests",
        "Changes of government and security situations",
        "Keep contacts at technical level; re-plan missions",
    ),
    (
        "Organizational",
        "Key posts vacant in the unit",
        "Recruitment delays and staff turnover",
        "Temporary assignments; cross-training of staff",
    ),
    (
        "Operational",
        "Procurement delays postpone equipment and pilots",
        "Long procurement cycles at partners",
        "Plan procurement early; use framework agreements",
    ),
    (
        "Regulatory",
        "Regulatory changes stall {topic} reforms",
        "New laws or restructuring of regulators",
        "Engage regulators early; regional peer exchange",
    ),
    (
        "Safety and Security",
        "Cyber incident disrupts online training platforms",
        "Attacks on platforms and mailboxes",
        "Harden platforms; keep a backup delivery channel",
    ),
    (
        "Social and Environmental",
        "Women under-represented among participants",
        "Nomination practices of administrations",
        "Nomination targets; targeted outreach",
    ),
    (
        "Strategic",
        "Overlap with other agencies' programmes dilutes results",
        "Uncoordinated programmes in the same countries",
        "Joint planning with UN country teams",
    ),
)

#: Statements of the five assumptions of every unit, by test (``thr``: the threshold; ``name``: the KPI's).
STATEMENTS = {
    "min_ratio": "Each workshop or training session reaches at least {thr:g} participants, so delivery turns into reach.",
    "min_value": "At least {thr:g} % of assessed participants pass, enough for institutions to act on what they learnt.",
    "non_decreasing": "The share of former participants applying their skills keeps rising, so adoption reaches users.",
    "min_achievement": "'{name}' has covered at least {thr:.0%} of the way to its target by now; otherwise the next level cannot follow.",
    "manual": "Governments keep digital policy a priority through elections and budget cycles.",
}
#: Evidence of the manual assumption by its verdict (``q``: the quarter).
MANUAL_EVIDENCE = {
    "holds": "Minutes of the regional consultation with member states, {q} (illustrative)",
    "weakening": "Two governments postponed the policy debate; letters on file, {q} (illustrative)",
    "broken": "Budget laws cut the counterpart funds in three countries; gazette notices, {q} (illustrative)",
}
#: The officer's note on a tested assumption at the reporting quarter, by its verdict.
VERDICT_NOTES = {
    "broken": "Broken at the reporting quarter: re-plan the link.",
    "weakening": "Close to the threshold: watch next quarter.",
    "holds": None,
}
#: The officer's note on the manual assumption when it does not hold.
MANUAL_NOTE = "Raised with the unit's management."

#: What an officer learnt when revising a threshold, by (test, lowered or raised); ``review`` is the
#: review that found it, ``old`` and ``thr`` the thresholds before and after.
LESSONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("min_ratio", "lowered"): (
        "Learnt at the {review} review: sessions held online reach fewer people than workshops in the room; "
        "threshold lowered from {old:g} to {thr:g} participants per session.",
        "Learnt at the {review} review: smaller national sessions replaced the large regional ones, by design; "
        "threshold lowered from {old:g} to {thr:g} participants per session.",
        "Learnt at the {review} review: attendance lists never reached the planned group size, even where the "
        "training went well; threshold lowered from {old:g} to {thr:g} participants per session.",
    ),
    ("min_ratio", "raised"): (
        "Learnt at the {review} review: regional events now gather larger groups than assumed; threshold raised "
        "from {old:g} to {thr:g} participants per session.",
        "Learnt at the {review} review: hybrid sessions draw more people than planned, so the old bar could not "
        "tell a weak session; threshold raised from {old:g} to {thr:g} participants per session.",
    ),
    ("min_value", "lowered"): (
        "Learnt: the new post-training assessment is harder than the old one, and institutions act on what was "
        "learnt with fewer passes than thought; threshold lowered from {old:g} % to {thr:g} %.",
        "Learnt: the follow-up survey shows institutions acting on the training where only two in three "
        "participants passed; threshold lowered from {old:g} % to {thr:g} %.",
        "Learnt: pass rates differ by the language of the course more than by what is learnt; threshold lowered "
        "from {old:g} % to {thr:g} % until the assessments are aligned.",
    ),
    ("min_value", "raised"): (
        "Learnt: institutions act on what was learnt only when most participants pass; threshold raised from "
        "{old:g} % to {thr:g} %.",
        "Learnt: where fewer than four in five participants passed, no institution changed its practice; "
        "threshold raised from {old:g} % to {thr:g} %.",
    ),
}

#: Comments on the latest report of an off-track KPI.
COMMENTS_SLOW = (
    "Country requests slower than planned",
    "Missions postponed pending government clearance",
    "Partner funding arrived late",
    "Staff vacancy slowed delivery",
)


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (unlike ``hash()``).

    >>> stable_hash("AFR") == stable_hash("AFR")
    True
    """
    return zlib.crc32(text.encode("utf-8"))


def public_quarter(year: int) -> str:
    """The quarter a public annual figure is recorded at: Q4 of its year (ITU Facts and
    Figures is published in the last quarter).

    >>> public_quarter(2023)
    '2023-Q4'
    """
    return str(Quarter(int(year), 4))


def generic_plan(unit_code: str, themes: Sequence[str], utype: str, regions: Sequence[str]) -> Plan:
    """A plan for a unit the catalogue does not know: three outputs on its themes; a cluster
    works in three regions picked by a stable hash of its code.

    >>> p = generic_plan("CAP", ["capacity"], "cluster", ("AFR", "AMS", "ARB", "ASP"))
    >>> len(p.outputs), len(p.regions)
    (3, 3)
    """
    themes = list(themes) or ["capacity"]
    outs = tuple(
        _o(
            None,
            themes[j % len(themes)],
            f"{themes[j % len(themes)].replace('_', ' ').capitalize()} work programme {j + 1}",
            f"{themes[j % len(themes)].replace('_', ' ').capitalize()} deliverables completed ({j + 1})",
            12,
        )
        for j in range(3)
    )
    regs = () if utype == "region" else tuple(regions[(stable_hash(unit_code) + i) % len(regions)] for i in range(3))
    return Plan("the unit's thematic work", "a policy instrument", outs, regs)
