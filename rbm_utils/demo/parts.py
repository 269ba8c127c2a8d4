"""What the generator knows about a unit's final state besides its frames: the parts its history is drawn from.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.demo.sample import sample_parts
    >>> parts = sample_parts(load_config(), "AFR")
    >>> parts.code, str(parts.quarter), parts.verdicts["manual"] in ("holds", "weakening", "broken")
    ('AFR', '2026-Q3', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.text import is_missing
from rbm_utils.demo.catalogue import Plan


@dataclass
class SampleParts:
    """A unit's final state (its reporting quarter) and the intentions it was aimed with.

    ``frames`` are the conformed sheets at ``quarter`` without the review decisions;
    ``intents`` maps each illustrative KPI to the status it was aimed at (on, at_risk, off, met,
    stale); ``roles`` maps a KPI role (workshops, participants, pass_rate, applying, adoption) to
    its kpi_id; ``verdicts`` maps each assumption test to the verdict it was aimed at.
    """

    config: Config
    unit: dict[str, Any]
    frames: dict[str, pd.DataFrame]
    position: int
    unit_type: str
    plan: Plan
    regions: list[str]
    first: Quarter
    quarter: Quarter
    intents: dict[str, str]
    roles: dict[str, str]
    milestone_kpis: frozenset[str]
    verdicts: dict[str, str]
    _records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def code(self) -> str:
        return str(self.unit["unit_code"])

    def records(self, sheet: str) -> list[dict[str, Any]]:
        """The final rows of ``sheet`` as dicts (missing cells None); computed once, never to be mutated."""
        if sheet not in self._records:
            df = self.frames[sheet]
            self._records[sheet] = [
                {k: (None if is_missing(v) else v) for k, v in rec.items()} for rec in df.to_dict("records")
            ]
        return self._records[sheet]
