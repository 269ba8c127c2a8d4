"""The columns of every table a review notebook and a dashboard both show, named once.

A notebook cell and a dashboard section that show the same table take its columns from here
(``reports.table(r.view["risks"], columns.RISKS)``), so the two cannot drift apart. Where a
table is shown in a wider and a narrower form, both are named: ``*_ACROSS_UNITS`` lists the
unit first, for tables that mix units (a joint review, the overview, a dashboard's filter).

Example:
    >>> KPIS[:3]
    ('kpi_id', 'level', 'name')
    >>> RED_FLAGS[0], AGENDA_ACROSS_UNITS[:3]
    ('unit_code', ('rank', 'score', 'unit_code'))
"""

from __future__ import annotations

# --------------------------------------------------------------------------- KPIs and the chain

#: Other organisations' IATI results (``rbm import iati``) beside the bureau's KPIs on the same theme.
BENCHMARKS = (
    "theme",
    "source_org",
    "indicator",
    "measure",
    "baseline_year",
    "baseline_value",
    "period_end",
    "target",
    "actual",
    "bureau_kpis",
    "warnings",
)

#: One unit's KPIs, worst first (:func:`rbm_utils.present.readable.kpi_table`): status and why,
#: what moved since last quarter, value, achievement, expected progress by now, trend, forecast.
KPIS = (
    "kpi_id",
    "level",
    "name",
    "status",
    "why",
    "moved",
    "measure",
    "baseline_value",
    "current_value",
    "target_value",
    "target_period",
    "achievement",
    "expected",
    "trend",
    "forecast_achievement",
    "likely_to_meet",
)
#: KPIs of several units (dashboard KPI table).
KPIS_ACROSS_UNITS = (
    "unit_code",
    "kpi_id",
    "level",
    "name",
    "programme",
    "status",
    "why",
    "moved",
    "current_value",
    "target_value",
    "achievement",
    "expected",
    "trend",
    "last_period",
    "likely_to_meet",
)
#: KPI status counts per unit (bureau overview).
UNIT_ROLLUP = (
    "unit_code",
    "n_kpis",
    "n_on_track",
    "n_target_met",
    "n_at_risk",
    "n_off_track",
    "n_no_data",
    "n_not_started",
    "share_on_track",
)
#: KPIs, money and people by programme of the Action Plan (bureau overview).
PROGRAMME_ROLLUP = (
    "programme_name",
    "n_units",
    "units",
    "n_results",
    "n_kpis",
    "n_on_track",
    "n_target_met",
    "n_at_risk",
    "n_off_track",
    "n_no_data",
    "n_not_started",
    "share_off_track",
    "budget_year",
    "spent_year",
    "execution_rate",
    "staff_months_planned_year",
    "staff_months_used_year",
)
#: Links of the results chain where it stalls.
STALLS = ("source", "source_status", "target", "target_status", "message")
#: Assumptions tested this quarter against last quarter's verdict.
ASSUMPTION_CHANGES = ("assumption_id", "statement", "test", "previous_verdict", "verdict", "explanation")

# --------------------------------------------------------------------------- risks

#: The risk register.
RISKS = (
    "unit_code",
    "risk_id",
    "category",
    "title",
    "owner",
    "likelihood",
    "impact",
    "score",
    "rating",
    "status",
    "trend",
    "review_on",
    "review_overdue",
)
#: The risk register, short (dashboard).
RISKS_SHORT = ("unit_code", "risk_id", "category", "title", "owner", "score", "rating", "status", "trend")
#: Risks escalated to the bureau.
RED_FLAGS = ("unit_code", "risk_id", "title", "owner", "score", "rating", "rule", "asks", "mitigation", "reasons")
#: Red flags that recur across units, grouped by category and title (bureau overview).
RED_FLAG_GROUPS = ("category", "title", "n_units", "units", "max_score", "rating", "risk_ids")
#: Open risks per unit and category (bureau overview).
BUREAU_RISKS = ("unit_code", "category", "n_open", "medium", "high", "critical", "max_score", "n_review_overdue")

# --------------------------------------------------------------------------- money and work

