"""Where a quarter's figures come from: each unit's submission, published with its tables.

The frozen snapshot's ``Unit`` table names, per unit, the submission its figures come from
(``submission_id``, ``submitted_by``, ``ingested_at``) and when the unit's first workbook of the
quarter arrived. :func:`provenance` passes it through as a published table, so a review notebook
and a dashboard both say "figures as of submission N by NAME, TIME" from the same rows, and a
draft refreshed between reviews names the submission it shows.

Example:
    >>> unit = pd.DataFrame({"unit_code": ["AFR"], "quarter": ["2026-Q3"], "submission_id": [7],
    ...                      "submitted_by": ["Ada"], "first_received_at": ["2026-10-01T08:00:00Z"],
    ...                      "ingested_at": ["2026-10-12T09:30:00Z"]})
    >>> provenance({"Unit": unit}, "2026-Q3")[["unit_code", "submission_id", "submitted_by"]]
      unit_code  submission_id submitted_by
    0       AFR              7          Ada
    >>> provenance({}, "2026-Q3").columns.tolist() == PROVENANCE_COLUMNS
    True
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rbm_utils.core.quarters import Quarter, QuarterLike

#: One row per unit: the submission its figures come from (the snapshot's ``Unit`` columns).
PROVENANCE_COLUMNS = ["unit_code", "quarter", "submission_id", "submitted_by", "first_received_at", "ingested_at"]


def provenance(state: Mapping[str, pd.DataFrame], quarter: QuarterLike) -> pd.DataFrame:
    """Each unit's submission as of ``quarter`` (the state's ``Unit`` rows up to that quarter;
    a unit that has not submitted for ``quarter`` yet shows its latest earlier submission),
    columns :data:`PROVENANCE_COLUMNS`, times as text."""
    q = str(Quarter.parse(quarter))
    unit = state.get("Unit")
    if unit is None or unit.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="Int64" if c == "submission_id" else object) for c in PROVENANCE_COLUMNS}
        )
    out = unit.copy()
    for c in PROVENANCE_COLUMNS:
        if c not in out.columns:
            out[c] = None
    out = out[out["quarter"].astype(str) <= q][PROVENANCE_COLUMNS]
    out["submission_id"] = pd.to_numeric(out["submission_id"], errors="coerce").astype("Int64")
    for c in ("unit_code", "quarter", "submitted_by", "first_received_at", "ingested_at"):
        out[c] = [None if pd.isna(v) else str(v) for v in out[c]]
    return out.sort_values("unit_code", kind="stable").reset_index(drop=True)
