"""Delegated authority: a unit-quarter's changes of the framework, and who may approve each.

A unit's framework (results, KPI targets, the budget of its outputs, its activities) is
compared with its state as of its **last approved quarter** (:func:`classify_changes`, a pure
function of the two states and :class:`~rbm_utils.core.config.Authority`). Each change needs
the ``unit`` approver when it lies within the unit's boundaries (``authority.unit`` of the
settings), else the ``bureau``; it is *covered* when a row of the submission's Decisions sheet
concerns the changed item with a fitting kind (:data:`COVERING_KINDS`). docs/rules.md states
the rules with worked examples.

Kinds and measures:

- ``target_value``: a KPI's target changed; amount = new - old, share = |new - old| / |old|
  (unit when the share is at most ``target_change_share``; an old target of 0: bureau).
- ``target_period``, ``kpi_added``, ``kpi_dropped``, ``result_added``, ``result_dropped``:
  unit only when ``add_drop_results`` is true.
- ``budget_moved``: per budget year, the Budget amounts summed per output (across funding
  sources); amount = the sum of the positive differences across the unit's outputs, share =
  amount / the approved year total (unit when share <= ``budget_move_share`` and amount <=
  ``budget_move_amount``). A year with no approved budget is a new year's plan, not a move.
- ``activity_added``, ``activity_dropped``: unit when ``add_drop_activities`` is true.

Example (a worked one): KPI K1's target goes from 100 to 105 (5 %: the unit decides alone)
and K2's from 60 to 72 (20 %: beyond the unit's 10 %, the bureau), with decision D1 on K2:

    >>> from rbm_utils.core.config import Authority
    >>> kpis = pd.DataFrame({"kpi_id": ["K1", "K2"], "name": ["Trained", "Countries"],
    ...                      "target_value": [100.0, 60.0], "target_period": ["2027-Q4"] * 2})
    >>> old = {"KPIs": kpis}
    >>> new = {"KPIs": kpis.assign(target_value=[105.0, 72.0]),
    ...        "Decisions": pd.DataFrame({"decision_id": ["D1"], "concerns": ["K2"], "kind": ["adjust_target"]})}
    >>> ch = classify_changes(old, new, Authority())
    >>> ch[["change_kind", "item_id", "old", "new", "amount", "share", "authority", "decision_id"]].to_records(index=False).tolist()
    [('target_value', 'K1', '100', '105', 5.0, 0.05, 'unit', ''), ('target_value', 'K2', '60', '72', 12.0, 0.2, 'bureau', 'D1')]
    >>> pending_summary(ch)
    'target of K2 60 -> 72 (+20%)'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import pandas as pd

from rbm_utils.core.codes import CHANGE_COLUMNS
from rbm_utils.core.config import Authority
from rbm_utils.core.errors import Problem, problem
from rbm_utils.core.text import fmt_number, fmt_share, is_missing

#: Kind of a change of the framework, in the order changes are listed.
ChangeKind = Literal[
    "target_value",
    "target_period",
    "kpi_added",
    "kpi_dropped",
    "result_added",
    "result_dropped",
    "budget_moved",
    "activity_added",
    "activity_dropped",
]
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)


#: The sheets a unit's framework is read from (plus Decisions for the covering decisions).
FRAMEWORK_SHEETS = ("Results", "KPIs", "Budget", "Activities")

#: Decision kinds that cover each change kind (None: a decision of any kind on the item).
COVERING_KINDS: dict[str, frozenset[str] | None] = {
    "target_value": frozenset({"adjust_target"}),
    "target_period": frozenset({"adjust_target"}),
    "kpi_added": None,
    "kpi_dropped": None,
    "result_added": None,
    "result_dropped": None,
    "budget_moved": frozenset({"reallocate_budget"}),
    "activity_added": frozenset({"add_activity", "drop_activity", "replace_activity"}),
    "activity_dropped": frozenset({"add_activity", "drop_activity", "replace_activity"}),
}

#: The sheet and column a change is about (for the warnings).
CHANGE_PLACE: dict[str, tuple[str, str]] = {
    "target_value": ("KPIs", "target_value"),
    "target_period": ("KPIs", "target_period"),
    "kpi_added": ("KPIs", "kpi_id"),
    "kpi_dropped": ("KPIs", "kpi_id"),
    "result_added": ("Results", "result_id"),
    "result_dropped": ("Results", "result_id"),
    "budget_moved": ("Budget", "amount"),
    "activity_added": ("Activities", "activity_id"),
    "activity_dropped": ("Activities", "activity_id"),
}

_TOL = 1e-9


def _sheet(state: Mapping[str, pd.DataFrame], name: str, columns: Sequence[str]) -> pd.DataFrame:
    """The sheet of a state with at least ``columns`` (an absent sheet is empty)."""
    frame = state.get(name)
    if frame is None:
        frame = pd.DataFrame(columns=list(columns))
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**{c: None for c in missing}) if missing else frame


def _ids(frame: pd.DataFrame, id_col: str, title_col: str) -> dict[str, str]:
    """{id: title} of a sheet's rows (blank ids skipped)."""
    out: dict[str, str] = {}
    for i, t in zip(frame[id_col], frame[title_col]):
        if not is_missing(i) and str(i).strip():
            out[str(i)] = "" if is_missing(t) else str(t)
    return out


