"""The status codes every stage shares, as ``Literal`` types with their order and words.

Analytics computes these codes, charts colour them, notebooks and dashboards print their words:
all of them take the codes from here, so a new status is added in one place.

Example:
    >>> KPI_STATUSES[0], KPI_STATUS_LABELS["off_track"]
    ('off_track', 'Off track')
    >>> RISK_RATINGS
    ('low', 'medium', 'high', 'critical')
"""

from __future__ import annotations

from typing import Literal, get_args

#: KPI status, worst first; ``not_started`` comes last: it is no verdict at all.
KpiStatus = Literal["off_track", "no_data", "at_risk", "on_track", "target_met", "not_started"]
KPI_STATUSES: tuple[KpiStatus, ...] = get_args(KpiStatus)
#: Plain words for each KPI status, for legends and tables.
KPI_STATUS_LABELS: dict[str, str] = {
    "off_track": "Off track",
    "no_data": "No data",
    "at_risk": "At risk",
    "on_track": "On track",
    "target_met": "Target met",
    "not_started": "Not started",
}
#: Each KPI status in words, for sentences (review agenda, results statement).
KPI_STATUS_WORDS: dict[str, str] = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "target_met": "target met",
    "no_data": "no recent data",
    "not_started": "not started (no progress expected yet)",
}

#: Verdict of an assumption test in a quarter.
Verdict = Literal["holds", "weakening", "broken", "untested"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

#: Risk rating by score (likelihood x impact).
RiskRating = Literal["low", "medium", "high", "critical"]
RISK_RATINGS: tuple[RiskRating, ...] = get_args(RiskRating)

#: Spending flag of an output in the year.
MoneyFlag = Literal["unbudgeted", "no budget", "overspending", "underspending", "on pace"]
MONEY_FLAGS: tuple[MoneyFlag, ...] = get_args(MoneyFlag)

#: Direction of a change since the previous quarter.
ChangeDirection = Literal["better", "worse", "same", "new"]
CHANGE_DIRECTIONS: tuple[ChangeDirection, ...] = get_args(ChangeDirection)

#: Kind of an item on the review agenda, in the order they are listed within one priority.
AgendaKind = Literal[
    "risk_red_flag", "kpi_off_track", "assumption_broken", "stalled_link", "spending_gap", "kpi_no_data"
]
AGENDA_KINDS: tuple[AgendaKind, ...] = get_args(AgendaKind)

#: Outcome of one notebook job of the quarterly batch.
JobStatus = Literal["ok", "failed", "dead_kernel", "timeout", "skipped_unchanged", "locked"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)

#: What a review decision concerns (the kind of id in its ``concerns`` column).
DecisionTarget = Literal["kpi", "result", "risk", "assumption", "budget", "activity", "initiative"]
DECISION_TARGETS: tuple[DecisionTarget, ...] = get_args(DecisionTarget)

#: What a review decision does.
DecisionKind = Literal[
    "adjust_target",
    "reallocate_budget",
    "revise_assumption",
    "mitigate_risk",
    "close_risk",
    "add_activity",
    "drop_activity",
    "replace_activity",
    "escalate",
    "scale_up",
    "no_change",
]
DECISION_KINDS: tuple[DecisionKind, ...] = get_args(DecisionKind)

#: Where a review decision stands; ``done`` and ``dropped`` close it.
DecisionStatus = Literal["open", "in_progress", "done", "dropped"]
DECISION_STATUSES: tuple[DecisionStatus, ...] = get_args(DecisionStatus)
#: The statuses of a decision still to be carried out (carried into the next quarter's template).
DECISION_OPEN_STATUSES: tuple[DecisionStatus, ...] = ("open", "in_progress")

#: Approval state of a unit-quarter: not approved, approved, or approved by the unit but waiting for the bureau.
ApprovalState = Literal["draft", "approved", "pending"]
APPROVAL_STATES: tuple[ApprovalState, ...] = get_args(ApprovalState)

#: Who may approve a framework change: the unit's own approver, or only the bureau.
AuthorityLevel = Literal["unit", "bureau"]
AUTHORITY_LEVELS: tuple[AuthorityLevel, ...] = get_args(AuthorityLevel)

# ---- Code lists of the workbook contract (rbm_utils.core.schema re-exports them).

LEVELS = ("activity", "output", "reach", "capacity", "behaviour", "impact")
MEASURES = ("number", "percent", "currency", "ratio")
DIRECTIONS = ("increase", "decrease")
AGGREGATIONS = ("sum", "latest", "max", "mean")
FREQUENCIES = ("quarterly", "semi-annual", "annual")
UNIT_TYPES = ("region", "cluster")
ASSUMPTION_TESTS = ("min_ratio", "min_value", "min_achievement", "non_decreasing", "manual")
VERDICTS = ("holds", "weakening", "broken", "untested")
RISK_CATEGORIES = (
    "Strategic",
    "Financial",
    "Operational",
    "Organizational",
    "Political",
    "Regulatory",
    "Safety and Security",
    "Social and Environmental",
)
RISK_STATUSES = ("open", "monitoring", "closed")
LINKAGE_BODIES = ("ITU-D SG1", "ITU-D SG2", "ITU-T", "ITU-R", "other")
LINKAGE_NATURES = ("contributes", "draws_on", "joint", "informs")
ACTIVITY_TYPES = ("operational_plan", "project", "regional_initiative", "other")
ACTIVITY_STATUSES = ("planned", "ongoing", "completed", "delayed", "cancelled")
CONTRIBUTION_TYPES = ("cash", "in-kind")
PARTNER_TYPES = ("government", "regulator", "private", "academia", "un_agency", "ngo", "development_bank", "other")
#: Stages of a partner's contribution in the resource mobilisation register, in the order a deal moves.
PARTNER_STAGES = ("prospect", "proposal_submitted", "pledged", "agreement_signed", "received", "declined")
#: What a KPI measured from the register counts: the amounts received, or secured (signed or received).
KPI_REGISTER_MEASURES = ("register_received", "register_secured")
#: The stage a register row with a blank stage (an older workbook) is read as; the store keeps the blank.
PARTNER_STAGE_IF_BLANK = "received"
#: The stages whose amounts each register measure counts (docs/rules.md, "Resource mobilisation register").
REGISTER_MEASURE_STAGES: dict[str, tuple[str, ...]] = {
    "register_received": ("received",),
    "register_secured": ("agreement_signed", "received"),
}
#: Stages that need the date they were reached (``actual_date``).
PARTNER_DATED_STAGES = ("agreement_signed", "received")
REGIONS = ("AFR", "AMS", "ARB", "ASP", "CIS", "EUR")


#: Columns of a framework change (``store.authority.classify_changes``; the store adds unit_code,
#: quarter and status around them).
CHANGE_COLUMNS = ["change_kind", "item_id", "title", "old", "new", "amount", "share", "authority", "decision_id"]
#: Columns of the snapshot's ``Approvals`` table: written by the store, read by the analytics and
#: the dashboards (here so that neither needs the other, nor the database layer).
APPROVAL_COLUMNS = [
    "unit_code",
    "quarter",
    "state",
    "approved_by",
    "approved_at",
    "bureau_approved_by",
    "bureau_approved_at",
    "n_pending",
    "pending_summary",
]
#: Columns of the snapshot's ``FrameworkChanges`` table.
FRAMEWORK_CHANGE_COLUMNS = ["unit_code", "quarter", *CHANGE_COLUMNS, "status"]
