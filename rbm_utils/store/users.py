"""The people who may sign in, their role and their units, kept in the store's ``users`` table.

Roles follow the bureau (:data:`ROLES`):

- ``officer``: ingests for their own units and sees those units' drafts;
- ``unit_head``, ``cluster_facilitator``, ``regional_director``: approve their own units within
  the authority boundaries of the settings, and see those units' drafts;
- ``leadership``: everything (every draft, the bureau's approvals, the user registry);
- ``viewer``: approved quarters only.

Every role sees the approved quarters of every unit. Passwords are kept only as argon2 hashes
(``argon2-cffi``); a wrong name and a wrong password take the same time and give the same answer.
A user may carry the operating-system login they use on the command line (``os_login``): the
CLI maps the login to its registered user.

Example:
    >>> from rbm_utils.store.database import Store
    >>> with Store("sqlite://") as st:
    ...     u = add_user(st, "ada", "officer", ["AFR"], "correct horse battery")
    ...     (u.sees_drafts_of("AFR"), u.sees_drafts_of("EUR"), authenticate(st, "ada", "wrong"))
    (True, False, None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from rbm_utils.store.tables import TABLES

if TYPE_CHECKING:
    from rbm_utils.store.database import Store

#: Every role, from the narrowest reader to the bureau's leadership.
ROLES = ("viewer", "officer", "unit_head", "cluster_facilitator", "regional_director", "leadership")
#: Roles that approve their own units' quarters (within the authority of the settings).
APPROVER_ROLES = frozenset({"unit_head", "cluster_facilitator", "regional_director"})
#: Roles that see their own units' drafts (leadership sees every draft).
DRAFT_ROLES = APPROVER_ROLES | {"officer"}
#: The shortest password accepted.
MIN_PASSWORD = 12
#: A sign-in name: 2-40 characters, lower-case letters, digits, ".", "_" or "-", starting with a letter.
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password of anyone")
_LOCK = "__users__"


class UserError(ValueError):
    """A user command that cannot be carried out (the message says why, in words)."""


@dataclass(frozen=True)
class User:
    """A registered person: ``name`` (sign-in name), ``role``, ``units`` (codes), ``active``."""

    name: str
    role: str
    units: tuple[str, ...]
    active: bool = True
    os_login: str | None = None

    @property
    def is_leadership(self) -> bool:
        return self.role == "leadership"

    def sees_drafts_of(self, unit_code: str) -> bool:
        """True when this user may read ``unit_code``'s unapproved (draft or pending) quarters."""
        return self.active and (self.is_leadership or (self.role in DRAFT_ROLES and unit_code in self.units))

    def approves(self, unit_code: str) -> bool:
        """True when the role lets this user approve ``unit_code`` (the settings' authority still applies)."""
        return self.active and (self.is_leadership or (self.role in APPROVER_ROLES and unit_code in self.units))

    def ingests_for(self, unit_code: str) -> bool:
        """True when this user may store a workbook of ``unit_code``."""
        return self.sees_drafts_of(unit_code)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(row: sa.Row) -> User:
    units = tuple(u for u in row.units.split(",") if u)
    return User(row.name, row.role, units, bool(row.active), row.os_login)


def _check(name: str, role: str, units: Iterable[str], password: str | None) -> tuple[str, ...]:
    if not USER_NAME.match(name):
        raise UserError(f"user name {name!r}: 2-40 characters, lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    codes = tuple(sorted({u.strip().upper() for u in units if u.strip()}))
    if role in DRAFT_ROLES and not codes:
        raise UserError(f"a {role} needs at least one unit (--unit CODE)")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    return codes


def add_user(
    store: Store, name: str, role: str, units: Iterable[str], password: str, os_login: str | None = None
) -> User:
    """Register ``name``; :class:`UserError` when the name is taken or an argument is invalid."""
    codes = _check(name, role, units, password)
    table = TABLES["users"]
    with store.writing(_LOCK) as conn:
        if conn.execute(sa.select(table.c.name).where(table.c.name == name)).first() is not None:
            raise UserError(f"user {name!r} already exists (rbm user reset {name} sets a new password)")
        if os_login and conn.execute(sa.select(table.c.name).where(table.c.os_login == os_login)).first():
            raise UserError(f"the login {os_login!r} already belongs to another user")
        now = _now()
        conn.execute(
            sa.insert(table).values(
                name=name,
                role=role,
                units=",".join(codes),
                password_hash=_HASHER.hash(password),
                active=1,
                os_login=os_login or None,
                created_at=now,
                changed_at=now,
            )
        )
    return User(name, role, codes, True, os_login or None)


def get_user(store: Store, name: str) -> User | None:
    """The registered user ``name`` (active or not), or None."""
    table = TABLES["users"]
    with store.reading() as conn:
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    return _user(row) if row is not None else None


def user_for_login(store: Store, os_login: str) -> User | None:
    """The active user registered with the operating-system login ``os_login`` (or named so), or None."""
    table = TABLES["users"]
    with store.reading() as conn:
        row = conn.execute(sa.select(table).where(table.c.os_login == os_login)).first()
        if row is None:
            row = conn.execute(sa.select(table).where(table.c.name == os_login)).first()
    user = _user(row) if row is not None else None
    return user if user is not None and user.active else None


def list_users(store: Store) -> pd.DataFrame:
    """Every user without the hash: name, role, units, active, os_login, created_at, changed_at."""
    table = TABLES["users"]
    cols = [table.c[c] for c in ("name", "role", "units", "active", "os_login", "created_at", "changed_at")]
    with store.reading() as conn:
        rows = conn.execute(sa.select(*cols).order_by(table.c.name)).all()
    df = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in cols])
    df["active"] = df["active"].astype(bool)
    return df


def _update(store: Store, name: str, **values: object) -> None:
    table = TABLES["users"]
    with store.writing(_LOCK) as conn:
        done = conn.execute(sa.update(table).where(table.c.name == name).values(changed_at=_now(), **values))
        if done.rowcount == 0:
            raise UserError(f"no user {name!r} (rbm user list shows who is registered)")


def set_active(store: Store, name: str, active: bool) -> None:
    """Disable (or enable again) ``name``: a disabled user cannot sign in and approves nothing."""
    _update(store, name, active=int(active))


def reset_password(store: Store, name: str, password: str) -> None:
    """Give ``name`` a new password."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    _update(store, name, password_hash=_HASHER.hash(password))


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The active user ``name`` when ``password`` is theirs, else None (same work either way)."""
    table = TABLES["users"]
    with store.reading() as conn:
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    stored = row.password_hash if row is not None else _DUMMY
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    return _user(row)


def has_users(store: Store) -> bool:
    """True when at least one user is registered."""
    table = TABLES["users"]
    with store.reading() as conn:
        return conn.execute(sa.select(table.c.name).limit(1)).first() is not None