def _number(v: Any) -> float:
    try:
        return float("nan") if is_missing(v) else float(v)
    except (TypeError, ValueError):
        return float("nan")


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=_TOL, abs_tol=_TOL)


def _within(value: float, limit: float) -> bool:
    return not math.isnan(value) and value <= limit + _TOL


def _row(
    kind: str,
    item: str,
    title: str,
    old: str = "",
    new: str = "",
    amount: float = math.nan,
    share: float = math.nan,
    unit_may: bool = False,
) -> dict[str, Any]:
    return {
        "change_kind": kind,
        "item_id": item,
        "title": title,
        "old": old,
        "new": new,
        "amount": amount,
        "share": share,
        "authority": "unit" if unit_may else "bureau",
    }


def _added_dropped(old: dict[str, str], new: dict[str, str], what: str, unit_may: bool) -> list[dict[str, Any]]:
    rows = [_row(f"{what}_added", i, new[i], new=i, unit_may=unit_may) for i in sorted(set(new) - set(old))]
    return rows + [_row(f"{what}_dropped", i, old[i], old=i, unit_may=unit_may) for i in sorted(set(old) - set(new))]


def _kpi_changes(old: pd.DataFrame, new: pd.DataFrame, authority: Authority) -> list[dict[str, Any]]:
    before = {str(r.kpi_id): r for r in old.itertuples(index=False) if not is_missing(r.kpi_id)}
    rows = []
    for r in new.itertuples(index=False):
        o = before.get(str(r.kpi_id))
        if o is None:
            continue
        a, b = _number(o.target_value), _number(r.target_value)
        if not _same(a, b):
            share = abs(b - a) / abs(a) if not math.isnan(a) and abs(a) > _TOL else math.nan
            unit_may = _within(share, authority.target_change_share)
            rows.append(
                _row(
                    "target_value",
                    str(r.kpi_id),
                    str(r.name or ""),
                    fmt_number(a),
                    fmt_number(b),
                    b - a,
                    share,
                    unit_may,
                )
            )
        p, q = ("" if is_missing(x) else str(x) for x in (o.target_period, r.target_period))
        if p != q:
            rows.append(
                _row("target_period", str(r.kpi_id), str(r.name or ""), p, q, unit_may=authority.add_drop_results)
            )
    return rows


