"""What :meth:`rbm_utils.store.database.Store.ingest` did with a submission.

Example:
    >>> import pandas as pd
    >>> o = IngestOutcome("unchanged", 3, pd.DataFrame(), "nothing stored", pd.DataFrame())
    >>> o.n_changes, o.framework_changes.empty, o.status in STATUSES
    (0, True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from rbm_utils.core.errors import Problem
from rbm_utils.store.authority import empty_changes

#: What :meth:`~rbm_utils.store.database.Store.ingest` may answer.
STATUSES = ("stored", "unchanged", "locked", "stale", "dry_run")


@dataclass
class IngestOutcome:
    """What :meth:`Store.ingest` did (or, for ``dry_run``/``locked``, would have done).

    ``changes`` has columns sheet, key, field, old, new (JSON text, None for missing), one
    row per field change, as :meth:`~rbm_utils.store.database.Store.history` lists them; it is
    built when first read (``changes_of``: the store gives a function, 300,000 field changes of
    a large workbook take a while to list). ``counts`` has one row per data sheet with the
    number of rows added, changed and removed. ``framework_changes`` lists the changes of the
    framework against the last approved quarter with the authority each needs
    (:func:`rbm_utils.store.authority.classify_changes`); ``warnings`` are the warnings they
    gave (stored with the submission, with the validator's).
    """

    status: str
    submission_id: int | None
    changes_of: pd.DataFrame | Callable[[], pd.DataFrame]
    message: str
    counts: pd.DataFrame
    unit_code: str = ""
    quarter: str = ""
    framework_changes: pd.DataFrame = field(default_factory=empty_changes)
    warnings: list[Problem] = field(default_factory=list)
    n_field_changes: int | None = None  # len(changes), when known without building them

    @property
    def changes(self) -> pd.DataFrame:
        if callable(self.changes_of):
            self.changes_of = self.changes_of()
        return self.changes_of

    @property
    def n_changes(self) -> int:
        return len(self.changes) if self.n_field_changes is None else self.n_field_changes
