"""``rbm user add|list|disable|enable|reset``, ``rbm approve`` and ``rbm unlock`` as the terminal shows them.

The person at the terminal is their operating-system login mapped to a registered user
(:func:`rbm_utils.store.signoff.signed_in`). Once any user exists only leadership manages users
(anyone may reset their own password); the very first user may be added by anyone who can open
the store, and must be leadership. Passwords are read from standard input, never from an
argument: one line when the input is not a terminal, typed twice (hidden) when it is.
Exit codes: 0 done, 1 refused (the one-line message says why), 2 usage error (docs/users.md).

Example:
    >>> import io
    >>> read_password(io.StringIO("correct horse battery\\n"))
    'correct horse battery'
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rbm_utils.core.config import Config
from rbm_utils.store.approvals import approval_summary, show_time
from rbm_utils.store.console import print_table
from rbm_utils.store.errors import ApprovalError
from rbm_utils.store.signoff import FIRST_USER, approve_as, current_login, sign_in_name, signed_in, unlock
from rbm_utils.store.users import (
    ROLES,
    USER_NAME,
    User,
    UserError,
    add_user,
    get_user,
    has_users,
    list_users,
    reset_password,
    set_active,
)

__all__ = ["add_user_commands", "read_password"]

Opener = Callable[[Any], Any]
ConfigOf = Callable[[Any], Config]


def read_password(stream: IO[str] | None = None) -> str:
    """The password from ``stream`` (standard input): one line, or typed twice when it is a terminal."""
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise UserError("the two passwords differ; nothing changed")
        return first
    line = stream.readline()
    if not line.strip():
        raise UserError("no password on standard input (give it as one line, e.g. from a password manager)")
    return line.rstrip("\r\n")


def _refused(command: str, exc: Exception) -> int:
    print(f"rbm {command}: refused: {exc}", file=sys.stderr)
    return 1


def _leadership(st: Any, action: str) -> User:
    """The signed-in user when they are leadership; :class:`UserError` otherwise."""
    try:
        user = signed_in(st, current_login())
    except ApprovalError as exc:
        raise UserError(str(exc)) from None
    if not user.is_leadership:
        raise UserError(f"only the bureau's leadership may {action}; you are {user.name} ({user.role})")
    return user


# --------------------------------------------------------------------------- rbm user


def cmd_user_add(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    cfg = config_of(args)
    unknown = [u for u in args.unit or () if u.strip().upper() not in cfg.units]
    if unknown:
        return _refused(
            "user add", UserError(f"unknown unit {', '.join(unknown)}; known units: {', '.join(cfg.units)}")
        )
    with open_store(args) as st:
        try:
            if has_users(st):
                _leadership(st, "add users")
            elif args.role != "leadership":
                raise UserError(f"the first user of a store must be leadership (--role leadership), not {args.role}")
            user = add_user(st, args.name, args.role, args.unit or (), read_password(), args.os_login)
        except UserError as exc:
            return _refused("user add", exc)
    units = f" of {', '.join(user.units)}" if user.units else ""
    login = f", command-line login {user.os_login}" if user.os_login else ""
    print(f"Added {user.name}: {user.role}{units}{login}.")
    return 0


def cmd_user_list(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    with open_store(args) as st:
        if not has_users(st):
            print(f"No user yet: {FIRST_USER}")
            return 0
        try:
            _leadership(st, "list users")
        except UserError as exc:
            return _refused("user list", exc)
        users = list_users(st)
    users["active"] = users["active"].map({True: "yes", False: "disabled"})
    for col in ("created_at", "changed_at"):
        users[col] = users[col].map(show_time)
    print(f"{len(users)} user(s):")
    print_table(users.fillna(""), wrap=False)
    return 0


def _set_active(args: Any, open_store: Opener, active: bool) -> int:
    word = "enable" if active else "disable"
    with open_store(args) as st:
        try:
            me = _leadership(st, f"{word} users")
            target = get_user(st, args.name)
            if target is None:
                raise UserError(f"no user {args.name!r} (rbm user list shows who is registered)")
            if not active and target.is_leadership:
                others = list_users(st)
                others = others[(others["role"] == "leadership") & others["active"] & (others["name"] != target.name)]
                if others.empty:
                    raise UserError(f"{target.name} is the last active leadership user; nobody could manage users")
            set_active(st, args.name, active)
        except UserError as exc:
            return _refused(f"user {word}", exc)
    said = "may sign in again" if active else "can no longer sign in, ingest or approve"
    print(f"{args.name} {said} ({word}d by {me.name}).")
    return 0


def cmd_user_disable(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    return _set_active(args, open_store, False)


def cmd_user_enable(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    return _set_active(args, open_store, True)


def cmd_user_reset(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    with open_store(args) as st:
        try:
            me = signed_in(st, current_login()) if has_users(st) else None
            if me is None or (not me.is_leadership and me.name != args.name):
                _leadership(st, "reset another user's password")
            reset_password(st, args.name, read_password())
        except (UserError, ApprovalError) as exc:
            return _refused("user reset", exc)
    print(f"New password set for {args.name}.")
    return 0


def bootstrap_name(cfg: Config) -> str:
    """The first leadership user's name: the settings' first bureau approver as a sign-in name
    (so the newcomer may approve at once), else ``admin``."""
    names = [sign_in_name(n) for n in cfg.authority.bureau_approvers]
    return next((n for n in names if USER_NAME.match(n)), "admin")


def cmd_user_bootstrap(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    """``make run``'s first step: a local leadership user when the store has none (else one line)."""
    cfg = config_of(args)
    url = f"http://127.0.0.1:{args.port}/login"
    with open_store(args) as st:
        if has_users(st):
            print(f"Sign in at {url} as a registered user (rbm user list shows them).")
            return 0
        name, password = bootstrap_name(cfg), secrets.token_urlsafe(18)
        secret = Path(args.password_file)
        secret.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        os.chmod(secret, 0o600)
        try:
            add_user(st, name, "leadership", (), password, current_login())
        except UserError as exc:
            secret.unlink(missing_ok=True)
            return _refused("user bootstrap", exc)
    print(f"Added the local administrator {name} (leadership; your login {current_login()} acts as them).")
    print(f"Sign in at {url} as {name} with the password in {secret} (readable by you only).")
    return 0


