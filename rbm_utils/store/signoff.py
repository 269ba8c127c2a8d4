"""Approvals and unlocks by a registered person: who is signed in, what their role allows, what is recorded.

A person approves a unit-quarter when **both** hold:

- their role allows it (:meth:`~rbm_utils.store.users.User.approves`: a unit head, cluster
  facilitator or regional director of the unit, or leadership; the bureau's approval of changes
  beyond the unit's authority needs ``leadership``);
- the settings name them (``approvers`` of the unit, or ``authority.bureau.approvers``). A
  registered user *is* the settings' name when their sign-in name is that name written as a
  sign-in name (:func:`sign_in_name`: ``Amara Diallo`` is ``amara.diallo``).

The approval keeps the settings' spelling as ``approved_by`` (what reviews and dashboards show)
and the sign-in name in the change log (``approved_by_user``). An unlock lifts the lock of an
approved quarter: only leadership or a bureau approver may, never the person who approved it,
and with a reason; it is recorded in the change log (``unlocked_by``, ``unlocked_at``,
``unlock_reason``) with the approvals it lifted. With no user registered at all, nobody may
approve or unlock (the message says how to add the first user). docs/users.md explains it.

Example:
    >>> sign_in_name("  Amara Diallo "), sign_in_name("José  Núñez-Ortiz")
    ('amara.diallo', 'jose.nunez-ortiz')
"""

from __future__ import annotations

import getpass
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.store.approvals import APPROVAL_SHEET, Approver, authorised_approver, record_approval, show_time
from rbm_utils.store.errors import ApprovalError
from rbm_utils.store.escalation import approval_rows
from rbm_utils.store.tables import TABLES
from rbm_utils.store.users import User, has_users, user_for_login

if TYPE_CHECKING:
    from rbm_utils.store.database import Store

__all__ = [
    "FIRST_USER",
    "sign_in_name",
    "settings_name",
    "signed_in",
    "ingesting_person",
    "current_login",
    "approve_as",
    "unlock",
]

#: How to register the first user, said whenever the store has none.
FIRST_USER = (
    "no user is registered in this store yet; the bureau's leadership registers the first one "
    "(password on standard input): rbm user add NAME --role leadership --os-login LOGIN"
)


def _now() -> str:
    """Current UTC time as ISO text (tests monkeypatch it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_in_name(name: str) -> str:
    """A person's name as a sign-in name: accents dropped, lower case, spaces as dots."""
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9._-]", "", ".".join(plain.lower().split()))


def settings_name(user: User, names: tuple[str, ...]) -> str | None:
    """The name of ``names`` (as the settings spell it) that is ``user``, or None."""
    return next((n for n in names if sign_in_name(n) == user.name or n.casefold() == user.name.casefold()), None)


def signed_in(store: Store, os_login: str, by: str | None = None) -> User:
    """The registered, active user of the operating-system login ``os_login``; ``by`` (``--by``)
    may only name that user (their sign-in name or their name in the settings' spelling).
    :class:`ApprovalError` when the store has no user, the login is not a user, or ``by`` is someone else."""
    if not has_users(store):
        raise ApprovalError(FIRST_USER)
    user = user_for_login(store, os_login)
    if user is None:
        raise ApprovalError(
            f"your login {os_login!r} is not an active registered user; ask the bureau's leadership: "
            f"rbm user add NAME --role ROLE --unit UNIT --os-login {os_login}"
        )
    if by and sign_in_name(by) != user.name and by.strip().casefold() != user.name:
        raise ApprovalError(
            f"--by may only name yourself: you are signed in as {user.name}, not {by.strip()!r}; "
            "every approval is recorded as the person who gives it"
        )
    return user


def ingesting_person(store: Store, by: str | None) -> tuple[str, User | None]:
    """(the name recorded as ``ingested_by``, the registered user or None) for ``rbm ingest``:
    with no user registered, ``by`` or the login name as before; else the login's user (``by``
    may only name them). :class:`ApprovalError` when the login is not a user or ``by`` is another."""
    login = current_login()
    if not has_users(store):
        return by or login or "unknown", None
    user = signed_in(store, login, by)
    return user.name, user


def current_login() -> str:
    """The operating-system login at the terminal ("" when there is none, e.g. in a container)."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container
        return ""


def _approver(user: User, unit_code: str, quarter: QuarterLike, config: Config) -> tuple[str, Approver]:
    """(quarter text, the :class:`Approver`) when ``user``'s role and the settings both allow."""
    if not user.active:
        raise ApprovalError(f"{user.name} is disabled and approves nothing")
    if not user.approves(unit_code):
        raise ApprovalError(
            f"{user.name} ({user.role}{' of ' + ', '.join(user.units) if user.units else ''}) may not approve "
            f"{unit_code}: approving needs a unit head, cluster facilitator or regional director of {unit_code}, "
            "or the bureau's leadership"
        )
    unit_names = config.units[unit_code].approvers if unit_code in config.units else ()
    name = settings_name(user, (*unit_names, *config.authority.bureau_approvers)) or user.name
    text, approver = authorised_approver(unit_code, quarter, name, config)  # the settings' names
    bureau = approver.bureau_level and user.is_leadership
    if not approver.unit_level and not bureau:
        raise ApprovalError(
            f"{user.name} is named a bureau approver in the settings but is registered as {user.role}; "
            "the bureau's approval needs the leadership role"
        )
    role = approver.role if approver.unit_level or not bureau else config.authority.bureau_role
    return text, Approver(approver.name, approver.unit_level, bureau, role, user.name)


