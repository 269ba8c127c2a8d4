"""A submission against the unit's current rows: values normalised, rows added, changed, removed.

Submitted sheets become ``{sheet: {key: values}}`` of plain Python values of each column's
store type (:func:`prepare_rows`); :func:`diff_rows` compares them with the current row
versions, sheet by sheet (a periodic sheet only for the periods submitted), and
:func:`changes_frame` lists every field change as it goes into ``change_log``.

Example:
    >>> new = prepare_rows({"Results": pd.DataFrame({"result_id": ["R1"], "level": ["output"], "title": ["T"]})})
    >>> diffs = diff_rows({s.name: {} for s in schema.DATA_SHEETS}, new)
    >>> int(counts_frame(diffs).set_index("sheet").loc["Results", "added"]), len(changes_frame(diffs))
    (1, 3)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.text import is_missing
from rbm_utils.store.errors import StoreError
from rbm_utils.store.tables import DATA_SHEETS

#: Numbers are equal when they differ by less than this, relatively.
REL_TOL = 1e-9
CHANGE_COLUMNS = ["sheet", "key", "field", "old", "new"]
COUNT_COLUMNS = ["sheet", "added", "changed", "removed"]

#: ``{sheet: {key: values}}``: a submission's rows.
Rows = dict[str, dict[tuple, tuple]]
#: ``{sheet: {key: (row_id, values)}}``: the current row versions of a unit.
Current = dict[str, dict[tuple, tuple[int, tuple]]]


def norm_cell(col: schema.Column, v: Any, is_key: bool, where: str) -> Any:
    """A cell as a plain Python value of the column's store type (None when missing).

    Text keys that are missing become ``""`` (e.g. the total's disaggregation); other
    empty text becomes None, so blank and missing compare equal.

    >>> norm_cell(schema.Column("n", "integer"), "3.0", False, "here"), norm_cell(schema.Column("t", "text"), "", True, "here")
    (3, '')
    """
    if is_missing(v):
        return "" if is_key and col.type not in ("number", "integer", "year") else None
    if col.type == "number":
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: {col.name} is not a number: {v!r}") from None
        if not math.isfinite(f):
            raise StoreError(f"{where}: {col.name} is not a finite number: {v!r}")
        return f
    if col.type in ("integer", "year"):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: {col.name} is not a whole number: {v!r}") from None
        if not f.is_integer():
            raise StoreError(f"{where}: {col.name} is not a whole number: {v!r}")
        return int(f)
    text = str(v)
    if text == "" and not is_key:
        return None
    return text


def same(col: schema.Column, a: Any, b: Any) -> bool:
    """Two normalised values are the same (numbers within :data:`REL_TOL`)."""
    if a is None or b is None:
        return a is None and b is None
    if col.type == "number":
        return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))
    return a == b


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False)


def sort_key(values: Sequence[Any]) -> tuple:
    """Orders tuples that may hold None (None first)."""
    return tuple((v is None, 0 if v is None else v) for v in values)


@dataclass
class SheetDiff:
    """One sheet's rows added, changed and removed by a submission."""

    sheet: schema.Sheet
    added: list[tuple] = field(default_factory=list)  # new value tuples
    changed: list[tuple] = field(default_factory=list)  # (row_id, old values, new values)
    removed: list[tuple] = field(default_factory=list)  # (row_id, old values)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def touched(self) -> list[tuple]:
        """Every old or new value tuple involved in the diff."""
        return (
            [v for v in self.added]
            + [o for _, o, _ in self.changed]
            + [n for _, _, n in self.changed]
            + [o for _, o in self.removed]
        )


def prepare_rows(frames: Mapping[str, pd.DataFrame]) -> Rows:
    """Submitted sheets as {sheet: {key: values}} of normalised Python values."""
    out: Rows = {}
    for name, frame in frames.items():
        if name == "Unit":
            continue
        sh = DATA_SHEETS.get(name)
        if sh is None:
            raise StoreError(f"unknown sheet {name!r}; the store keeps {', '.join(DATA_SHEETS)}")
        if frame is None:
            continue
        df = schema.conform(name, frame)
        keyidx = [sh.column_names.index(k) for k in sh.key]
        rows: dict[tuple, tuple] = {}
        for i, rec in enumerate(df.itertuples(index=False, name=None)):
            where = f"sheet {name}, record {i + 1}"
            vals = tuple(norm_cell(c, v, c.name in sh.key, where) for c, v in zip(sh.columns, rec))
            key = tuple(vals[j] for j in keyidx)
            if key in rows:
                raise StoreError(f"sheet {name}: the key {dict(zip(sh.key, key))} appears on more than one row")
            if sh.periodic and vals[sh.column_names.index(sh.periodic)] is None:
                raise StoreError(f"{where}: {sh.periodic} is empty")
            rows[key] = vals
        out[name] = rows
    return out


def diff_rows(current: Current, new: Rows) -> list[SheetDiff]:
    """Every data sheet's diff; a periodic sheet is compared only for the periods ``new`` carries."""
    diffs = []
    for sh in schema.DATA_SHEETS:
        cur, sub = current[sh.name], new.get(sh.name, {})
        d = SheetDiff(sh)
        if sh.periodic:
            pidx = sh.column_names.index(sh.periodic)
            periods = {v[pidx] for v in sub.values()}
            scope = {k: rv for k, rv in cur.items() if rv[1][pidx] in periods}
        else:
            scope = cur
        for key in sorted(set(scope) | set(sub), key=sort_key):
            if key not in sub:
                d.removed.append(scope[key])
            elif key not in cur:
                d.added.append(sub[key])
            else:
                row_id, old = cur[key]
                if not all(same(c, a, b) for c, a, b in zip(sh.columns, old, sub[key])):
                    d.changed.append((row_id, old, sub[key]))
        diffs.append(d)
    return diffs


def changes_frame(diffs: list[SheetDiff]) -> pd.DataFrame:
    """One row per field change (sheet, key, field, old, new as JSON text, None for missing)."""
    rows = []
    for d in diffs:
        sh = d.sheet
        keyidx = [sh.column_names.index(k) for k in sh.key]
        events = (
            [(v, None, v) for v in d.added]
            + [(o, o, n) for _, o, n in d.changed]
            + [(o, o, None) for _, o in d.removed]
        )
        events.sort(key=lambda e: sort_key([e[0][j] for j in keyidx]))
        for vals, old, new in events:
            key = json.dumps([vals[j] for j in keyidx], ensure_ascii=False)
            for i, c in enumerate(sh.columns):
                a = None if old is None else old[i]
                b = None if new is None else new[i]
                if (old is None and b is None) or (new is None and a is None):
                    continue
                if old is not None and new is not None and same(c, a, b):
                    continue
                rows.append((sh.name, key, c.name, _json(a), _json(b)))
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS, dtype=object)


def counts_frame(diffs: list[SheetDiff]) -> pd.DataFrame:
    """One row per data sheet: rows added, changed, removed."""
    return pd.DataFrame(
        [(d.sheet.name, len(d.added), len(d.changed), len(d.removed)) for d in diffs], columns=COUNT_COLUMNS
    )


def summary(counts: pd.DataFrame, n_changes: int) -> str:
    """The counts in words, for the ingest message."""
    a, c, r = (int(counts[k].sum()) for k in ("added", "changed", "removed"))
    if not n_changes:
        return "no change to the data (a new quarter's submission)"
    return f"{a} rows added, {c} changed, {r} removed ({n_changes} field changes)"
