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

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.text import is_missing
from rbm_utils.store.errors import StoreError
from rbm_utils.store.tables import DATA_SHEETS

#: Numbers are equal when they differ by less than this, relatively.
REL_TOL = 1e-9
CHANGE_COLUMNS = ["sheet", "key", "field", "old", "new"]
COUNT_COLUMNS = ["sheet", "added", "changed", "removed"]
#: The ``key`` and ``field`` of a change-log row that stands for every field of the rows a
#: submission added to a sheet whose rows were only added (:func:`log_rows`).
ADDED_ROWS = "*"

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


def norm_column(col: schema.Column, values: list[Any], is_key: bool, where: str) -> list[Any]:
    """:func:`norm_cell` of a whole column: numbers and text take a fast way, anything
    unusual goes through :func:`norm_cell` (and its errors).

    >>> norm_column(schema.Column("v", "number"), [1.5, float("nan"), None], False, "here")
    [1.5, None, None]
    >>> norm_column(schema.Column("t", "text"), ["a", "", None], True, "here")
    ['a', '', '']
    """
    if col.type == "number":
        return [
            (v if math.isfinite(v) else None if v != v else norm_cell(col, v, is_key, where))  # NaN: missing
            if v.__class__ is float
            else None
            if v is None
            else norm_cell(col, v, is_key, where)
            for v in values
        ]
    if col.type in ("integer", "year"):
        return [v if v.__class__ is int or v is None else norm_cell(col, v, is_key, where) for v in values]
    if is_key:
        return [v if v.__class__ is str else norm_cell(col, v, is_key, where) for v in values]
    return [v if v.__class__ is str and v != "" or v is None else norm_cell(col, v, is_key, where) for v in values]


def same(col: schema.Column, a: Any, b: Any) -> bool:
    """Two normalised values are the same (numbers within :data:`REL_TOL`)."""
    if a is None or b is None:
        return a is None and b is None
    if col.type == "number":
        return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))
    return a == b


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False)


class _JsonCache(dict):
    """``cache[v]``: :func:`_json` of a normalised value, each text encoded once (a change
    log repeats the same ids, quarters and codes on every row); numbers as json writes them."""

    def __missing__(self, v: Any) -> str | None:
        out = _json(v)
        if v.__class__ is str:
            self[v] = out
        return out

    def of(self, v: Any) -> str | None:
        cls = v.__class__
        if cls is float:
            return float.__repr__(v)  # what json.dumps writes for a finite float
        if cls is int:
            return int.__repr__(v)
        return self[v]


def sort_key(values: Sequence[Any]) -> tuple:
    """Orders tuples that may hold None (None last)."""
    return tuple((v is None, 0 if v is None else v) for v in values)


def sorted_keys(keys: set[tuple]) -> list[tuple]:
    """``sorted(keys, key=sort_key)``, without building a sort key per tuple when no key holds
    None (then the tuples order alike by themselves).

    >>> sorted_keys({("b",), ("a",)}), sorted_keys({(None,), (2.0,)})
    ([('a',), ('b',)], [(2.0,), (None,)])
    """
    if any(None in k for k in keys):
        return sorted(keys, key=sort_key)
    return sorted(keys)


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
    """Submitted sheets as {sheet: {key: values}} of normalised Python values (column by column)."""
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
        cols = [
            norm_column(c, df[c.name].astype(object).tolist(), c.name in sh.key, f"sheet {name}") for c in sh.columns
        ]
        pidx = sh.column_names.index(sh.periodic) if sh.periodic else None
        values = list(zip(*cols))
        keys = list(zip(*(cols[j] for j in keyidx)))
        rows = dict(zip(keys, values))
        if len(rows) < len(values) or (pidx is not None and None in cols[pidx]):  # find the first faulty record
            seen: set[tuple] = set()
            for i, (key, vals) in enumerate(zip(keys, values)):
                if key in seen:
                    raise StoreError(f"sheet {name}: the key {dict(zip(sh.key, key))} appears on more than one row")
                if pidx is not None and vals[pidx] is None:
                    raise StoreError(f"sheet {name}, record {i + 1}: {sh.periodic} is empty")
                seen.add(key)
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
        if not scope:  # nothing stored in scope (a new unit or quarter): every row added, in key order
            d.added = [sub[k] for k in sorted_keys(set(sub))]
            diffs.append(d)
            continue
        for key in sorted_keys(set(scope) | set(sub)):
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


def _encoder(col: schema.Column, js: _JsonCache) -> Any:
    """JSON text of one normalised value of ``col`` (None for None), as :func:`_json` writes it."""
    if col.type == "number":
        return lambda v: None if v is None else float.__repr__(v)
    if col.type in ("integer", "year"):
        return lambda v: None if v is None else int.__repr__(v)
    return lambda v: None if v is None else js[v]


