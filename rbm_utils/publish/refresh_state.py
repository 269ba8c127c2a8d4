"""Where each unit's between-review refresh stands: ``outputs/<Q>/refresh.json``.

The refresh loop (``rbm watch``, or ``rbm serve`` unless ``--no-refresh``) writes this file; the
landing page and ``rbm status`` read it. One entry per unit: ``status`` (one of
:data:`REFRESH_STATUSES`), the submission its figures come from (``submission_id``,
``submitted_by``, ``submitted_at``), when the refresh started and finished, and for a failed
refresh a one-line ``message`` in words (never a traceback). The file is replaced atomically, so
a reader sees the old state or the new one.

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> write_refresh_state(out, "2026-Q3", {"AFR": UnitRefresh("AFR", "done", 7, "Ada", "2026-10-12T09:00:00Z")})
    >>> read_refresh_state(out, "2026-Q3")["AFR"].submission_id
    7
    >>> read_refresh_state(out, "2026-Q4")
    {}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from rbm_utils.core.files import atomic_write_json

#: The file, in a quarter's output folder.
REFRESH_FILE = "refresh.json"
#: A unit's refresh: waiting for its turn, running, done (its draft is published), failed (the last
#: good draft stays in place; the next submission retries).
REFRESH_STATUSES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class UnitRefresh:
    """One unit's refresh as the landing page and ``rbm status`` show it."""

    unit_code: str
    status: str
    submission_id: int | None = None
    submitted_by: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None


def refresh_path(outputs: Path, quarter: str) -> Path:
    """``outputs/<quarter>/refresh.json``."""
    return Path(outputs) / str(quarter) / REFRESH_FILE


def read_refresh_state(outputs: Path, quarter: str) -> dict[str, UnitRefresh]:
    """Each unit's refresh by unit code ({} when no refresh ran or the file cannot be read)."""
    try:
        raw = json.loads(refresh_path(outputs, quarter).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    names = {f.name for f in fields(UnitRefresh)}
    units = raw.get("units", {}) if isinstance(raw, dict) else {}
    out: dict[str, UnitRefresh] = {}
    for code, entry in units.items() if isinstance(units, dict) else ():
        if isinstance(entry, dict) and entry.get("status") in REFRESH_STATUSES:
            out[str(code)] = UnitRefresh(**{k: v for k, v in entry.items() if k in names})
    return out


def write_refresh_state(outputs: Path, quarter: str, units: Mapping[str, UnitRefresh]) -> None:
    """Replace the quarter's refresh file atomically with ``units``."""
    for entry in units.values():
        if entry.status not in REFRESH_STATUSES:
            raise ValueError(f"refresh status {entry.status!r} is not one of {REFRESH_STATUSES}")
    body = {"quarter": str(quarter), "units": {code: asdict(entry) for code, entry in sorted(units.items())}}
    path = refresh_path(outputs, quarter)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, body)


def refresh_frame(outputs: Path, quarter: str) -> pd.DataFrame:
    """The refresh file as a table, one row per unit (columns: the fields of :class:`UnitRefresh`)."""
    cols = [f.name for f in fields(UnitRefresh)]
    rows = [asdict(e) for _, e in sorted(read_refresh_state(outputs, quarter).items())]
    return pd.DataFrame(rows, columns=cols)
