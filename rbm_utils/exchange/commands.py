"""``rbm export excel`` and ``rbm export pdf``: the Excel packs or PDFs of published reviews, on demand.

``cli.py`` makes the ``rbm export`` group and hands its sub-parsers to :func:`add_review_exports`.

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser(prog="rbm export").add_subparsers(dest="export_kind")
    >>> add_review_exports(sub, "")
    >>> sorted(sub.choices)
    ['excel', 'pdf']
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rbm_utils.core.config import PROJECT_ROOT, load_config

KINDS = {
    "excel": "the Excel review pack (review_pack.xlsx) of published reviews, into their folders",
    "pdf": "the PDF (review.pdf) of published reviews, into their folders (printed by Debian's chromium)",
}


def add_review_exports(sub: Any, epilog: str) -> None:
    """Add ``excel`` and ``pdf`` to the sub-parsers of ``rbm export``."""
    for kind, what in KINDS.items():
        ep = sub.add_parser(kind, help=f"Write {what}.", description=f"Write {what}.", epilog=epilog)
        ep.set_defaults(func=cmd_export_reviews)
        ep.add_argument("--quarter", help="published quarter (default: the settings' current quarter)")
        ep.add_argument("--unit", action="append", metavar="U", help="a unit's review (repeat for more)")
        ep.add_argument("--overview", action="store_true", help="the bureau overview")
        ep.add_argument("--all", action="store_true", help="every published unit review and the overview")
        ep.add_argument("--outputs", help="published outputs folder (default outputs/)")


def cmd_export_reviews(args: argparse.Namespace) -> int:
    """Write the files; 0 done, 1 refused (the message says why), 2 nothing named."""
    # the batch and the browser driver load only when a command runs, not for every `rbm --help`
    from rbm_utils.exchange.pdf import PdfError
    from rbm_utils.exchange.reviews import ExportError, export_reviews, published_reviews

    prog = f"rbm export {args.export_kind}"
    cfg = load_config(getattr(args, "config", None))
    quarter = args.quarter or cfg.current_quarter
    outputs = Path(args.outputs) if args.outputs else PROJECT_ROOT / "outputs"
    if not (args.all or args.unit or args.overview):
        print(f"{prog}: name the reviews with --unit U ... (or --overview), or give --all", file=sys.stderr)
        return 2
    for u in args.unit or []:
        cfg.unit(u)  # an unknown code: the settings' error, with the known codes
    names = published_reviews(outputs, quarter, cfg) if args.all else [*(args.unit or [])]
    if args.overview and not args.all:
        names.append("overview")
    try:
        written = export_reviews(
            outputs, quarter, names, cfg, excel=args.export_kind == "excel", with_pdf=args.export_kind == "pdf"
        )
    except (ExportError, PdfError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"Wrote {len(written)} file(s) for {quarter}.")
    return 0
