"""Issue 17 item 5's figures for ``make bench``: headline keys, ratios and verdicts from the
``scale`` section (:mod:`bench.scale`), kept apart from ``bench/run.py``'s own tables.

Each ``*_200_*`` key holds the figure of the larger bureau measured, whatever its size
(``scale_large_units``: 200 in a full run, 40 with ``--quick``, ``--scale-units N`` otherwise).

Example:
    >>> d = {"scale": {"sizes": [13, 40], "13": {"local": {"seconds_per_unit": 2.0},
    ...      "pages": {"landing_seconds": 0.1, "overview_seconds": 1.0}},
    ...      "40": {"local": {"seconds_per_unit": 2.2}, "pages": {"landing_seconds": 0.15, "overview_seconds": 1.2}}}}
    >>> h, why = {}, {}
    >>> fill(h, why, d, {})["scale_200_vs_13_per_unit"]
    1.1
"""

from __future__ import annotations

from typing import Any

#: Headline keys of the scale section (numbers, or null with a reason).
KEYS = (
    "scale_large_units",
    "scale_13_seconds_per_unit",
    "scale_200_seconds_per_unit",
    "scale_200_vs_13_per_unit",
    "scale_13_cpu_seconds_per_unit",
    "scale_200_cpu_seconds_per_unit",
    "scale_200_vs_13_cpu_per_unit",
    "scale_dask_13_seconds_per_unit",
    "scale_dask_200_seconds_per_unit",
    "scale_dask_200_vs_13_per_unit",
    "landing_13_render_seconds",
    "landing_200_render_seconds",
    "landing_200_vs_13",
    "overview_13_render_seconds",
    "overview_200_render_seconds",
    "overview_200_vs_13",
    "store_200_sqlite_read_seconds",
    "store_200_postgres_read_seconds",
    "store_200_postgres_vs_sqlite_read",
    "store_200_sqlite_freeze_seconds",
    "store_200_postgres_freeze_seconds",
    "store_200_postgres_vs_sqlite_freeze",
)
#: Each ratio and the two figures it divides.
RATIOS = {
    "scale_200_vs_13_per_unit": ("scale_200_seconds_per_unit", "scale_13_seconds_per_unit"),
    "scale_200_vs_13_cpu_per_unit": ("scale_200_cpu_seconds_per_unit", "scale_13_cpu_seconds_per_unit"),
    "scale_dask_200_vs_13_per_unit": ("scale_dask_200_seconds_per_unit", "scale_dask_13_seconds_per_unit"),
    "landing_200_vs_13": ("landing_200_render_seconds", "landing_13_render_seconds"),
    "overview_200_vs_13": ("overview_200_render_seconds", "overview_13_render_seconds"),
    "store_200_postgres_vs_sqlite_read": ("store_200_postgres_read_seconds", "store_200_sqlite_read_seconds"),
    "store_200_postgres_vs_sqlite_freeze": ("store_200_postgres_freeze_seconds", "store_200_sqlite_freeze_seconds"),
}


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def fill(out: dict[str, Any], why: dict[str, str], details: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Add :data:`KEYS` to ``out`` (the headline) from ``details["scale"]``; reasons for nulls in ``why``."""
    for k in KEYS:
        out[k] = None
    s = details.get("scale") or {}
    sizes = s.get("sizes") or []
    small = s.get("13") or {}
    large = s.get(str(max(sizes))) if sizes and max(sizes) != 13 else None
    large = large or {}
    out["scale_large_units"] = large.get("units") if large else (max(sizes) if sizes else None)
    for size, d in (("13", small), ("200", large)):
        out[f"scale_{size}_seconds_per_unit"] = _get(d, "local", "seconds_per_unit")
        cpu = _get(d, "local", "cpu_seconds")
        out[f"scale_{size}_cpu_seconds_per_unit"] = cpu / d["units"] if cpu is not None and d.get("units") else None
        out[f"scale_dask_{size}_seconds_per_unit"] = _get(d, "dask", "seconds_per_unit")
        out[f"landing_{size}_render_seconds"] = _get(d, "pages", "landing_seconds")
        out[f"overview_{size}_render_seconds"] = _get(d, "pages", "overview_seconds")
    for kind in ("sqlite", "postgres"):
        out[f"store_200_{kind}_read_seconds"] = _get(large, kind, "bureau_state_seconds")
        out[f"store_200_{kind}_freeze_seconds"] = _get(large, kind, "freeze_seconds")
    for ratio, (num, den) in RATIOS.items():
        if out[num] is not None and out[den]:
            out[ratio] = round(out[num] / out[den], 3)
    for k in KEYS:
        if out[k] is None:
            if "scale" not in details:
                why[k] = errors.get("scale", "section scale was not run")
            elif k.startswith("store_") and s.get("postgres_error"):
                why[k] = s["postgres_error"]
            else:
                why[k] = "not measured in this run"
    return out


def ratios_json(h: dict[str, Any]) -> dict[str, Any]:
    """Each ratio with the names and values of its two figures (results.json's ``ratios``)."""
    return {
        r: {"value": h.get(r), "numerator": {num: h.get(num)}, "denominator": {den: h.get(den)}}
        for r, (num, den) in RATIOS.items()
    }


def targets(h: dict[str, Any], details: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of item 5 (rows as ``bench/run.py``'s targets)."""
    rows: list[dict[str, Any]] = []
    n = h.get("scale_large_units") or 200  # the size when the section did not run
    s = details.get("scale") or {}

    def add(name: str, key: str, bound: float, note: str) -> None:
        v = h.get(key)
        rows.append({"target": name, "value": v, "met": None if v is None else v <= bound, "note": note})

    def nb(size: str, run: str) -> str:
        d = _get(s, size, run) or {}
        return f"{d.get('notebooks')} notebooks in {d.get('seconds', 0):.0f} s" if d else "not run"

    big = str(n)
    add(
        f"time per unit flat from 13 to {n} units (local batch)",
        "scale_200_vs_13_per_unit",
        1.25,
        f"13 units: {nb('13', 'local')}; {n} units: {nb(big, 'local')} (one joint review per cluster, the overview)",
    )
    add(
        f"CPU per unit flat from 13 to {n} units (local batch)",
        "scale_200_vs_13_cpu_per_unit",
        1.25,
        "CPU-seconds of the batch's processes (kernels included) per unit: what a busy machine inflates least",
    )
    add(
        f"time per unit flat from 13 to {n} units (Dask, 2 workers)",
        "scale_dask_200_vs_13_per_unit",
        1.25,
        f"13 units: {nb('13', 'dask')}; {n} units: {nb(big, 'dask')}",
    )
    add(
        f"landing page with {n} units within 2x its 13-unit time",
        "landing_200_vs_13",
        2.0,
        "the landing page's HTML built from the published tables (serve.pages.landing.landing_html)",
    )
    add(
        f"overview with {n} units within 2x its 13-unit time",
        "overview_200_vs_13",
        2.0,
        "the overview dashboard's app built from the published tables (serve.pages.overview.page)",
    )
    add(
        f"PostgreSQL reads {n} units x 15 quarters as fast as SQLite",
        "store_200_postgres_vs_sqlite_read",
        1.1,
        f"Store.bureau_state; snapshot freeze {h.get('store_200_postgres_vs_sqlite_freeze')}x SQLite's",
    )
    return rows


def table(h: dict[str, Any], why: dict[str, str]) -> str:
    """The scale section's lines of the printed table."""
    lines = ["", f"{'scale (issue 17, item 5)':<40} {'value':>10}"]
    for k in KEYS:
        v = h.get(k)
        shown = "null" if v is None else f"{v:,.3f}" if isinstance(v, float) else str(v)
        lines.append(f"{k:<40} {shown:>10}  {why.get(k, '') if v is None else ''}"[:200])
    return "\n".join(lines) + "\n"
