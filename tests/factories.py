"""Small valid units made in code, and a raw workbook writer for bad-input fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import SHEETS, conform, sheet


def minimal_unit(
    unit_code: str = "AFR", quarter: str = "2026-Q3", with_decisions: bool = False
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """A tiny but complete valid unit: one result per level, four KPIs, every sheet filled but
    Decisions (optional sheet); ``with_decisions`` adds the review decisions of :func:`minimal_decisions`."""
    p = unit_code
    unit = {
        "unit_code": unit_code,
        "unit_name": "Regional Office for Africa" if unit_code == "AFR" else unit_code,
        "unit_type": "region" if unit_code in ("AFR", "AMS", "ARB", "ASP", "CIS", "EUR") else "cluster",
        "reporting_quarter": quarter,
        "submitted_by": "Test Officer",
        "based_on_submission": None,  # rbm template --from-store writes the store's latest submission
    }
    results = pd.DataFrame(
        [
            {
                "result_id": f"{p}-A1",
                "level": "activity",
                "title": "Workshops held",
                "contributes_to": f"{p}-O1",
                "programme": "inclusive_secure",
                "initiative": "AFR3",
                "theme": "cybersecurity",
            },
            {
                "result_id": f"{p}-O1",
                "level": "output",
                "title": "CIRT staff trained",
                "contributes_to": f"{p}-R1",
                "programme": "inclusive_secure",
                "initiative": "AFR3",
                "theme": "cybersecurity",
            },
            {
                "result_id": f"{p}-R1",
                "level": "reach",
                "title": "Countries reached",
                "contributes_to": f"{p}-C1",
                "programme": "inclusive_secure",
            },
            {
                "result_id": f"{p}-C1",
                "level": "capacity",
                "title": "CIRTs able to respond",
                "contributes_to": f"{p}-B1",
                "programme": "inclusive_secure",
            },
            {
                "result_id": f"{p}-B1",
                "level": "behaviour",
                "title": "Incidents handled nationally",
                "contributes_to": f"{p}-I1",
                "programme": "inclusive_secure",
            },
            {"result_id": f"{p}-I1", "level": "impact", "title": "Trust in ICT use", "programme": "inclusive_secure"},
        ]
    )
    kpis = pd.DataFrame(
        [
            {
                "kpi_id": f"{p}-K1",
                "result_id": f"{p}-O1",
                "name": "People trained",
                "measure": "number",
                "direction": "increase",
                "aggregation": "sum",
                "baseline_value": 0,
                "baseline_period": "2025-Q4",
                "target_value": 400,
                "target_period": "2026-Q4",
                "data_source": "Illustrative: attendance lists",
                "frequency": "quarterly",
                "responsible": "Programme officer",
            },
            {
                "kpi_id": f"{p}-K2",
                "result_id": f"{p}-A1",
                "name": "Workshops held",
                "measure": "number",
                "direction": "increase",
                "aggregation": "sum",
                "baseline_value": 0,
                "baseline_period": "2025-Q4",
                "target_value": 8,
                "target_period": "2026-Q4",
                "data_source": "Illustrative: mission reports",
                "responsible": "Programme officer",
            },
            {
                "kpi_id": f"{p}-K3",
                "result_id": f"{p}-C1",
                "name": "Share of trainees passing",
                "measure": "percent",
                "direction": "increase",
                "aggregation": "mean",
                "baseline_value": 50,
                "baseline_period": "2025-Q4",
                "target_value": 80,
                "target_period": "2026-Q4",
                "data_source": "Illustrative: test results",
                "responsible": "Training lead",
            },
            {
                "kpi_id": f"{p}-K4",
                "result_id": f"{p}-I1",
                "name": "Internet use",
                "measure": "percent",
                "direction": "increase",
                "aggregation": "latest",
                "baseline_value": 37.1,
                "baseline_period": "2025-Q4",
                "target_value": 45,
                "target_period": "2026-Q4",
                "data_source": "ITU Facts and Figures",
                "responsible": "Statistics unit",
            },
        ]
    )
    milestones = pd.DataFrame([{"kpi_id": f"{p}-K1", "period": "2026-Q2", "target_value": 150}])
    actuals = pd.DataFrame(
        [
            {"kpi_id": f"{p}-K1", "period": "2026-Q1", "value": 80, "evidence": "doc-1"},
            {"kpi_id": f"{p}-K1", "period": "2026-Q2", "value": 90, "evidence": "doc-2"},
            {"kpi_id": f"{p}-K1", "period": "2026-Q3", "value": 100, "evidence": "doc-3"},
            {"kpi_id": f"{p}-K2", "period": "2026-Q3", "value": 3, "evidence": "doc-4"},
            {
                "kpi_id": f"{p}-K3",
                "period": "2026-Q3",
                "value": 60,
                "numerator": 30,
                "denominator": 50,
                "evidence": "doc-5",
            },
            {"kpi_id": f"{p}-K4", "period": "2026-Q3", "value": 40, "evidence": "FF2025"},
        ]
    )
    assumptions = pd.DataFrame(
        [
            {
                "assumption_id": f"{p}-AS1",
                "from_result": f"{p}-A1",
                "to_result": f"{p}-O1",
                "statement": "Each workshop trains 30 people",
                "test": "min_ratio",
                "kpi_id": f"{p}-K1",
                "reference_kpi_id": f"{p}-K2",
                "threshold": 30,
            },
            {
                "assumption_id": f"{p}-AS2",
                "from_result": f"{p}-B1",
                "to_result": f"{p}-I1",
                "statement": "Governments keep funding CIRTs",
                "test": "manual",
                "verdict": "holds",
                "evidence": "Budget laws 2026",
            },
        ]
    )
    risks = pd.DataFrame(
        [
            {
                "risk_id": f"{p}-RK1",
                "category": "Financial",
                "title": "Donor funding delayed",
                "result_id": f"{p}-O1",
                "likelihood": 4,
                "impact": 4,
                "owner": "Head of unit",
                "status": "open",
                "identified_on": "2026-01-15",
                "review_on": "2026-10-15",
            },
        ]
    )
    linkages = pd.DataFrame([{"result_id": f"{p}-O1", "body": "ITU-T", "reference": "SG17", "nature": "draws_on"}])
    budget = pd.DataFrame(
        [
            {
                "result_id": f"{p}-O1",
                "funding_source": "Regular budget",
                "year": 2026,
                "amount": 100000,
                "staff_months": 12,
            }
        ]
    )
    expenditure = pd.DataFrame(
        [
            {
                "result_id": f"{p}-O1",
                "period": "2026-Q1",
                "funding_source": "Regular budget",
                "amount": 20000,
                "staff_months": 3,
            },
            {
                "result_id": f"{p}-O1",
                "period": "2026-Q2",
                "funding_source": "Regular budget",
                "amount": 30000,
                "staff_months": 3,
            },
        ]
    )
    activities = pd.DataFrame(
        [
            {
                "activity_id": f"{p}-ACT1",
                "result_id": f"{p}-A1",
                "title": "CIRT workshop series",
                "type": "regional_initiative",
                "region": "AFR",
                "status": "ongoing",
                "planned_start": "2026-01-01",
                "planned_end": "2026-12-31",
                "actual_start": "2026-01-10",
                "percent_complete": 60,
            },
        ]
    )
    partners = pd.DataFrame(
        [
            {
                "partner": "Example Telecom",
                "partner_type": "private",
                "activity_id": f"{p}-ACT1",
                "contribution_type": "in-kind",
                "stage": "received",
                "amount": 15000,
                "expected_date": "2026-04-30",
                "actual_date": "2026-05-20",
                "owner": "Head of unit",
            }
        ]
    )
    frames = {
        "Results": results,
        "KPIs": kpis,
        "Milestones": milestones,
        "Actuals": actuals,
        "Assumptions": assumptions,
        "Risks": risks,
        "Linkages": linkages,
        "Budget": budget,
        "Expenditure": expenditure,
        "Activities": activities,
        "Partners": partners,
    }
    if with_decisions:
        frames["Decisions"] = minimal_decisions(unit_code, quarter)
    return unit, {name: conform(name, df) for name, df in frames.items()}


def minimal_decisions(unit_code: str = "AFR", quarter: str = "2026-Q3") -> pd.DataFrame:
    """Four valid review decisions on :func:`minimal_unit`'s items: one taken at ``quarter`` (open),
    one a quarter before (in progress), one two quarters before (done, with its note), one
    dropped; a KPI, a risk, an activity and a budget line."""
    p, q = unit_code, Quarter.parse(quarter)
    row = {"owner": "Head of office", "other_unit": None, "follow_up": None}
    return conform(
        "Decisions",
        pd.DataFrame(
            [
                {
                    **row,
                    "decision_id": f"{p}-D1",
                    "meeting_quarter": str(q),
                    "concerns": f"{p}-ACT1",
                    "concerns_kind": "activity",
                    "decision": "Scale the workshop series up to two more countries.",
                    "kind": "scale_up",
                    "due_quarter": str(q + 2),
                    "status": "open",
                },
                {
                    **row,
                    "decision_id": f"{p}-D2",
                    "meeting_quarter": str(q - 1),
                    "concerns": f"{p}-K1",
                    "concerns_kind": "kpi",
                    "decision": "Lower the training target to what the budget allows.",
                    "kind": "adjust_target",
                    "due_quarter": str(q + 1),
                    "status": "in_progress",
                },
                {
                    **row,
                    "decision_id": f"{p}-D3",
                    "meeting_quarter": str(q - 2),
                    "concerns": f"{p}-RK1",
                    "concerns_kind": "risk",
                    "decision": "Agree a back-up venue with the host country.",
                    "kind": "mitigate_risk",
                    "due_quarter": str(q - 1),
                    "status": "done",
                    "follow_up": "Back-up venue agreed; likelihood down.",
                },
                {
                    **row,
                    "decision_id": f"{p}-D4",
                    "meeting_quarter": str(q - 2),
                    "concerns": f"{p}-O1",
                    "concerns_kind": "budget",
                    "decision": "Move part of the training budget to the impact survey.",
                    "kind": "reallocate_budget",
                    "due_quarter": str(q - 1),
                    "status": "dropped",
                    "follow_up": "Survey funded by a partner instead.",
                },
            ]
        ),
    )


def sheet_rows(unit: dict[str, Any], frames: dict[str, pd.DataFrame]) -> dict[str, list[list[Any]]]:
    """Plain cell grids (header row first) for every contract sheet, ready to edit and write."""
    grids: dict[str, list[list[Any]]] = {}
    for sh in SHEETS:
        if sh.kind == "keyvalue":
            grids[sh.name] = [["field", "value"]] + [[c.name, unit.get(c.name)] for c in sh.columns]
            continue
        df = frames.get(sh.name)
        grid = [list(sh.column_names)]
        if df is not None:
            for rec in df.to_dict("records"):
                grid.append(
                    [
                        None
                        if (v is None or (isinstance(v, float) and v != v) or v is pd.NA)
                        else (int(v) if hasattr(v, "is_integer") and not isinstance(v, float) else v)
                        for v in rec.values()
                    ]
                )
        grids[sh.name] = grid
    return grids


def write_grid_xlsx(path: Path, grids: dict[str, list[list[Any]]]) -> Path:
    """Write cell grids as an .xlsx with openpyxl, text cells kept as text."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, grid in grids.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(grid, start=1):
            for c, v in enumerate(row, start=1):
                if v is None:
                    continue
                cell = ws.cell(row=r, column=c)
                cell.value = v
                if isinstance(v, str):
                    cell.data_type = "s"
    wb.save(path)
    return path