# --------------------------------------------------------------------------- approve, unlock


def cmd_approve(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    cfg = config_of(args)
    with open_store(args) as st:
        try:
            user = signed_in(st, current_login(), args.by)
            rec = approve_as(st, args.unit, args.quarter, user, cfg)
        except ApprovalError as exc:
            return _refused("approve", exc)
    print(approval_summary(rec, cfg.authority, cfg.currency))
    print(f"Recorded as signed-in user {rec['user']}.")
    print(f"Next: the quarter's review: rbm review --unit {args.unit} --quarter {rec['quarter']}")
    return 0


def cmd_unlock(args: Any, open_store: Opener, config_of: ConfigOf) -> int:
    cfg = config_of(args)
    with open_store(args) as st:
        try:
            user = signed_in(st, current_login())
            rec = unlock(st, args.unit, args.quarter, user, args.reason, cfg)
        except ApprovalError as exc:
            return _refused("unlock", exc)
    print(
        f"{rec['unit_code']} {rec['quarter']} unlocked by {rec['unlocked_by']} at {rec['unlocked_at']} "
        f"({'; '.join(rec['lifted'])} lifted). Reason: {rec['reason']}"
    )
    print(f"It is a draft again: a corrected workbook may be ingested, then: rbm approve {args.unit} {rec['quarter']}")
    return 0


# --------------------------------------------------------------------------- parser


def add_user_commands(sub: Any, add: Callable[..., Any], open_store: Opener, config_of: ConfigOf) -> None:
    """Add ``approve``, ``unlock`` and ``user`` to the ``rbm`` parser; ``add(name, help, func)``
    is the parser's own adder (it gives ``--store``)."""

    def bound(func: Callable[[Any, Opener, ConfigOf], int]) -> Callable[[Any], int]:
        return lambda args: func(args, open_store, config_of)

    sp = add(
        "approve",
        "Approve (lock) a unit-quarter as the signed-in user (your login's registered user): the unit's approver "
        "within its delegated authority; changes beyond it stay pending until a bureau approver approves them.",
        bound(cmd_approve),
    )
    sp.add_argument("unit")
    sp.add_argument("quarter", help="e.g. 2026-Q3")
    sp.add_argument("--by", help="yourself only (your user name or your name as the settings spell it); optional")

    sp = add(
        "unlock",
        "Lift the lock of an approved unit-quarter (the bureau's leadership or bureau approver, never the approver "
        "themself), with the reason; recorded in the change log.",
        bound(cmd_unlock),
    )
    sp.add_argument("unit")
    sp.add_argument("quarter", help="e.g. 2026-Q3")
    sp.add_argument("--reason", required=True, help="why the approved figures must change (recorded)")

    up = add("user", "Manage the people who may sign in (the bureau's leadership; see docs/users.md).", None, False)
    users = up.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    def action(name: str, help_: str, func: Callable[[Any, Opener, ConfigOf], int], named: bool = True) -> Any:
        ap = users.add_parser(name, help=help_, description=help_, epilog=up.epilog)
        ap.set_defaults(func=bound(func))
        if named:
            ap.add_argument("name", help="sign-in name, e.g. amara.diallo (lower case)")
        ap.add_argument("--store", help="store URL (default: the settings' store.url or $RBM_STORE)")
        return ap

    ap = action("add", "Register a person; the password is read from standard input.", cmd_user_add)
    ap.add_argument("--role", required=True, choices=ROLES)
    ap.add_argument("--unit", action="append", metavar="UNIT", help="a unit of theirs (repeat for more)")
    ap.add_argument("--os-login", help="their operating-system login on this machine (for rbm approve and ingest)")
    ap = action(
        "bootstrap",
        "When the store has no user: add a local leadership user for your login, its password in a file.",
        cmd_user_bootstrap,
        named=False,
    )
    ap.add_argument("--password-file", default="data/admin-password.txt", help="where the password is written (0600)")
    ap.add_argument("--port", type=int, default=8866, help="the dashboards' port, for the sign-in address printed")
    action("list", "Every user: role, units, login, active (never a password).", cmd_user_list, named=False)
    action("disable", "Stop a user from signing in, ingesting or approving.", cmd_user_disable)
    action("enable", "Let a disabled user sign in again.", cmd_user_enable)
    action("reset", "Set a new password (read from standard input).", cmd_user_reset)