def _budget_by_year(frame: pd.DataFrame) -> dict[int, dict[str, float]]:
    """{year: {output: amount summed over funding sources}}."""
    out: dict[int, dict[str, float]] = {}
    for res, year, amount in zip(frame["result_id"], frame["year"], frame["amount"]):
        y, a = _number(year), _number(amount)
        if is_missing(res) or math.isnan(y) or math.isnan(a):
            continue
        by = out.setdefault(int(y), {})
        by[str(res)] = by.get(str(res), 0.0) + a
    return out


def _budget_changes(
    old: pd.DataFrame, new: pd.DataFrame, authority: Authority
) -> list[tuple[dict[str, Any], set[str]]]:
    """One ``budget_moved`` row per year whose outputs' amounts moved, with the outputs concerned."""
    before, after = _budget_by_year(old), _budget_by_year(new)
    rows = []
    for year in sorted(before):
        total = sum(before[year].values())
        if total <= _TOL:
            continue  # no approved budget that year: a new year's plan, not a move
        now = after.get(year, {})
        diff = {o: now.get(o, 0.0) - before[year].get(o, 0.0) for o in sorted(set(before[year]) | set(now))}
        up = {o: d for o, d in diff.items() if d > _TOL * max(1.0, total)}
        down = {o: -d for o, d in diff.items() if -d > _TOL * max(1.0, total)}
        amount = sum(up.values())
        if not up:
            continue
        share = amount / total
        unit_may = _within(share, authority.budget_move_share) and _within(amount, authority.budget_move_amount)
        moves = [f"{o} +{fmt_number(d)}" for o, d in up.items()] + [f"{o} -{fmt_number(d)}" for o, d in down.items()]
        title = f"Budget {year}: " + ", ".join(moves)
        row = _row(
            "budget_moved", str(year), title, fmt_number(total), fmt_number(sum(now.values())), amount, share, unit_may
        )
        rows.append((row, set(up) | set(down)))
    return rows


def _covering(decisions: pd.DataFrame, items: set[str], kinds: frozenset[str] | None) -> str:
    """The first decision (by id) concerning one of ``items`` with one of ``kinds``; "" if none."""
    hits = sorted(
        str(d)
        for d, c, k in zip(decisions["decision_id"], decisions["concerns"], decisions["kind"])
        if not is_missing(d) and str(c) in items and (kinds is None or str(k) in kinds)
    )
    return hits[0] if hits else ""


def classify_changes(
    old: Mapping[str, pd.DataFrame], new: Mapping[str, pd.DataFrame], authority: Authority
) -> pd.DataFrame:
    """Every change of the framework from ``old`` (the last approved state) to ``new`` (the
    submitted one, whose ``"Decisions"`` sheet covers changes), with the authority it needs.

    Sheets are read by name (Results, KPIs, Budget, Activities, Decisions); an absent sheet
    is empty. Returns :data:`CHANGE_COLUMNS`, in :data:`CHANGE_KINDS` order then by item.
    Pure: the inputs are not changed.
    """
    res_o, res_n = (_sheet(s, "Results", ("result_id", "title")) for s in (old, new))
    kpi_cols = ("kpi_id", "name", "target_value", "target_period")
    kpi_o, kpi_n = (_sheet(s, "KPIs", kpi_cols) for s in (old, new))
    bud_o, bud_n = (_sheet(s, "Budget", ("result_id", "year", "amount")) for s in (old, new))
    act_o, act_n = (_sheet(s, "Activities", ("activity_id", "title")) for s in (old, new))
    decisions = _sheet(new, "Decisions", ("decision_id", "concerns", "kind"))

    rows: list[tuple[dict[str, Any], set[str]]] = [(r, {r["item_id"]}) for r in _kpi_changes(kpi_o, kpi_n, authority)]
    for what, o, n, col in (("kpi", kpi_o, kpi_n, "name"), ("result", res_o, res_n, "title")):
        idc = f"{what}_id"
        found = _added_dropped(_ids(o, idc, col), _ids(n, idc, col), what, authority.add_drop_results)
        rows += [(r, {r["item_id"]}) for r in found]
    rows += _budget_changes(bud_o, bud_n, authority)
    acts = _added_dropped(
        _ids(act_o, "activity_id", "title"),
        _ids(act_n, "activity_id", "title"),
        "activity",
        authority.add_drop_activities,
    )
    rows += [(r, {r["item_id"]}) for r in acts]
    for r, items in rows:
        r["decision_id"] = _covering(decisions, items, COVERING_KINDS[r["change_kind"]])
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    out = pd.DataFrame([r for r, _ in rows], columns=CHANGE_COLUMNS)
    if not out.empty:
        out = out.sort_values(
            ["change_kind", "item_id"], key=lambda s: s.map(order) if s.name == "change_kind" else s, kind="stable"
        ).reset_index(drop=True)
    for c in ("amount", "share"):
        out[c] = out[c].astype("float64")
    for c in CHANGE_COLUMNS:
        if c not in ("amount", "share"):
            out[c] = out[c].astype(object)
    return out


