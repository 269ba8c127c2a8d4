"""The officer's commands as the terminal shows them: ``rbm template``, ``rbm ingest``, ``rbm history``.

``cli.py`` parses the words and calls these. Every output ends with one line that says what
happened (stored as submission N with W warnings; dry run: nothing written; unchanged: nothing
stored; refused or rejected: nothing stored, and why) and, where there is one, the next useful
command. Problems print whole, wrapped to the terminal (:mod:`rbm_utils.store.console`).

Example:
    >>> who_submits("Ann Officer", {}) , who_submits(None, {"RBM_OFFICER": "Bo"})
    (('Ann Officer', '--submitted-by'), ('Bo', '$RBM_OFFICER'))
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter
from rbm_utils.intake.template import template_frames, unit_fields, write_csv_folder, write_workbook
from rbm_utils.intake.template_next import next_quarter_frames, risks_to_review
from rbm_utils.store.console import print_table
from rbm_utils.store.history_view import approval_events, change_lines, submission_lines

__all__ = [
    "OFFICER_ENV",
    "PLANTED_NOTE",
    "who_submits",
    "run_template",
    "run_ingest",
    "run_history",
    "new_warnings",
    "final_line",
]

#: The environment variable naming the officer when ``--submitted-by`` is not given (no sign-in yet).
OFFICER_ENV = "RBM_OFFICER"
#: Said once when the sample is ingested (``rbm sample --store``, or its workbooks by ``rbm ingest``).
PLANTED_NOTE = (
    "Note: the sample plants problems on purpose (late workbooks, actuals without evidence, overdue "
    "decisions, overspending, risks past their review date), so its workbooks carry warnings and its "
    "reviews have something to show. They are intended, not a fault of your setup."
)
#: How the sample's workbooks sign their Unit sheet.
SAMPLE_MARK = "(illustrative)"
PROBLEM_VIEW = ["severity", "code", "where", "header", "value", "message"]
#: The newer submission a stale workbook's refusal names (``--force-over M``).
FORCE_RE = re.compile(r"--force-over (\d+)")


def _q(path: object) -> str:
    return shlex.quote(str(path))


def who_submits(given: str | None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(name, where it came from): ``--submitted-by``, else ``$RBM_OFFICER``, else the login name."""
    env = os.environ if env is None else env
    if given:
        return given, "--submitted-by"
    if env.get(OFFICER_ENV, "").strip():
        return env[OFFICER_ENV].strip(), f"${OFFICER_ENV}"
    try:
        return getpass.getuser(), "the login name"
    except Exception:  # no user name in a container
        return "", "nobody"


# --------------------------------------------------------------------------- template


