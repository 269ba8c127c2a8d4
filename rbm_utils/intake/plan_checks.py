"""Results.programme and Results.theme against the Action Plan's code lists of the settings.

With ``action_plan.programmes`` listed in ``parameters/workbench.yaml``, Results.programme must
be one of their codes (``unknown_programme``); with ``action_plan.themes`` listed, Results.theme
must be one of theirs (``unknown_theme``). Each message suggests the nearest code (or, for a
programme's or theme's name typed in full, its code). A blank programme with a known theme
counts under the theme's programme (the analysis derives it; the workbook is stored as typed);
a programme that is not the theme's is a warning (``programme_theme_mismatch``). Without the
lists, both columns stay free text and nothing is checked.

Example:
    >>> nearest_code("brodband", {"broadband": "Broadband", "spectrum": "Spectrum"})
    'broadband'
    >>> nearest_code("Affordable connectivity", {"connectivity": "Affordable connectivity"})
    'connectivity'
    >>> nearest_code("zzz", {"broadband": "Broadband"}) is None
    True
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from rbm_utils.intake.context import Context

SHEET = "Results"


def nearest_code(value: str, names: Mapping[str, str]) -> str | None:
    """The code ``value`` most likely meant: the code whose name it is (ignoring case), else
    the nearest code by spelling (``difflib``, ignoring case), else None."""
    low = value.strip().lower()
    for code, name in names.items():
        if low in (code.lower(), name.strip().lower()):
            return code
    lowered = {c.lower(): c for c in names}
    close = difflib.get_close_matches(low, list(lowered), n=1)
    return lowered[close[0]] if close else None


def _hint(value: str, names: Mapping[str, str], what: str) -> str:
    code = nearest_code(value, names)
    if code is not None:
        return f"'{value}' is not a {what} code of parameters/workbench.yaml; did you mean {code} ({names[code]})?"
    return f"'{value}' is not a {what} code of parameters/workbench.yaml; the codes are: {', '.join(names)}."


def check_action_plan(ctx: Context) -> None:
    """Every Results row's programme and theme against ``ctx.config.action_plan`` (module docstring)."""
    plan = ctx.config.action_plan
    if not plan.programmes and not plan.themes:
        return
    for rec in ctx.records.get(SHEET, []):
        programme = rec.get("programme") or ""
        theme = rec.get("theme") or ""
        bad_programme = bool(plan.programmes) and bool(programme) and programme not in plan.programmes
        bad_theme = bool(plan.themes) and bool(theme) and theme not in plan.themes
        if bad_programme:
            ctx.add(
                "unknown_programme",
                SHEET,
                rec["_row"],
                "programme",
                programme,
                _hint(programme, plan.programmes, "programme"),
            )
        if bad_theme:
            ctx.add("unknown_theme", SHEET, rec["_row"], "theme", theme, _hint(theme, plan.themes, "theme"))
        expected = plan.theme_programme.get(theme, "")
        if programme and expected and not bad_programme and not bad_theme and programme != expected:
            ctx.add(
                "programme_theme_mismatch",
                SHEET,
                rec["_row"],
                "programme",
                programme,
                f"Theme {theme} is filed under programme {expected} ({plan.name(expected)}) in "
                f"parameters/workbench.yaml, not {programme}; the result counts under {programme} as written.",
            )