def empty_changes() -> pd.DataFrame:
    """No change: the columns of :func:`classify_changes` with their dtypes.

    >>> list(empty_changes().columns) == CHANGE_COLUMNS
    True
    """
    return classify_changes({}, {}, Authority())


def describe_change(row: Mapping[str, Any], currency: str = "") -> str:
    """One change in words.

    >>> describe_change({"change_kind": "budget_moved", "item_id": "2026", "amount": 80000.0, "share": 0.2}, "CHF")
    'budget 2026: CHF 80,000 moved between outputs (20%)'
    >>> describe_change({"change_kind": "kpi_dropped", "item_id": "K5"})
    'KPI K5 dropped'
    """
    kind, item = str(row.get("change_kind", "")), str(row.get("item_id", ""))
    if kind == "target_value":
        amount = _number(row.get("amount"))
        share = _number(row.get("share"))
        sign = "+" if amount >= 0 else "-"
        how = f" ({sign}{fmt_share(share)})" if not math.isnan(share) else ""
        return f"target of {item} {row.get('old', '')} -> {row.get('new', '')}{how}"
    if kind == "target_period":
        return f"target period of {item} {row.get('old', '')} -> {row.get('new', '')}"
    if kind == "budget_moved":
        money = fmt_number(row.get("amount"), "currency" if currency else "number", currency)
        return f"budget {item}: {money} moved between outputs ({fmt_share(row.get('share'))})"
    what, _, how = kind.partition("_")
    return f"{'KPI' if what == 'kpi' else what} {item} {how}"


def pending_summary(changes: pd.DataFrame, currency: str = "") -> str:
    """The bureau-level changes in words, ``; ``-separated ("" when none)."""
    if changes.empty:
        return ""
    return "; ".join(describe_change(r, currency) for r in changes.to_dict("records") if r["authority"] == "bureau")


def changes_view(changes: pd.DataFrame | Sequence[Mapping[str, Any]], currency: str = "") -> pd.DataFrame:
    """Framework changes (a frame or records) for reading: the change, its item, old -> new, the
    amount (budget moves in ``currency``), the share, who may approve, the decision (and status).

    >>> changes_view([{"change_kind": "budget_moved", "item_id": "2026", "title": "Budget 2026: O1 +80,000, O2 -80,000",
    ...   "old": "400,000", "new": "400,000", "amount": 80000.0, "share": 0.2, "authority": "bureau",
    ...   "decision_id": ""}], "CHF")[["old -> new", "amount", "share", "needs"]].values.tolist()
    [['400,000 -> 400,000', 'CHF 80,000', '20%', 'bureau']]
    """
    df = pd.DataFrame(changes)
    if df.empty:
        return pd.DataFrame(columns=["change", "item", "title", "old -> new", "amount", "share", "needs", "decision"])
    money = [k == "budget_moved" and bool(currency) for k in df["change_kind"]]
    view = pd.DataFrame(
        {
            "change": df["change_kind"],
            "item": df["item_id"],
            "title": df["title"],
            "old -> new": df["old"].astype(str) + " -> " + df["new"].astype(str),
            "amount": [fmt_number(a, "currency" if m else "number", currency) for a, m in zip(df["amount"], money)],
            "share": [fmt_share(v) for v in df["share"]],
            "needs": df["authority"],
            "decision": df["decision_id"],
        }
    )
    if "status" in df.columns:
        view["status"] = df["status"]
    return view