def run_template(args: Any, cfg: Config, open_store: Callable[[], Any]) -> int:
    """``rbm template``: the workbook of a quarter; with ``--from-store`` ready for that quarter."""
    unit, quarter = args.unit, str(Quarter.parse(args.quarter or cfg.current_quarter))
    todo: list[str] = []
    added = 0
    state = None
    based_on: int | None = None
    if args.from_store:
        with open_store() as st:  # the submission first: one arriving in between is then newer than it
            subs = st.submissions(unit)
            based_on = int(subs["id"].max()) if not subs.empty else None
            state = st.state(unit)
        before = sum(len(state.get(n, ())) for n in ("Actuals", "Expenditure"))
        state = next_quarter_frames(state, quarter)
        added = sum(len(state[n]) for n in ("Actuals", "Expenditure")) - before
        acts, spent = state["Actuals"], state["Expenditure"]
        n_act = int(((acts["period"] == quarter) & acts["value"].isna()).sum())
        n_exp = int(((spent["period"] == quarter) & spent["amount"].isna()).sum())
        if n_act:
            todo.append(f"Actuals: fill in the value of the {n_act} rows of {quarter} (one per KPI due this quarter).")
        if n_exp:
            todo.append(f"Expenditure: fill in the amount of the {n_exp} rows of {quarter} (one per budget line).")
        risks = risks_to_review(state.get("Risks"), quarter)
        if risks:
            todo.append(f"Risks to review by the end of {quarter}: {', '.join(risks)}.")
    frames = template_frames(state)
    name, source = who_submits(args.submitted_by)
    fields = unit_fields(cfg, unit, quarter, submitted_by=name, based_on=based_on)
    out = Path(args.out or (f"{unit}_{quarter}" if args.csv else f"{unit}_{quarter}.xlsx"))
    if args.csv:
        path = write_csv_folder(out, fields, frames)
    else:
        path = write_workbook(out, fields, frames, todo=todo)
    n = sum(len(f) for f in frames.values())
    if args.from_store and not n:
        print(f"Wrote {path} for {unit} {quarter}, empty: the store holds nothing of {unit} yet.")
    else:
        print(f"Wrote {path} for {unit} {quarter}" + (f", pre-filled with {n} rows from the store." if state else "."))
    if based_on is not None:
        print(
            f"  Made from submission {based_on} (Unit sheet, based_on_submission): if someone else stores a newer "
            "one first, this workbook is refused rather than undo their changes."
        )
    if args.from_store and n:
        print(f"  Added {added} rows of {quarter} to fill in (values empty):")
        for line in todo:
            print(f"  - {line}")
    print(
        f"  submitted_by: {name or '(empty)'} (from {source}; give --submitted-by or set ${OFFICER_ENV} to change it)."
    )
    print(f"Next: fill in the values, then check it without storing: rbm ingest {_q(path)} --dry-run")
    return 0


# --------------------------------------------------------------------------- ingest


def _identity(df: pd.DataFrame) -> pd.Series:
    cols = ["code", "sheet", "header", "value", "message"]
    return df[cols].astype(str).agg("\x1f".join, axis=1)


def new_warnings(problems: pd.DataFrame, earlier: pd.DataFrame | None) -> pd.Series:
    """True for each warning of ``problems`` not already stored with the ``earlier`` submission
    (same code, sheet, column, value and message; the row may have moved); errors are always new.

    >>> p = pd.DataFrame({"code": ["W1", "W2"], "severity": ["warning"] * 2, "sheet": ["A"] * 2,
    ...     "header": ["x"] * 2, "value": ["1", "2"], "message": ["m", "m"]})
    >>> new_warnings(p, p.iloc[:1]).tolist()
    [False, True]
    """
    if problems.empty:
        return pd.Series(dtype=bool)
    if earlier is None or earlier.empty:
        return pd.Series(True, index=problems.index)
    known = set(_identity(earlier))
    return (problems["severity"] != "warning") | ~_identity(problems).isin(known)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def final_line(rep: Any, n_new: int, n_known: int, earlier_id: int | None) -> str:
    """The one line that says what happened to a file."""
    w = rep.n_warnings
    warned = _plural(w, "warning") + (
        f" ({n_known} already stored with submission {earlier_id})" if n_known and earlier_id else ""
    )
    what = f"{rep.unit_code} {rep.quarter}" if rep.unit_code else rep.file
    rows = ""
    if rep.counts is not None and not rep.counts.empty and "added" in rep.counts:
        a, c, r = (int(rep.counts[k].sum()) for k in ("added", "changed", "removed"))
        rows = f" ({a} rows added, {c} changed, {r} removed)"
    if rep.status == "stored":
        return f"Done: {what} stored as submission {rep.submission_id}{rows} with {warned}."
    if rep.status == "dry_run":
        return f"Dry run: {what} would be stored{rows} with {warned}; nothing was written."
    if rep.status == "unchanged":
        return f"Unchanged: {what} is the same as submission {rep.submission_id}; nothing stored."
    if rep.status in ("locked", "stale"):
        return f"Refused: nothing stored. {rep.message.split(': ', 1)[-1].removeprefix('not stored: ')}."
    if rep.status == "rejected":
        return f"Rejected: {rep.file} has {_plural(rep.n_errors, 'error')} and {warned}; nothing stored."
    return f"Not stored: {rep.message}"


