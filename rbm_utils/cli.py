"""The ``rbm`` command line. Every command has ``--help``; no traceback reaches the user.

Exit codes: 0 success, 1 rejected or failed (the message says why), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rbm_utils import __version__

log = logging.getLogger("rbm")

WATCH_HELP = "Keep the open quarter's draft reviews up to date: each new submission republishes its unit's review, its joint reviews and the overview (rbm serve does it too, unless --no-refresh). Ctrl-C stops."
EPILOG = "Exit codes: 0 success, 1 rejected or failed (the message says why), 2 usage error."


class UsageError(Exception):
    """A command was called with words that do not fit (exit 2)."""


def _store(args):
    from rbm_utils.store.database import Store

    return Store(args.store or _config(args).store_url)


def _config(args):
    from rbm_utils.core.config import load_config

    if not hasattr(args, "_config"):
        args._config = load_config(getattr(args, "config", None))
    return args._config


def _table(df: pd.DataFrame, columns: Sequence[str] | None = None) -> None:
    from rbm_utils.store.console import print_table

    print_table(df, columns, empty="(none)", wrap=False)


# --------------------------------------------------------------------------- commands


def cmd_template(args) -> int:
    from rbm_utils.store.officer import run_template

    cfg = _config(args)
    if args.unit not in cfg.units:
        raise UsageError(f"unknown unit {args.unit!r}; known units: {', '.join(cfg.units)}")
    return run_template(args, cfg, lambda: _store(args))


def cmd_ingest(args) -> int:
    from rbm_utils.store.officer import run_ingest

    return run_ingest(args, _config(args), lambda: _store(args))


def cmd_history(args) -> int:
    from rbm_utils.store.officer import run_history

    return run_history(args, lambda: _store(args))


def cmd_status(args) -> int:
    from rbm_utils.core.config import PROJECT_ROOT

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
    _table(df)
    pending = approvals[approvals["state"] == "pending"]
    if not pending.empty:
        auth = cfg.authority
        print(
            f"Pending escalations, awaiting the {auth.bureau_role} ({' or '.join(auth.bureau_approvers) or 'nobody'}):"
        )
        for code, row in pending.iterrows():
            print(f"  {code}: {row['pending_summary']}")
    from rbm_utils.publish.watch import refresh_summary

    refresh = refresh_summary(Path(args.outputs or PROJECT_ROOT / "outputs"), quarter)
    if not refresh.empty:
        print("Refresh of the draft reviews (rbm watch, rbm serve):")
        _table(refresh)
    missing = df[df["submission"] == "-"]["unit"].tolist()
    if missing:
        print(f"No submission yet: {', '.join(missing)}")
    if len(missing) < len(df):
        print(f"Next: the quarter's reviews: rbm review --all --update --quarter {quarter}")
    else:
        print(f"Next: a unit's workbook to fill in: rbm template {df['unit'].iloc[0]} --quarter {quarter}")
    return 0


def cmd_watch(args) -> int:
    from rbm_utils.exchange.reviews import batch_exports
    from rbm_utils.publish.refresh import RefreshError
    from rbm_utils.publish.watch import run_watch

    cfg = _config(args)
    try:
        return run_watch(args, cfg, batch_exports(cfg, with_pdf=False))
    except RefreshError as exc:
        print(f"rbm watch: {exc}", file=sys.stderr)
        return 1


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
            update=args.update,
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
        _table(jobs, cols)
    out = Path(args.outputs or "outputs") / quarter
    totals = report.get("totals", {})
    said = ", ".join(f"{n} {k}" for k, n in totals.items() if n and k != "jobs") or "nothing to do"
    print(
        f"Review of {quarter}: {totals.get('jobs', 0)} reviews ({said}) in {report.get('seconds')} s; report {out / 'run_report.json'}"
    )
    bad = [j["name"] for j in report.get("jobs", []) if j.get("status") in FAILED]
    if bad:
        print(
            f"Not published: {', '.join(bad)} (see the run report; failed runs stay in outputs/.staging)",
            file=sys.stderr,
        )
        return 1
    print(f"Next: the managers' dashboards: rbm serve --quarter {quarter}   (or: make serve)")
    return 0


def cmd_sample(args) -> int:
    from rbm_utils.demo.load import SampleError, ingest_history, sample_stories, write_latest
    from rbm_utils.store.officer import PLANTED_NOTE

    cfg = _config(args)
    q = cfg.current_quarter
    stories = sample_stories(cfg, seed=args.seed)
    paths = write_latest(args.out, stories)
    print(f"Wrote {len(paths)} illustrative sample workbooks of {q} to {args.out}: {', '.join(p.stem for p in paths)}")
    if args.store is None:
        print(PLANTED_NOTE)
        print(
            f"Next: rbm ingest {Path(args.out) / paths[0].name} --dry-run   (or: rbm sample --store, the whole history)"
        )
        return 0
    with _store(args) as st:
        print(f"Ingesting the sample's history quarter by quarter into {st.safe_url} ...", flush=True)
        try:
            report = ingest_history(st, cfg, stories, progress=lambda line: print(line, flush=True))
        except SampleError as exc:
            print(f"rbm sample: {exc}", file=sys.stderr)
            return 1
    print(report.message)
    print(PLANTED_NOTE)
    print(f"Next: rbm status --quarter {q}   then: rbm review --all --update --quarter {q}")
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
        store_url=args.store or cfg.store_url,
        trusted_proxies=tuple(args.trusted_proxy),
        identity_header=args.identity_header,
        kernels_per_user=args.kernels_per_user,
    )
    try:
        opts = check_options(opts)
    except ServeError as exc:
        print(f"rbm serve: {exc}", file=sys.stderr)
        return 1
    print(f"Serving the managers' dashboards of {opts.outputs} at {opts.url} (read-only; Ctrl-C stops).", flush=True)
    from rbm_utils.publish.watch import start_watch, stop_watch

    store = getattr(args, "store", None)  # the refresh loop beside the dashboards, unless --no-refresh
    watcher = (
        None if args.no_refresh else start_watch(args.quarter or cfg.current_quarter, opts.outputs, cfg.path, store)
    )
    try:
        return run(opts)
    except ServeError as exc:
        print(f"rbm serve: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_watch(watcher)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rbm", description="RBM workbench: unit workbooks in, quarterly reviews out.", epilog=EPILOG
    )
    p.add_argument("--version", action="version", version=f"rbm {__version__}")
    p.add_argument("--config", help="settings file (default parameters/workbench.yaml or $RBM_CONFIG)")
    p.add_argument("--debug", action="store_true", help="log details to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str, func, store: bool = True) -> argparse.ArgumentParser:  # func None: subcommands
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
    sp.add_argument(
        "--from-store",
        action="store_true",
        help="pre-fill with the unit's framework and previous actuals, and add the quarter's rows to fill in "
        "(Actuals: one per KPI due; Expenditure: one per budget line)",
    )
    sp.add_argument("--out", help="output file (default UNIT_QUARTER.xlsx)")
    sp.add_argument("--quarter", help="reporting quarter (default: the settings' current quarter)")
    sp.add_argument(
        "--submitted-by", help="officer's name for the Unit sheet (default: $RBM_OFFICER, else the login name)"
    )
    sp.add_argument("--csv", action="store_true", help="write a folder of CSV files, one per sheet, instead")

    sp = add("ingest", "Validate workbooks (or CSV folders) and store them; report every problem at once.", cmd_ingest)
    sp.add_argument("files", nargs="+", metavar="FILE", help="workbook (.xlsx) or folder of CSV files")
    sp.add_argument(
        "--by", help="who ingests (default: the login name; once users are registered, only yourself: docs/users.md)"
    )
    sp.add_argument("--dry-run", action="store_true", help="validate and show what would change; store nothing")
    sp.add_argument("--show-warnings", action="store_true", help="list warnings of accepted files too")
    sp.add_argument("--report", help="also write every problem to this CSV file")
    sp.add_argument(
        "--force-over",
        type=int,
        metavar="M",
        help="store the workbook over submission M, newer than the one it was made from (recorded)",
    )

    from rbm_utils.store.user_commands import add_user_commands

    add_user_commands(sub, add, _store, _config)  # approve, unlock, user: as the signed-in person

    sp = add("history", "Show a unit's submissions, one line each; the changed values on request.", cmd_history)
    sp.add_argument("unit")
    sp.add_argument("--submission", type=int, metavar="N", help="the values submission N changed")
    sp.add_argument("--kpi", metavar="ID", help="the changes of one KPI (its definition, milestones and actuals)")
    sp.add_argument(
        "--last", type=int, default=12, help="how many of the latest submissions to list (0: all; default 12)"
    )

    sp = add("status", "Summary per unit of what the store holds for a quarter, and its approval state.", cmd_status)
    sp.add_argument("--quarter", help="default: the settings' current quarter")
    sp.add_argument("--outputs", help="outputs folder, for the refresh of the draft reviews (default outputs/)")

    sp = add("watch", WATCH_HELP, cmd_watch)
    sp.add_argument("--quarter", help="the open quarter (default: the settings' current quarter)")
    sp.add_argument("--outputs", help="outputs folder (default outputs/)")
    sp.add_argument("--interval", type=float, default=10.0, help="seconds between two reads of the store (default 10)")
    sp.add_argument(
        "--settle", type=float, default=2.0, help="seconds to wait for submissions sent together (default 2)"
    )
    sp.add_argument("--jobs", type=int, default=3, help="notebooks run at once (default 3)")
    sp.add_argument("--max-refreshes", type=int, help=argparse.SUPPRESS)

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
    sp.add_argument(
        "--update",
        action="store_true",
        help="if the store changed since the quarter was published, publish it again (the old snapshot archived); "
        "only the reviews whose figures changed run again",
    )
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

    from rbm_utils.exchange.digest import add_digest_command

    add_digest_command(sub, _config, _store, UsageError, EPILOG)

    sp = add(
        "serve",
        "Serve the managers' dashboards (read-only Voila on 127.0.0.1, sign-in required) until Ctrl-C.",
        cmd_serve,
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
    sp.add_argument(
        "--no-refresh", action="store_true", help="do not run the refresh loop (rbm watch) beside the dashboards"
    )
    sp.add_argument("--kernels-per-user", type=int, default=4, help="page views one user holds at once (default 4)")
    sp.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="single sign-on: trust --identity-header from this proxy address (repeatable; docs/dashboards.md)",
    )
    sp.add_argument(
        "--identity-header", default="X-Forwarded-User", help="the proxy's user header (default X-Forwarded-User)"
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
    from rbm_utils.core.text import terminal_safe
    from rbm_utils.store.console import safe_stdout

    try:
        with safe_stdout():  # no workbook value reaches the terminal as an escape sequence
            return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"rbm {args.command}: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rbm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last line of defence: a message, never a traceback
        from rbm_utils.core.config import ConfigError

        log.debug("unhandled error", exc_info=True)
        kind = "" if isinstance(exc, (ConfigError, OSError)) else f" ({exc.__class__.__name__})"
        print(f"rbm {args.command}: error{kind}: {terminal_safe(exc)}", file=sys.stderr)
        if os.environ.get("RBM_DEBUG"):
            raise
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