def col_index(sheet_name: str, column: str) -> int:
    """0-based index of a column in the contract order (for editing grids)."""
    return list(sheet(sheet_name).column_names).index(column)


#: The probe notebook of the batch tests: one cell does what its ``mode`` parameter says.
PROBE = Path(__file__).parent / "fixtures" / "notebooks" / "probe.ipynb"
PROBE_ACTION_CELL = "# probe action: raise, kill the kernel, loop forever or sleep"
PLOTLYJS_HEADER = "* plotly.js v"


def tree_state(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path, leaving out any path with a part in ``skip``."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not (set(p.relative_to(folder).parts) & set(skip))
    }


#: The password of every user the tests register (long enough for the registry).
TEST_PASSWORD = "correct horse battery"


def register(url: str, name: str, role: str, units: tuple[str, ...] = (), login: str | None = None):
    """Register ``name`` in the store at ``url`` with the command-line login ``login`` (default: the name)."""
    from rbm_utils.store.database import Store
    from rbm_utils.store.users import add_user

    with Store(url) as st:
        return add_user(st, name, role, units, TEST_PASSWORD, login or name)


def register_approvers(url: str) -> None:
    """The sample settings' approvers of AFR and NDI and the bureau approver, as registered users
    (logins ``amara``, ``ravi``, ``nadia``), and an officer of AFR (login ``ann``)."""
    register(url, "nadia.rahman", "leadership", (), "nadia")
    register(url, "amara.diallo", "regional_director", ("AFR",), "amara")
    register(url, "ravi.menon", "cluster_facilitator", ("NDI",), "ravi")
    register(url, "ann", "officer", ("AFR",), "ann")


def sign_in_as(monkeypatch, login: str) -> None:
    """The operating-system login the commands see (``getpass.getuser``)."""
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: login)


def three_unit_config(authority: Any = None, cyb_heads: tuple[str, ...] = ("Sofia Marin",)) -> Any:
    """AFR (a region), CYB and EMT (clusters) on an in-memory store, 2026-Q3 current: the
    settings the store's tests share (``authority``: a :class:`rbm_utils.core.config.Authority`)."""
    from rbm_utils.core.config import Config, Unit

    extra = {"authority": authority} if authority is not None else {}
    return Config(
        units={
            "AFR": Unit("AFR", "Regional Office for Africa", "region", ("Amara Diallo",), "Regional Director"),
            "CYB": Unit("CYB", "Cybersecurity", "cluster", cyb_heads, "Cluster Facilitator"),
            "EMT": Unit("EMT", "Emergency telecommunications", "cluster", (), ""),
        },
        thresholds={},
        ingest={},
        first_quarter="2023-Q1",
        current_quarter="2026-Q3",
        currency="CHF",
        store_url="sqlite://",
        **extra,
    )
