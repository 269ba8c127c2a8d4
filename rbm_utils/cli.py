"""The ``rbm`` command line. Every command has ``--help``; no traceback reaches the user.

Exit codes: 0 success, 1 rejected or failed (the message says why), 2 usage error.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rbm_utils import __version__

log = logging.getLogger("rbm")

EPILOG = "Exit codes: 0 success, 1 rejected or failed (the message says why), 2 usage error."


class UsageError(Exception):
    """A command was called with words that do not fit (exit 2)."""


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container
        return "unknown"


def _store(args):
    from rbm_utils.store.database import Store

    return Store(args.store or _config(args).store_url)


def _config(args):
    from rbm_utils.core.config import load_config

    if not hasattr(args, "_config"):
        args._config = load_config(getattr(args, "config", None))
    return args._config


def _table(df: pd.DataFrame, columns: Sequence[str] | None = None, width: int = 60) -> str:
    if df is None or df.empty:
        return "(none)"
    view = df[list(columns)] if columns else df
    view = view.astype(object).where(view.notna(), "")
    view = view.map(lambda v: (str(v)[: width - 1] + "…") if len(str(v)) > width else str(v))
    return view.to_string(index=False)


# --------------------------------------------------------------------------- commands


def cmd_template(args) -> int:
    from rbm_utils.intake.template import template_frames, unit_fields, write_csv_folder, write_workbook

    cfg = _config(args)
    unit = args.unit
    if unit not in cfg.units:
        raise UsageError(f"unknown unit {unit!r}; known units: {', '.join(cfg.units)}")
    quarter = args.quarter or cfg.current_quarter
    state = None
    if args.from_store:
        with _store(args) as st:
            state = st.state(unit)
    frames = template_frames(state)
    fields = unit_fields(cfg, unit, quarter, submitted_by=args.submitted_by or "")
    out = Path(args.out or (f"{unit}_{quarter}" if args.csv else f"{unit}_{quarter}.xlsx"))
    path = write_csv_folder(out, fields, frames) if args.csv else write_workbook(out, fields, frames)
    n = sum(len(f) for f in frames.values())
    print(
        f"Wrote {path} for {unit} {quarter}"
        + (f" pre-filled with {n} rows from the store." if args.from_store else ".")
    )
    return 0


def cmd_ingest(args) -> int:
    from rbm_utils.store.authority import changes_view
    from rbm_utils.store.ingest import ingest_file

    cfg = _config(args)
    worst = 0
    all_problems = []
    with _store(args) as st:
        for f in args.files:
            rep = ingest_file(f, st, cfg, by=args.by, dry_run=args.dry_run)
            print(rep.message)
            if not rep.problems.empty:
                shown = (
                    rep.problems
                    if args.show_warnings or rep.status in ("rejected", "failed")
                    else rep.problems[rep.problems.severity == "error"]
                )
                if not shown.empty:
                    print(
                        textwrap.indent(
                            _table(shown, ["severity", "code", "sheet", "row", "column", "header", "value", "message"]),
                            "  ",
                        )
                    )
                elif rep.n_warnings:
                    print(f"  {rep.n_warnings} warning(s) stored with the submission (--show-warnings lists them).")
                all_problems.append(rep.problems)
            if rep.counts is not None and not rep.counts.empty and rep.status in ("stored", "dry_run"):
                print(textwrap.indent(_table(rep.counts), "  "))
            fw = rep.framework_changes
            if fw is not None and not fw.empty and rep.status in ("stored", "dry_run", "unchanged"):
                print(
                    f"  Changes of the framework since {rep.unit_code}'s last approved quarter, with who may approve:"
                )
                print(textwrap.indent(_table(changes_view(fw, cfg.currency)), "  "))
            if not rep.accepted:
                worst = 1
    if args.report:
        from rbm_utils.core.spreadsheets import write_csv

        frame = pd.concat(all_problems, ignore_index=True) if all_problems else pd.DataFrame()
        write_csv(frame, args.report)
        print(f"Problems written to {args.report}")
    return worst


def cmd_approve(args) -> int:
    from rbm_utils.store.approvals import approval_summary
    from rbm_utils.store.database import ApprovalError

    cfg = _config(args)
    with _store(args) as st:
        try:
            rec = st.approve(args.unit, args.quarter, args.by, cfg)
        except ApprovalError as exc:
            print(f"rbm approve: refused: {exc}", file=sys.stderr)
            return 1
    print(approval_summary(rec, cfg.authority, cfg.currency))
    return 0


def cmd_history(args) -> int:
    with _store(args) as st:
        subs, changes = st.history(args.unit)
    if subs.empty:
        print(f"No submission for {args.unit}.")
        return 0
    print(f"Submissions of {args.unit}:")
    print(textwrap.indent(_table(subs), "  "))
    print(f"\nChanges ({len(changes)} in all; last {min(args.changes, len(changes))}):")
    print(textwrap.indent(_table(changes.tail(args.changes)), "  "))
    return 0


def cmd_status(args) -> int:
    cfg = _config(args)
    quarter = args.quarter or cfg.current_quarter
    with _store(args) as st:
        state = st.bureau_state(quarter)
        approvals = st.approval_states(quarter, cfg.authority, cfg.currency).set_index("unit_code")
        subs = st.submissions()
    rows = []
    for code, unit in cfg.units.items():
        usubs = subs[subs.unit_code == code] if not subs.empty else subs
        latest = usubs.iloc[-1] if len(usubs) else None

        def count(sheet: str, code: str = code) -> int:
            f = state.get(sheet)
            return int((f.unit_code == code).sum()) if f is not None and not f.empty else 0

        acts = state.get("Actuals")
        in_q = (
            int(((acts.unit_code == code) & (acts.period == quarter)).sum())
            if acts is not None and not acts.empty
            else 0
        )
        appr = approvals.loc[code] if code in approvals.index else None
        rows.append(
            {
                "unit": code,
                "type": unit.type,
                "last quarter": latest["quarter"] if latest is not None else "-",
                "submission": int(latest["id"]) if latest is not None else "-",
                "results": count("Results"),
                "KPIs": count("KPIs"),
                "actuals": count("Actuals"),
                f"actuals {quarter}": in_q,
                "risks": count("Risks"),
                "warnings": int(latest["n_warnings"]) if latest is not None else 0,
                "approval": appr["state"] if appr is not None else "-",
                "approved by": " + ".join(a for a in (appr["approved_by"], appr["bureau_approved_by"]) if a)
                if appr is not None
                else "",
            }
        )
    df = pd.DataFrame(rows)
    print(f"{cfg.name}: {len(df)} units, quarter {quarter}")
    print(_table(df))
    pending = approvals[approvals["state"] == "pending"]
    if not pending.empty:
        auth = cfg.authority
        print(
            f"Pending escalations, awaiting the {auth.bureau_role} ({' or '.join(auth.bureau_approvers) or 'nobody'}):"
        )
        for code, row in pending.iterrows():
            print(f"  {code}: {row['pending_summary']}")
    missing = df[df["submission"] == "-"]["unit"].tolist()
    if missing:
        print(f"No submission yet: {', '.join(missing)}")
    return 0


def cmd_review(args) -> int:
    from rbm_utils.core.config import PROJECT_ROOT
    from rbm_utils.exchange.pdf import PdfError
    from rbm_utils.exchange.reviews import ExportError, batch_exports, complete_unchanged
    from rbm_utils.publish.quarterly import FAILED, ReviewError, review_quarter

    cfg = _config(args)
    quarter = args.quarter or cfg.current_quarter
    if not args.all and not args.unit:
        raise UsageError("name the units to review with --unit U ... or give --all")
    try:
        exports = batch_exports(cfg, with_pdf=args.pdf)
    except PdfError as exc:
        print(f"rbm review: --pdf: {exc}", file=sys.stderr)
        return 1
    try:
        report = review_quarter(
            quarter,
            units=args.unit or (),
            all_units=args.all,
            joint=args.joint,
            store_url=args.store,
            outputs=args.outputs,
            workers=args.jobs,
            force=args.force,
            cell_timeout=args.cell_timeout,
            job_timeout=args.job_timeout,
            progress=not args.quiet,
            config=cfg,
            scheduler=args.scheduler,
            exports=exports,
        )
    except ReviewError as exc:
        print(f"rbm review: {exc}", file=sys.stderr)
        return 1
    try:  # a review left unchanged was not re-run: give it the exports it lacks (a first --pdf, say)
        complete_unchanged(report, Path(args.outputs or PROJECT_ROOT / "outputs"), quarter, cfg, with_pdf=args.pdf)
    except (ExportError, PdfError) as exc:
        print(f"rbm review: exports of unchanged reviews: {exc}", file=sys.stderr)
        return 1
    jobs = pd.DataFrame(report.get("jobs", []))
    if not jobs.empty:
        cols = [c for c in ("name", "status", "duration_s", "error_name", "error_cell") if c in jobs.columns]
        print(_table(jobs, cols))
    out = Path(args.outputs or "outputs") / quarter
    print(
        f"Review of {quarter}: {report.get('totals', {})} in {report.get('seconds')} s; report {out / 'run_report.json'}"
    )
    bad = [j["name"] for j in report.get("jobs", []) if j.get("status") in FAILED]
    if bad:
        print(
            f"Not published: {', '.join(bad)} (see the run report; failed runs stay in outputs/.staging)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_sample(args) -> int:
    from rbm_utils.demo.load import SampleError, ingest_history, sample_stories, write_latest

    cfg = _config(args)
    stories = sample_stories(cfg, seed=args.seed)
    paths = write_latest(args.out, stories)
    print(
        f"Wrote {len(paths)} illustrative sample workbooks of {cfg.current_quarter} to {args.out}: "
        f"{', '.join(p.stem for p in paths)}"
    )
    if args.store is None:
        return 0
    with _store(args) as st:
        print(f"Ingesting the sample's history quarter by quarter into {st.safe_url} ...", flush=True)
        try:
            report = ingest_history(st, cfg, stories, progress=lambda line: print(line, flush=True))
        except SampleError as exc:
            print(f"rbm sample: {exc}", file=sys.stderr)
            return 1
    print(report.message)
    return 0


def cmd_serve(args) -> int:
    from rbm_utils.core.config import PROJECT_ROOT
    from rbm_utils.serve.server import ServeError, ServeOptions, check_options, run

    cfg = _config(args)
    opts = ServeOptions(
        outputs=Path(args.outputs) if args.outputs else PROJECT_ROOT / "outputs",
        port=args.port,
        quarter=args.quarter,
        config_path=cfg.path,
        max_kernels=args.max_kernels,
        cull_idle_timeout=args.cull_idle_timeout,
    )
    try:
        opts = check_options(opts)
    except ServeError as exc:
        print(f"rbm serve: {exc}", file=sys.stderr)
        return 1
    print(f"Serving the managers' dashboards of {opts.outputs} at {opts.url} (read-only; Ctrl-C stops).", flush=True)
    try:
        return run(opts)
    except ServeError as exc:
        print(f"rbm serve: {exc}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rbm", description="RBM workbench: unit workbooks in, quarterly reviews out.", epilog=EPILOG
    )
    p.add_argument("--version", action="version", version=f"rbm {__version__}")
    p.add_argument("--config", help="settings file (default parameters/workbench.yaml or $RBM_CONFIG)")
    p.add_argument("--debug", action="store_true", help="log details to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str, func, store: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        sp.set_defaults(func=func)
        if store:
            sp.add_argument(
                "--store",
                help="store URL (default: settings' store.url or $RBM_STORE), "
                "e.g. sqlite:///data/rbm.sqlite or postgresql+psycopg://user@127.0.0.1/rbm",
            )
        return sp

    sp = add("template", "Write a unit's workbook (.xlsx, or a CSV folder) for the officer to fill in.", cmd_template)
    sp.add_argument("unit", help="unit code, e.g. AFR")
    sp.add_argument("--from-store", action="store_true", help="pre-fill with the unit's framework and previous actuals")
    sp.add_argument("--out", help="output file (default UNIT_QUARTER.xlsx)")
    sp.add_argument("--quarter", help="reporting quarter (default: the settings' current quarter)")
    sp.add_argument("--submitted-by", help="officer's name to put on the Unit sheet")
    sp.add_argument("--csv", action="store_true", help="write a folder of CSV files, one per sheet, instead")

    sp = add("ingest", "Validate workbooks (or CSV folders) and store them; report every problem at once.", cmd_ingest)
    sp.add_argument("files", nargs="+", metavar="FILE", help="workbook (.xlsx) or folder of CSV files")
    sp.add_argument("--by", default=_default_user(), help="who ingests (default: the login name)")
    sp.add_argument("--dry-run", action="store_true", help="validate and show what would change; store nothing")
    sp.add_argument("--show-warnings", action="store_true", help="list warnings of accepted files too")
    sp.add_argument("--report", help="also write every problem to this CSV file")

    sp = add(
        "approve",
        "Approve (lock) a unit-quarter: the unit's approver within its delegated authority; changes beyond it "
        "stay pending until a bureau approver approves them.",
        cmd_approve,
    )
    sp.add_argument("unit")
    sp.add_argument("quarter", help="e.g. 2026-Q3")
    sp.add_argument(
        "--by", required=True, help="approver's name as listed in parameters/workbench.yaml (unit or authority.bureau)"
    )

    sp = add("history", "Show a unit's submissions and the changes each made.", cmd_history)
    sp.add_argument("unit")
    sp.add_argument("--changes", type=int, default=40, help="how many of the latest changes to list (default 40)")

    sp = add("status", "Summary per unit of what the store holds for a quarter, and its approval state.", cmd_status)
    sp.add_argument("--quarter", help="default: the settings' current quarter")

    sp = add(
        "review",
        "Run the quarterly batch: snapshot, one review notebook per unit and joint pair, the bureau overview.",
        cmd_review,
    )
    sp.add_argument("--quarter", help="quarter to review (default: the settings' current quarter)")
    sp.add_argument("--unit", action="append", metavar="U", help="a unit to review (repeat for more)")
    sp.add_argument("--all", action="store_true", help="every unit with a submission")
    sp.add_argument(
        "--joint",
        action="append",
        metavar="CLUSTER-REGION",
        help="only these joint reviews (default: every cluster x region pair with work in common)",
    )
    sp.add_argument("--jobs", type=int, default=3, help="notebooks run at once (default 3; more than cores helps)")
    sp.add_argument("--outputs", help="outputs folder (default outputs/)")
    sp.add_argument("--force", action="store_true", help="re-publish a published quarter; the old version is archived")
    sp.add_argument("--cell-timeout", type=int, default=600, help="seconds one notebook cell may run (default 600)")
    sp.add_argument("--job-timeout", type=int, default=1800, help="seconds one notebook may run in all (default 1800)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the notebooks on this Dask distributed scheduler, e.g. tcp://10.0.0.5:8786 "
        "(workers need this environment and the outputs folder at the same path; --jobs is ignored)",
    )
    sp.add_argument(
        "--pdf", action="store_true", help="also publish each unit review's and the overview's PDF (needs chromium)"
    )

    sp = add(
        "sample",
        "Write the illustrative sample bureau: one workbook per unit for the current quarter; with --store, "
        "also ingest its history quarter by quarter (past quarters approved, the current one a draft).",
        cmd_sample,
        store=False,
    )
    sp.add_argument("--out", default="data/sample", help="folder (default data/sample)")
    sp.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    sp.add_argument(
        "--store",
        nargs="?",
        const="",
        metavar="URL",
        help="also ingest the history into this store (alone: the settings' store.url or $RBM_STORE); "
        "a store that already holds it is left alone",
    )

    from rbm_utils.exchange.commands import add_exchange_commands

    add_exchange_commands(sub, _config, UsageError, EPILOG)

    sp = add(
        "serve", "Serve the managers' dashboards (read-only Voila on 127.0.0.1) until Ctrl-C.", cmd_serve, store=False
    )
    sp.add_argument("--outputs", help="published outputs folder (default outputs/)")
    sp.add_argument("--quarter", help="quarter the landing page opens on (default: the newest published)")
    sp.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866; a busy port is an error)")
    sp.add_argument(
        "--max-kernels", type=int, default=40, help="page views served at once (default 40; more get the static copy)"
    )
    sp.add_argument(
        "--cull-idle-timeout",
        type=int,
        default=600,
        help="seconds before an idle page's kernel is stopped (default 600)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"rbm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rbm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last line of defence: a message, never a traceback
        from rbm_utils.core.config import ConfigError

        log.debug("unhandled error", exc_info=True)
        kind = "" if isinstance(exc, (ConfigError, OSError)) else f" ({exc.__class__.__name__})"
        print(f"rbm {args.command}: error{kind}: {exc}", file=sys.stderr)
        if os.environ.get("RBM_DEBUG"):
            raise
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