def _next_step(rep: Any, path: str, cfg: Config, by: str) -> str:
    file = _q(path)
    if rep.status == "rejected":
        return f"Next: correct the errors above in {file}, then: rbm ingest {file} --dry-run"
    if rep.status == "dry_run":
        return f"Next: store it: rbm ingest {file} --by {_q(by)}"
    if rep.status in ("stored", "unchanged") and rep.unit_code:
        approvers = cfg.units[rep.unit_code].approvers if rep.unit_code in cfg.units else ()
        who = f" ({' or '.join(approvers)}, signed in)" if approvers else ""
        return f"Next: the unit's approver{who} locks the quarter: rbm approve {rep.unit_code} {rep.quarter}"
    if rep.status == "stale" and rep.quarter:
        over = FORCE_RE.search(rep.message)
        return (
            f"Next: start again from the store: rbm template {rep.unit_code} --from-store --quarter {rep.quarter}"
            + (f"   (or replace it anyway: rbm ingest {file} --force-over {over.group(1)})" if over else "")
        )
    if rep.status == "locked" and rep.quarter:
        nxt = Quarter.parse(rep.quarter) + 1
        return (
            f"Next: report it in the next quarter's workbook: rbm template {rep.unit_code} --from-store --quarter {nxt}"
        )
    return ""


def _earlier_submission(st: Any, rep: Any) -> tuple[int | None, pd.DataFrame | None]:
    if not rep.unit_code:
        return None, None
    subs = st.submissions(rep.unit_code)
    if subs.empty:
        return None, None
    ids = [int(i) for i in subs["id"] if rep.status != "stored" or int(i) != rep.submission_id]
    if not ids:
        return None, None
    return ids[-1], st.submission_problems(ids[-1])


def _forced_line(st: Any, rep: Any) -> str:
    """What ``--force-over`` did: the submission replaced (recorded with the new one), or nothing."""
    subs = st.submissions(rep.unit_code).set_index("id")
    forced = subs.loc[rep.submission_id].get("forced_over") if rep.submission_id in subs.index else None
    if forced is None or pd.isna(forced) or int(forced) not in subs.index:
        return "  --force-over was not needed: no newer submission by someone else; nothing was overridden."
    other = subs.loc[int(forced)]
    return (
        f"  Stored over submission {int(forced)} by {other['submitted_by'] or 'nobody named'} "
        f"({str(other['ingested_at']).replace('T', ' ')[:16]} UTC), as --force-over asked; rbm history shows it."
    )