#: One unit's money per output, with staff time.
MONEY = (
    "result_id",
    "title",
    "funding_source",
    "budget_year",
    "spent_year",
    "execution_rate",
    "time_elapsed",
    "flag",
    "staff_months_planned_year",
    "staff_months_used_year",
)
#: Money per output of several units (dashboard).
MONEY_ACROSS_UNITS = (
    "unit_code",
    "result_id",
    "title",
    "programme",
    "budget_year",
    "spent_year",
    "execution_rate",
    "time_elapsed",
    "flag",
)
#: Money per unit (bureau overview).
UNIT_MONEY = ("unit_code", "budget_year", "spent_year", "execution_rate", "time_elapsed", "flag")
#: Cost per result delivered.
COST_PER_RESULT = ("basis", "result_id", "kpi_id", "name", "spent", "current_value", "cost_per_unit")
#: Activities by type and status.
ACTIVITIES = ("type", "planned", "ongoing", "completed", "delayed", "cancelled", "mean_percent_complete")
#: Activities behind plan.
DELAYED_ACTIVITIES = (
    "activity_id",
    "title",
    "type",
    "region",
    "status",
    "planned_end",
    "percent_complete",
    "planned_percent",
    "reasons",
)
#: Partner contributions by type.
PARTNER_TYPES = ("partner_type", "cash", "in_kind", "total", "n_partners")

# --------------------------------------------------------------------------- funding and partners

#: One unit's funding framework per output (and the unit's total last).
FUNDING = (
    "result_id",
    "initiative",
    "title",
    "required",
    "secured",
    "received",
    "spent",
    "gap",
    "weighted_pipeline",
    "gap_after_pipeline",
    "secured_share",
)
#: The same per initiative.
FUNDING_INITIATIVES = (
    "initiative",
    "required",
    "secured",
    "received",
    "spent",
    "gap",
    "weighted_pipeline",
    "gap_after_pipeline",
    "secured_share",
)
#: Funding per unit and the bureau's total (overview).
FUNDING_UNITS = (
    "unit_code",
    "required",
    "secured",
    "received",
    "spent",
    "gap",
    "pipeline",
    "weighted_pipeline",
    "gap_after_pipeline",
    "secured_share",
)
#: Funding per output of several units (dashboard filter).
FUNDING_ACROSS_UNITS = ("unit_code", *FUNDING)
#: One unit's partners: amounts by stage, what they fund, who owns the relationship.
PARTNERS = (
    "partner",
    "partner_type",
    "secured",
    "received",
    "pipeline",
    "weighted_pipeline",
    "initiatives",
    "outputs",
    "owners",
    "new_this_year",
)
#: Partners of several units.
PARTNERS_ACROSS_UNITS = ("unit_code", *PARTNERS)
#: The bureau's largest partners.
LARGEST_PARTNERS = (
    "rank",
    "partner",
    "partner_type",
    "n_units",
    "units",
    "initiatives",
    "secured",
    "received",
    "pipeline",
    "share_of_secured",
    "new_this_year",
)
#: Concentration on few partners, per unit and for the bureau.
CONCENTRATION = (
    "unit_code",
    "n_partners",
    "secured",
    "largest_partner",
    "largest_share",
    "top3_share",
    "herfindahl",
    "n_new_partners",
)
#: Pipeline per relationship owner.
PARTNER_OWNERS = ("unit_code", "owner", "n_open", "pipeline", "weighted_pipeline", "secured", "next_expected")
#: Resources mobilised by stage, per unit and for the bureau.
RESOURCES_BY_STAGE = (
    "unit_code",
    "prospect",
    "proposal_submitted",
    "pledged",
    "agreement_signed",
    "received",
    "declined",
    "weighted_pipeline",
    "n_partners",
)

# --------------------------------------------------------------------------- linkages, scale-up, changes, agenda

#: Links to study groups and other sectors.
LINKAGES = ("body", "reference", "label", "n_results", "natures")
#: Units with shared references but no joint work (one unit's review).
SYNERGIES = ("unit_a", "unit_b", "shared_references", "weight")
#: The same, with the count of shared references (bureau overview).
SYNERGIES_COUNTED = ("rank", "unit_a", "unit_b", "n_shared", "shared_references", "weight")
#: Cross-regional scale-up candidates.
SCALEUP = (
    "theme",
    "initiative",
    "source_units",
    "target_region",
    "situation",
    "reasons",
    "partners",
    "target_partners",
)
#: Changes since the previous quarter.
CHANGES = ("kind", "item_id", "title", "previous", "current", "direction")
#: One unit's review agenda, by priority score (``rank``: across the bureau, 1 = most in need of a
#: decision; ``carried_over``: back from last quarter with no decision).
AGENDA = ("rank", "score", "priority", "carried_over", "kind", "item_id", "title", "owner", "evidence", "question")
#: An agenda of several units (joint review, dashboard).
AGENDA_ACROSS_UNITS = (
    "rank",
    "score",
    "unit_code",
    "priority",
    "carried_over",
    "kind",
    "item_id",
    "title",
    "owner",
    "question",
)
#: The items that most need the bureau's decision (the overview opens with them).
TOP_AGENDA = ("rank", "score", "unit_code", "kind", "title", "owner", "evidence", "question", "carried_over")
#: The rest of the bureau's agenda, by rank (overview).
BUREAU_AGENDA = ("rank", "score", "unit_code", "carried_over", "kind", "item_id", "title", "owner", "question")
#: A unit's data health in one line (overview).
DATA_HEALTH_SHORT = ("unit_code", "score", "missing")