def approve_as(store: Store, unit_code: str, quarter: QuarterLike, user: User, config: Config) -> dict:
    """``user`` approves ``unit_code`` ``quarter``: :func:`rbm_utils.store.approvals.record_approval`'s
    answer plus ``user``; :class:`ApprovalError` when their role or the settings do not allow it."""
    text, approver = _approver(user, unit_code, quarter, config)
    with store.writing(unit_code) as conn:
        rec = record_approval(conn, unit_code, text, approver, _now(), config.authority)
    return {**rec, "user": user.name}


def _is(user: User, name: str) -> bool:
    return bool(name) and (sign_in_name(name) == user.name or name.casefold() == user.name.casefold())


def unlock(store: Store, unit_code: str, quarter: QuarterLike, user: User, reason: str, config: Config) -> dict:
    """``user`` lifts the approval (and the bureau's approval) of ``unit_code`` ``quarter``, which
    becomes a draft again. Only leadership or a bureau approver of the settings may, never one
    who approved it, with a reason. Returns unit_code, quarter, unlocked_by, unlocked_at, reason,
    lifted (the approvals lifted, in words). :class:`ApprovalError` when refused."""
    q = Quarter.parse_or_none(quarter)
    if q is None:
        raise ApprovalError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")
    text, why = str(q), " ".join(str(reason or "").split())
    if not why:
        raise ApprovalError("an unlock needs its reason: --reason TEXT")
    bureau = settings_name(user, config.authority.bureau_approvers)
    if not user.active or not (user.is_leadership or bureau):
        raise ApprovalError(
            f"only the bureau's leadership or the {config.authority.bureau_role} may unlock an approved quarter; "
            f"{user.name} is {user.role}"
        )
    appr, bur = TABLES["approvals"], TABLES["bureau_approvals"]
    with store.writing(unit_code) as conn:
        unit_row, bureau_row = approval_rows(conn, unit_code, text)
        if unit_row is None:
            raise ApprovalError(f"{unit_code} {text} is not approved; there is no lock to lift")
        later = conn.execute(
            sa.select(appr.c.quarter)
            .where(appr.c.unit_code == unit_code, appr.c.quarter > text)
            .order_by(appr.c.quarter)
        ).scalars()
        after = list(later)
        if after:
            raise ApprovalError(
                f"{unit_code} {after[-1]} is approved too and rests on {text}; unlock {after[-1]} first"
            )
        if bureau_row is not None and not user.is_leadership:
            raise ApprovalError(
                f"the {config.authority.bureau_role} approved {unit_code} {text} too; only the bureau's leadership "
                "may lift the bureau's approval"
            )
        rows = [r for r in (unit_row, bureau_row) if r is not None]
        if any(_is(user, r.approved_by) for r in rows):
            raise ApprovalError(
                f"{user.name} approved {unit_code} {text} and may not lift their own approval; "
                "an authority above the approver must (the bureau's leadership)"
            )
        at = _now()
        conn.execute(sa.delete(appr).where(appr.c.unit_code == unit_code, appr.c.quarter == text))
        conn.execute(sa.delete(bur).where(bur.c.unit_code == unit_code, bur.c.quarter == text))
        fields: list[tuple[str, str | None, str | None]] = [
            ("unlocked_by", None, user.name),
            ("unlocked_at", None, at),
            ("unlock_reason", None, why),
        ]
        fields.append(("approved_by", unit_row.approved_by, None))
        if bureau_row is not None:
            fields.append(("bureau_approved_by", bureau_row.approved_by, None))
        conn.execute(
            sa.insert(TABLES["change_log"]),
            [
                {
                    "submission_id": int(unit_row.submission_id),
                    "unit_code": unit_code,
                    "sheet": APPROVAL_SHEET,
                    "key": json.dumps([text]),
                    "field": f,
                    "old": None if old is None else json.dumps(old, ensure_ascii=False),
                    "new": None if new is None else json.dumps(new, ensure_ascii=False),
                }
                for f, old, new in fields
            ],
        )
    lifted = [f"approved by {r.approved_by} on {show_time(r.approved_at)}" for r in rows]
    return {
        "unit_code": unit_code,
        "quarter": text,
        "unlocked_by": user.name,
        "unlocked_at": at,
        "reason": why,
        "lifted": lifted,
    }
