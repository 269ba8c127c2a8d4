"""``rbm serve``: the managers' dashboards on a hardened, standalone Voila.

Managers open the quarterly reviews in a browser; they never see code and cannot change
data. This module builds the Voila configuration kept in the repository and runs standalone
Voila (:class:`rbm_utils.serve.voila_app.DashboardVoila`, a small subclass of ``voila.app.Voila``; never the JupyterLab
server extension, which would put the whole Jupyter API on the same origin):

- bound to 127.0.0.1 only, ``port_retries = 0`` (a busy port is an error, not a silent move);
- served root ``dashboards/``: the dashboard notebooks only. The published outputs stay outside
  it and reach the kernels through ``$RBM_OUTPUTS``; the notebooks read only published files;
- ``/`` redirects to the landing page; the directory listing and the contents API are removed;
  ``/voila/files/`` serves nothing (empty allow-list; notebooks and scripts also deny-listed);
- sources stripped, no tracebacks to the page, no template or theme override from the URL,
  no voila.json or voila.py picked up from the working directory or ~/.jupyter;
- template ``rbm`` (``dashboards/templates/rbm``): "lab" without its two CDN stylesheets;
- each cell may run ``cell_timeout`` seconds (VoilaExecutor.timeout);
- kernels: at most ``max_kernels`` at once (a page view beyond that gets HTTP 503, linking to the review's static copy), each kernel's
  heap and private mappings capped at ``kernel_memory_mb`` (RLIMIT_DATA), idle kernels culled after
  ``cull_idle_timeout`` seconds (also when a tab is still open: the page stays readable, its
  filters stop until reloaded), and a kernel environment without the server's secrets
  (:func:`kernel_environment`: no store URL or password reaches a kernel), marked
  ``RBM_FROZEN_ONLY=1`` (:func:`dashboard_kernel_environment`: the bureau analysis refuses to run
  there; pages read published tables only);
- no preheated kernels: see docs/dashboards.md (parameters come from the query string, which a
  preheated kernel only learns after it ran; a pool holds kernels forever and the culler kills
  pooled kernels);
- kernel sockets polled in short slices (:func:`rbm_utils.serve.voila_app.bound_lost_wakeups`: a missed wake-up in the
  asyncio ZMQ poll otherwise stalls a page until the executor timeout);
- sign-in required on every route (:mod:`rbm_utils.serve.signin`: users and approval states from
  the store ``store_url``; an identity header trusted from ``trusted_proxies`` only); each reader
  sees approved quarters and their own units' drafts (:mod:`rbm_utils.serve.access`) and holds at
  most ``kernels_per_user`` kernels;
- security headers on every response (pages, static files, redirects, errors, refused websockets;
  :mod:`rbm_utils.serve.headers`): a Content-Security-Policy that only allows this server and no
  inline script or ``eval`` (no request can leave the machine, even from injected markup),
  ``X-Frame-Options: DENY``, no referrer; Host header checked (loopback names only: guards
  against DNS rebinding);
- MathJax off (:mod:`rbm_utils.serve.typesetting`): workbook text is never typeset.

Example:
    >>> opts = ServeOptions(outputs=Path("outputs"), port=8866)
    >>> hardened_config(opts)["VoilaConfiguration"]["strip_sources"]
    True
    >>> serve_command(opts)[1:3]
    ['-m', 'rbm_utils.serve.server']
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from traitlets.config import Config

from rbm_utils.core.config import PROJECT_ROOT
from rbm_utils.serve import headers
from rbm_utils.serve.data import OUTPUTS_ENV, QUARTER_ENV, published_quarters

log = logging.getLogger(__name__)

DASHBOARDS = PROJECT_ROOT / "dashboards"
TEMPLATE_NAME = "rbm"
TEMPLATE_DIR = DASHBOARDS / "templates" / TEMPLATE_NAME
LANDING = "voila/render/index.ipynb"
CONFIG_ENV = "RBM_CONFIG"
#: Marks a dashboard kernel as a reader of published tables only: the bureau analysis refuses to
#: run there (one of :data:`rbm_utils.analytics.bureau.FROZEN_ONLY_ENV`).
FROZEN_ONLY_ENV = "RBM_FROZEN_ONLY"
LOOPBACK = "127.0.0.1"

#: Environment variables a dashboard kernel may see (exact names, or prefixes ending in "_").
#: Everything else of the server's environment (RBM_STORE, PG*, tokens, cloud keys ...) is dropped.
KERNEL_ENV_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "USER",
    "LOGNAME",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "MPLBACKEND",
    "MPLCONFIGDIR",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    OUTPUTS_ENV,
    QUARTER_ENV,
    CONFIG_ENV,
    "QUERY_STRING",
    "SCRIPT_NAME",
    "PATH_INFO",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_SOFTWARE",
    "SERVER_PROTOCOL",
)
KERNEL_ENV_PREFIXES = ("LC_", "VOILA_", "JPY_", "JUPYTER_", "IPYTHON", "CONDA_")

#: Content-Security-Policy of every response (and the other security headers: serve/headers.py).
CSP = headers.CSP


class ServeError(RuntimeError):
    """The dashboards cannot be served (no outputs, busy port, unknown quarter)."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``rbm serve`` may change; everything else of the configuration is fixed.

    ``cull_idle_timeout``: seconds without kernel activity before a dashboard kernel is shut
    down; ``cull_interval``: how often the culler looks; ``max_kernels``: kernels alive at once
    (one per open page); ``kernel_memory_mb``: RLIMIT_DATA of each kernel (0 = none);
    ``cell_timeout``: seconds a dashboard cell may run; ``render_slots``: pages whose notebook runs
    at once (later views wait their turn, first come first served).
    """

    outputs: Path
    port: int = 8866
    quarter: str | None = None
    config_path: Path | None = None
    ip: str = LOOPBACK
    cull_idle_timeout: int = 600
    cull_interval: int = 60
    max_kernels: int = 40
    kernel_memory_mb: int = 1536
    cell_timeout: int = 120
    render_slots: int = 2
    root: Path = field(default=DASHBOARDS)
    store_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    identity_header: str = "X-Forwarded-User"
    kernels_per_user: int = 4
    cache_seconds: int = 30

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/"


# --------------------------------------------------------------------------- configuration


def kernel_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` a dashboard kernel may see.

    >>> kernel_environment({"PATH": "/bin", "RBM_STORE": "postgresql://u:secret@db/rbm", "QUERY_STRING": "unit=AFR"})
    {'PATH': '/bin', 'QUERY_STRING': 'unit=AFR'}
    """
    return {k: v for k, v in env.items() if k in KERNEL_ENV_NAMES or k.startswith(KERNEL_ENV_PREFIXES)}