def run_ingest(args: Any, cfg: Config, open_store: Callable[[], Any]) -> int:
    """``rbm ingest``: each file validated and stored (or not), with its tables and its final line."""
    from rbm_utils.core.spreadsheets import write_csv
    from rbm_utils.store.authority import changes_view
    from rbm_utils.store.errors import ApprovalError
    from rbm_utils.store.ingest import EXIT_STALE, ingest_file
    from rbm_utils.store.signoff import ingesting_person

    worst = 0
    all_problems = []
    steps: list[str] = []
    said_sample = False
    with open_store() as st:
        try:
            by, user = ingesting_person(st, args.by)
        except ApprovalError as exc:
            print(f"rbm ingest: refused: {exc}", file=sys.stderr)
            return 1
        for f in args.files:
            force_over = getattr(args, "force_over", None)
            rep = ingest_file(f, st, cfg, by=by, dry_run=args.dry_run, user=user, force_over=force_over)
            if SAMPLE_MARK in rep.submitted_by and not said_sample:
                print(PLANTED_NOTE)
                said_sample = True
            earlier_id, earlier = _earlier_submission(st, rep) if rep.accepted else (None, None)
            is_new = new_warnings(rep.problems, earlier)
            n_known = int((~is_new).sum()) if len(is_new) else 0
            if not rep.problems.empty:
                all_problems.append(rep.problems)
                if rep.status in ("rejected", "failed"):
                    shown = rep.problems.sort_values("severity", kind="stable")
                elif args.show_warnings:
                    shown = rep.problems
                else:
                    shown = rep.problems[is_new]
                if not shown.empty:
                    print(
                        f"{rep.file}: "
                        + _plural(len(shown), "new problem" if n_known and not args.show_warnings else "problem")
                    )
                    print_table(shown, PROBLEM_VIEW)
            counts = rep.counts
            if counts is not None and not counts.empty and rep.status in ("stored", "dry_run"):
                moved = counts[counts[["added", "changed", "removed"]].sum(axis=1) > 0] if "added" in counts else counts
                print("Rows " + ("stored" if rep.status == "stored" else "that would be stored") + ", by sheet:")
                print_table(moved)
            fw = rep.framework_changes
            if fw is not None and not fw.empty and rep.status in ("stored", "dry_run", "unchanged"):
                print(f"Changes of the framework since {rep.unit_code}'s last approved quarter, with who may approve:")
                print_table(changes_view(fw, cfg.currency))
            if n_known and not args.show_warnings and rep.accepted:
                print(
                    f"  The {_plural(n_known, 'warning')} stored before are not repeated (--show-warnings lists them)."
                )
            if not rep.problems.empty and not args.report:
                print(f"  The same list as a spreadsheet: rbm ingest {_q(f)} --dry-run --report problems.csv")
            print(final_line(rep, len(rep.problems) - n_known, n_known, earlier_id))
            if rep.status == "stored" and force_over is not None:
                print(_forced_line(st, rep))
            steps.append(_next_step(rep, f, cfg, by))
            if not rep.accepted:
                worst = max(worst, EXIT_STALE if rep.status == "stale" else 1)
    if args.report:
        frame = pd.concat(all_problems, ignore_index=True) if all_problems else pd.DataFrame()
        write_csv(frame, args.report)
        print(f"Full report of every problem: {args.report}")
    for step in dict.fromkeys(s for s in steps if s):
        print(step)
    return worst


# --------------------------------------------------------------------------- history


def run_history(args: Any, open_store: Callable[[], Any]) -> int:
    """``rbm history``: one line per submission; ``--submission N`` or ``--kpi ID`` for the details."""
    with open_store() as st:
        subs, changes = st.history(args.unit)
    if subs.empty:
        print(f"No submission for {args.unit}. Start with: rbm template {args.unit}")
        return 0
    if args.submission is None and args.kpi is None:
        lines = submission_lines(subs, changes)
        print(f"Submissions of {args.unit} ({len(lines)}): rows + added, ~ changed, - removed")
        print_table(lines.tail(args.last) if args.last else lines, max_widths={"by": 16, "file": 17})
        if args.last and len(lines) > args.last:
            print(f"  (the last {args.last}; --last 0 lists all)")
        events = approval_events(changes)
        if not events.empty:
            print(f"Approvals and unlocks of {args.unit} ({len(events)}), oldest first:")
            print_table(events, wrap=False)
        newest = int(subs["id"].iloc[-1])
        print(f"Details: rbm history {args.unit} --submission {newest}   or   rbm history {args.unit} --kpi KPI_ID")
        return 0
    detail = change_lines(changes, submission=args.submission, kpi=args.kpi)
    what = " and ".join(
        w
        for w in (
            f"submission {args.submission}" if args.submission is not None else "",
            f"KPI {args.kpi}" if args.kpi else "",
        )
        if w
    )
    if args.submission is not None and args.submission not in set(subs["id"].astype(int)):
        print(f"{args.unit} has no submission {args.submission}. List them: rbm history {args.unit}")
        return 1
    print(f"Changed values of {args.unit}, {what} ({len(detail)}):")
    print_table(detail.drop(columns="submission") if args.submission is not None else detail)
    print(f"All submissions: rbm history {args.unit}")
    return 0