# --------------------------------------------------------------------------- decisions, approval, learning

#: Decisions of earlier reviews, followed up (one unit's review and dashboard).
DECISIONS = (
    "decision_id",
    "meeting_quarter",
    "concerns",
    "kind",
    "decision",
    "owner",
    "due_quarter",
    "status",
    "overdue",
    "quarters_overdue",
    "moved",
    "follow_up",
)
#: Decisions recorded at this quarter's review meeting.
DECISIONS_TAKEN = ("decision_id", "concerns", "kind", "decision", "owner", "due_quarter", "status", "other_unit")
#: Decisions a cluster and a region took together (joint review).
JOINT_DECISIONS = (
    "unit_code",
    "decision_id",
    "meeting_quarter",
    "concerns",
    "decision",
    "owner",
    "due_quarter",
    "status",
    "overdue",
    "moved",
)
#: Overdue decisions across units (overview).
OVERDUE_DECISIONS = (
    "unit_code",
    "decision_id",
    "meeting_quarter",
    "concerns",
    "decision",
    "owner",
    "due_quarter",
    "quarters_overdue",
    "status",
    "moved",
)
#: Every unit's approval state (overview).
APPROVALS = (
    "unit_code",
    "state",
    "approved_by",
    "approved_at",
    "bureau_approved_by",
    "bureau_approved_at",
    "n_pending",
)
#: The framework's changes against the last approved quarter, with the authority each needs.
FRAMEWORK_CHANGES = ("change_kind", "item_id", "title", "old", "new", "amount", "share", "authority", "decision_id")
#: Changes that need the bureau's approver and do not have it yet, across units (reviews, overview, dashboards).
PENDING_ESCALATIONS = ("unit_code", "change", "title", "old", "new", "amount", "share", "decision_id", "status")
#: What the unit learnt: its assumptions revised since last quarter.
LEARNING = ("assumption_id", "what_changed", "before", "after", "verdict_before", "verdict_after", "review_note")
#: The quarter's lessons across units (overview).
LEARNING_ACROSS_UNITS = (
    "unit_code",
    "assumption_id",
    "what_changed",
    "before",
    "after",
    "verdict_after",
    "review_note",
)
#: Data health of a unit's quarter: expected against arrived, on time, evidence, outliers, score.
DATA_HEALTH = (
    "unit_code",
    "kpis_due",
    "kpis_reported",
    "expenditure_expected",
    "expenditure_reported",
    "risk_reviews_due",
    "risk_reviews_done",
    "on_time",
    "evidence_share",
    "outliers",
    "score",
    "missing",
)

# --------------------------------------------------------------------------- joint review

#: The cluster's KPIs broken down for the region.
JOINT_KPIS_IN_REGION = (
    "kpi_id",
    "name",
    "measure",
    "current_value",
    "region_contribution",
    "share_of_total",
    "achievement",
    "status",
    "status_basis",
)
#: The cluster's activities in the region.
JOINT_ACTIVITIES = ("activity_id", "title", "type", "status", "planned_start", "planned_end", "percent_complete")
#: The region's KPIs on the cluster's themes.
JOINT_REGION_KPIS = ("kpi_id", "name", "initiative", "theme", "current_value", "achievement", "status")
#: Risks the cluster and the region share.
JOINT_RISKS = ("unit_code", "risk_id", "title", "owner", "score", "rating", "status")
#: Assumptions the cluster and the region share, tested this quarter.
JOINT_ASSUMPTIONS = ("unit_code", "assumption_id", "statement", "verdict", "explanation")
#: The cluster's money and staff months attributed to the region, by output and basis
#: (:mod:`rbm_utils.analytics.regional_money`; ``basis`` in words, :mod:`rbm_utils.present.joint`).
JOINT_MONEY = (
    "result_id",
    "title",
    "basis",
    "share",
    "budget_year",
    "spent_year",
    "spent_cumulative",
    "staff_months_planned_year",
    "staff_months_used_year",
)
#: The same in the region in all, beside the cluster's total.
JOINT_MONEY_SUMMARY = (
    "scope",
    "basis",
    "budget_year",
    "spent_year",
    "share_of_spending",
    "staff_months_planned_year",
    "staff_months_used_year",
)
#: The joint agenda.
JOINT_AGENDA = AGENDA_ACROSS_UNITS