def dashboard_kernel_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a dashboard kernel: :func:`kernel_environment` of ``env``, marked
    frozen-only (``RBM_FROZEN_ONLY=1``), so no page can recompute the analysis.

    >>> dashboard_kernel_environment({"PATH": "/bin", "PGPASSWORD": "secret"})
    {'PATH': '/bin', 'RBM_FROZEN_ONLY': '1'}
    """
    return {**kernel_environment(env), FROZEN_ONLY_ENV: "1"}


def hardened_config(opts: ServeOptions) -> dict[str, dict[str, Any]]:
    """The traitlets configuration of the dashboards' Voila (one dict per configurable class)."""
    return {
        "Voila": {
            "ip": opts.ip,
            "port": int(opts.port),
            "port_retries": 0,
            "open_browser": False,
            "root_dir": str(opts.root),
            "identity_provider_class": "rbm_utils.serve.signin.DashboardIdentityProvider",
            "tornado_settings": {
                "allow_unauthenticated_access": False,  # every Jupyter handler asks who the request is for
                "allow_remote_access": False,  # Host header must be a loopback name/address
                "local_hostnames": ["localhost"],
                "xsrf_cookie_kwargs": {"samesite": "Strict"},
                # Jupyter's handlers send these; every other response gets them from serve/headers.py
                "headers": {"Content-Security-Policy": CSP, **headers.HEADERS},
            },
        },
        "VoilaConfiguration": {
            "template": TEMPLATE_NAME,
            "strip_sources": True,
            "show_tracebacks": False,
            "allow_template_override": "NO",
            "allow_theme_override": "NO",
            "file_allowlist": [],  # /voila/files/ serves nothing
            "file_denylist": [r".*\.(ipynb|py|parquet|json|yaml|yml|sqlite|db|xlsx|csv|html|j2)", r"(.*/)?\..*"],
            "preheat_kernel": False,
            "progressive_rendering": False,
            "http_header_envs": [],
            "multi_kernel_manager_class": "rbm_utils.serve.server.DashboardKernelManager",
        },
        "VoilaExecutor": {
            "timeout": int(opts.cell_timeout),
            "interrupt_on_timeout": False,
            "startup_timeout": 60,
            "cell_error_instruction": "This part of the dashboard could not be shown; the details are in the server log.",
            "cell_timeout_instruction": "This part of the dashboard took too long; the details are in the server log.",
        },
        "DashboardKernelManager": {
            "cull_idle_timeout": int(opts.cull_idle_timeout),
            "cull_interval": int(opts.cull_interval),
            "cull_connected": True,
            "cull_busy": False,
            "max_kernels": int(opts.max_kernels),
            "kernel_memory_mb": int(opts.kernel_memory_mb),
            "render_slots": int(opts.render_slots),
            "max_kernels_per_user": int(opts.kernels_per_user),
        },
        "DashboardIdentityProvider": {
            "store_url": opts.store_url or "",
            "trusted_proxies": list(opts.trusted_proxies),
            "identity_header": opts.identity_header,
            "cache_seconds": int(opts.cache_seconds),
        },
    }