def added_columns(sh: schema.Sheet, added: list[tuple], js: _JsonCache | None = None) -> list[np.ndarray]:
    """The change-log columns (sheet, key, field, old, new) of rows all added (value tuples in key
    order): built column by column, then read row by row (numpy's row-major order)."""
    js = _JsonCache() if js is None else js
    keyidx = [sh.column_names.index(k) for k in sh.key]
    cols = list(zip(*added))
    enc = [_encoder(c, js) for c in sh.columns]
    new = np.empty((len(added), len(sh.columns)), dtype=object)
    for i, c in enumerate(cols):
        new[:, i] = [enc[i](v) for v in c]
    keys = ["[" + ", ".join(js.of(r[j]) or "null" for j in keyidx) + "]" for r in added]
    has = pd.notna(new)  # JSON texts or None
    n = int(has.sum())
    return [
        np.full(n, sh.name, dtype=object),
        np.repeat(np.array(keys, dtype=object), has.sum(axis=1)),
        np.broadcast_to(np.array(sh.column_names, dtype=object), new.shape)[has],
        np.full(n, None, dtype=object),
        new[has],
    ]


def added_only(d: SheetDiff) -> bool:
    """The sheet's rows were only added (a new unit, or a periodic sheet's new quarter): its
    change log is one :data:`ADDED_ROWS` row (:func:`log_rows`)."""
    return bool(d.added) and not d.changed and not d.removed


def _sheet_changes(d: SheetDiff, js: _JsonCache) -> list[np.ndarray] | None:
    """One sheet's field changes as the change-log columns (sheet, key, field, old, new)."""
    sh = d.sheet
    keyidx = [sh.column_names.index(k) for k in sh.key]
    if added_only(d):
        return added_columns(sh, d.added, js)
    rows: list[tuple] = []
    events = (
        [(v, None, v) for v in d.added] + [(o, o, n) for _, o, n in d.changed] + [(o, o, None) for _, o in d.removed]
    )
    keyed = {tuple(e[0][j] for j in keyidx): e for e in events}  # a key is added, changed or removed
    events = [keyed[k] for k in sorted_keys(set(keyed))]
    fields = list(enumerate(sh.columns))
    for vals, old, new in events:
        key = "[" + ", ".join(js.of(vals[j]) or "null" for j in keyidx) + "]"  # json.dumps of the key list
        if old is None and new is not None:  # added: every field with a value
            rows.extend((sh.name, key, c.name, None, js.of(b)) for i, c in fields if (b := new[i]) is not None)
        elif new is None and old is not None:  # removed: every field that had a value
            rows.extend((sh.name, key, c.name, js.of(a), None) for i, c in fields if (a := old[i]) is not None)
        elif old is not None and new is not None:
            rows.extend(
                (sh.name, key, c.name, js.of(old[i]), js.of(new[i])) for i, c in fields if not same(c, old[i], new[i])
            )
    return [np.array(c, dtype=object) for c in zip(*rows)] if rows else None


def changes_frame(diffs: list[SheetDiff]) -> pd.DataFrame:
    """One row per field change (sheet, key, field, old, new as JSON text, None for missing), as
    :meth:`~rbm_utils.store.database.Store.history` reads them back from ``change_log``."""
    js = _JsonCache()
    blocks = [b for d in diffs if (b := _sheet_changes(d, js)) is not None]
    if not blocks:
        return pd.DataFrame(columns=CHANGE_COLUMNS, dtype=object)
    return pd.DataFrame(
        {c: pd.Series(np.concatenate([blk[i] for blk in blocks]), dtype=object) for i, c in enumerate(CHANGE_COLUMNS)}
    )


def n_field_changes(diffs: list[SheetDiff]) -> int:
    """``len(changes_frame(diffs))`` without building it for the sheets whose rows were only
    added (every value of an added row that is not missing is one change)."""
    n = 0
    js = _JsonCache()
    for d in diffs:
        if added_only(d):
            width = len(d.sheet.columns)
            n += width * len(d.added) - sum(r.count(None) for r in d.added)
        elif not d.empty:
            blk = _sheet_changes(d, js)
            n += 0 if blk is None else len(blk[0])
    return n


def log_rows(diffs: list[SheetDiff]) -> list[tuple]:
    """The ``change_log`` rows of a submission (sheet, key, field, old, new): a sheet whose rows
    were only added gives one :data:`ADDED_ROWS` row, its ``new`` the number of rows (their
    fields are the row versions the submission added; ``Store.history`` lists them); any other
    sheet one row per field change, as :func:`changes_frame`.

    >>> new = prepare_rows({"Results": pd.DataFrame({"result_id": ["R1", "R2"], "level": ["output"] * 2,
    ...                                               "title": ["T", "U"]})})
    >>> log_rows(diff_rows({s.name: {} for s in schema.DATA_SHEETS}, new))
    [('Results', '*', '*', None, '2')]
    """
    out: list[tuple] = []
    js = _JsonCache()
    for d in diffs:
        if added_only(d):
            out.append((d.sheet.name, ADDED_ROWS, ADDED_ROWS, None, str(len(d.added))))
        elif (blk := _sheet_changes(d, js)) is not None:
            out.extend(zip(*(c.tolist() for c in blk)))
    return out


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