def _limit(kind: str, authority: Authority) -> str:
    """The unit approver's boundary that a bureau-level change of ``kind`` crosses, in words."""
    if kind == "target_value":
        return f"the unit may change a target by up to {fmt_share(authority.target_change_share)} alone"
    if kind == "budget_moved":
        return (
            f"the unit may move up to {fmt_share(authority.budget_move_share)} of a year's budget "
            f"and at most {fmt_number(authority.budget_move_amount)} alone"
        )
    if kind.startswith("activity"):
        return "adding or dropping activities needs the bureau"
    return "adding or dropping results or KPIs, or moving a target period, needs the bureau"


def item_rows(frames: Mapping[str, pd.DataFrame], rows: Mapping[str, Sequence[int]]) -> dict[tuple[str, str], int]:
    """{(sheet, item id): the Excel row the officer sees} for the framework sheets of a submission.

    >>> item_rows({"KPIs": pd.DataFrame({"kpi_id": ["K1", "K2"]})}, {"KPIs": [2, 4]})
    {('KPIs', 'K1'): 2, ('KPIs', 'K2'): 4}
    """
    out: dict[tuple[str, str], int] = {}
    for sheet, col in (("KPIs", "kpi_id"), ("Results", "result_id"), ("Activities", "activity_id")):
        frame, nums = frames.get(sheet), rows.get(sheet)
        if frame is None or not nums or col not in frame.columns or len(nums) != len(frame):
            continue
        for item, n in zip(frame[col], nums):
            if not is_missing(item):
                out.setdefault((sheet, str(item)), int(n))
    return out


def change_problems(
    changes: pd.DataFrame,
    file: str,
    authority: Authority,
    rows: Mapping[tuple[str, str], int] | None = None,
    currency: str = "",
) -> list[Problem]:
    """The warnings of a submission's changes: ``change_without_decision`` for each change no
    decision covers, ``change_needs_bureau`` for each change beyond the unit's authority.

    ``rows`` locates an item's row in the file (:func:`item_rows`); a dropped item has none.
    """
    out: list[Problem] = []
    who = " or ".join(authority.bureau_approvers) or "nobody is listed in the settings"
    for r in changes.to_dict("records"):
        kind, item = str(r["change_kind"]), str(r["item_id"])
        sheet, header = CHANGE_PLACE[kind]
        row = (rows or {}).get((sheet, item), 0)
        said = describe_change(r, currency)
        if not r["decision_id"]:
            kinds = COVERING_KINDS[kind]
            fit = f"of kind {' or '.join(sorted(kinds))} " if kinds else ""
            out.append(
                problem(
                    "change_without_decision",
                    file,
                    sheet,
                    row,
                    "",
                    header,
                    item,
                    f"{said[:1].upper()}{said[1:]}, against the last approved quarter, has no decision recorded "
                    f"for it: add a row to sheet Decisions {fit}concerning {item}.",
                )
            )
        if r["authority"] == "bureau":
            out.append(
                problem(
                    "change_needs_bureau",
                    file,
                    sheet,
                    row,
                    "",
                    header,
                    item,
                    f"{said[:1].upper()}{said[1:]} is beyond the unit approver's authority ({_limit(kind, authority)}); "
                    f"once approved, the quarter stays pending until the {authority.bureau_role} ({who}) approves it.",
                )
            )
    return out