def server_environment(opts: ServeOptions, base: Mapping[str, str], jupyter_path: Path | None = None) -> dict[str, str]:
    """The environment the server runs with: outputs, quarter and settings for the kernels,
    and the template folder on JUPYTER_PATH."""
    env = dict(base)
    env[OUTPUTS_ENV] = str(Path(opts.outputs).resolve())
    if opts.quarter:
        env[QUARTER_ENV] = opts.quarter
    else:
        env.pop(QUARTER_ENV, None)
    if opts.config_path:
        env[CONFIG_ENV] = str(Path(opts.config_path).resolve())
    if jupyter_path is not None:
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(jupyter_path), *([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else [])]
        )
    return env


def install_template(runtime: Path) -> Path:
    """Lay the repository's template out as Voila looks for templates (``<root>/voila/templates/rbm``)
    under ``runtime``; returns the root to put on JUPYTER_PATH."""
    root = Path(runtime) / "share"
    dest = root / "voila" / "templates" / TEMPLATE_NAME
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(TEMPLATE_DIR, dest)
    return root


def serve_command(opts: ServeOptions, python: str | None = None) -> list[str]:
    """The command that runs the dashboards' server in a child process (for tests and services)."""
    cmd = [
        python or sys.executable,
        "-m",
        "rbm_utils.serve.server",
        "--outputs",
        str(Path(opts.outputs).resolve()),
        "--port",
        str(opts.port),
        "--cull-idle-timeout",
        str(opts.cull_idle_timeout),
        "--cull-interval",
        str(opts.cull_interval),
        "--max-kernels",
        str(opts.max_kernels),
        "--kernel-memory-mb",
        str(opts.kernel_memory_mb),
        "--cell-timeout",
        str(opts.cell_timeout),
        "--render-slots",
        str(opts.render_slots),
        "--kernels-per-user",
        str(opts.kernels_per_user),
        "--identity-header",
        opts.identity_header,
        "--cache-seconds",
        str(opts.cache_seconds),
    ]
    for proxy in opts.trusted_proxies:
        cmd += ["--trusted-proxy", proxy]
    if opts.quarter:
        cmd += ["--quarter", opts.quarter]
    if opts.config_path:
        cmd += ["--config", str(Path(opts.config_path).resolve())]
    return cmd


def check_options(opts: ServeOptions) -> ServeOptions:
    """Refuse what cannot be served: a missing outputs folder, an unpublished ``--quarter``,
    a non-loopback address, a busy port. Returns the options with the outputs made absolute."""
    out = Path(opts.outputs).resolve()
    if not out.is_dir():
        raise ServeError(f"no outputs folder {out}: run `rbm review` first (make run does)")
    quarters = published_quarters(out)
    if opts.quarter and opts.quarter not in quarters:
        raise ServeError(
            f"quarter {opts.quarter} is not published in {out}; published: {', '.join(quarters) or 'none'}"
        )
    if opts.ip != LOOPBACK:
        raise ServeError(
            "the dashboards bind to 127.0.0.1 only; put a reverse proxy with sign-on in front to share them"
        )
    for proxy in opts.trusted_proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            raise ServeError(f"--trusted-proxy {proxy!r} is not an IP address") from None
    if not 0 < int(opts.port) < 65536:
        raise ServeError(f"bad port {opts.port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((opts.ip, int(opts.port)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {opts.port} is in use; pick another with --port") from None
            raise ServeError(f"cannot listen on {opts.ip}:{opts.port}: {exc}") from None
    if not quarters:
        log.warning("nothing is published in %s yet: the landing page will say so", out)
    return replace(opts, outputs=out)


# --------------------------------------------------------------------------- the server


def __getattr__(name: str) -> Any:
    # The Voila classes live in rbm_utils.serve.voila_app, which imports Voila (slow): they load on
    # first use, so `import rbm_utils.serve.server` stays light and the configuration can name them here.
    if name in ("DashboardKernelManager", "DashboardVoila"):
        from rbm_utils.serve import voila_app

        return getattr(voila_app, name)
    raise AttributeError(name)


def run(opts: ServeOptions) -> int:
    """Serve in this process until interrupted (Ctrl-C or SIGTERM). Returns an exit status."""
    from rbm_utils.serve import voila_app  # Voila is slow to import: only when serving

    opts = check_options(opts)
    voila_app.bound_lost_wakeups()
    runtime = Path(tempfile.mkdtemp(prefix="rbm-serve-"))
    try:
        share = install_template(runtime)
        os.environ.update(server_environment(opts, os.environ, share))
        if not opts.quarter:
            os.environ.pop(QUARTER_ENV, None)
        app = voila_app.DashboardVoila(config=Config(hardened_config(opts)))
        app.initialize([str(opts.root)])
        app.start()  # blocks until Ctrl-C or SIGTERM; stops every kernel on the way out
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    return 0


def start_server(
    opts: ServeOptions,
    *,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.STDOUT,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start the server in a child process (its own process group, so it can be stopped whole).
    The store URL goes through ``$RBM_STORE``, never the command line (other users see that)."""
    child_env = dict(env if env is not None else os.environ)
    if opts.store_url:
        child_env["RBM_STORE"] = opts.store_url
    return subprocess.Popen(
        serve_command(opts),
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        env=child_env,
        cwd=str(PROJECT_ROOT),
        start_new_session=True,
    )


def wait_until_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers (any HTTP status); raise ServeError if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServeError(f"the dashboards' server exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ServeError(f"the dashboards' server did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a server started by :func:`start_server` and its kernels (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- child entry point


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rbm_utils.serve.server", description="Serve the managers' dashboards (see rbm serve)."
    )
    d = ServeOptions(outputs=Path("outputs"))
    p.add_argument("--outputs", required=True)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--quarter")
    p.add_argument("--config")
    p.add_argument("--cull-idle-timeout", type=int, default=d.cull_idle_timeout)
    p.add_argument("--cull-interval", type=int, default=d.cull_interval)
    p.add_argument("--max-kernels", type=int, default=d.max_kernels)
    p.add_argument("--kernel-memory-mb", type=int, default=d.kernel_memory_mb)
    p.add_argument("--cell-timeout", type=int, default=d.cell_timeout)
    p.add_argument("--render-slots", type=int, default=d.render_slots)
    p.add_argument("--kernels-per-user", type=int, default=d.kernels_per_user)
    p.add_argument("--identity-header", default=d.identity_header)
    p.add_argument("--cache-seconds", type=int, default=d.cache_seconds)
    p.add_argument("--trusted-proxy", action="append", default=[])
    return p


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        outputs=Path(args.outputs),
        port=args.port,
        quarter=args.quarter,
        config_path=Path(args.config) if args.config else None,
        cull_idle_timeout=args.cull_idle_timeout,
        cull_interval=args.cull_interval,
        max_kernels=args.max_kernels,
        kernel_memory_mb=args.kernel_memory_mb,
        cell_timeout=args.cell_timeout,
        render_slots=args.render_slots,
        kernels_per_user=args.kernels_per_user,
        identity_header=args.identity_header,
        trusted_proxies=tuple(args.trusted_proxy),
        cache_seconds=args.cache_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(options_from_args(args))
    except ServeError as exc:
        print(f"rbm serve: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
