"""Who may read which review: approved quarters of every unit, drafts of one's own units only.

A signed-in user (:class:`rbm_utils.store.users.User`) reads a unit's published quarter when the
store says the quarter is ``approved`` (:meth:`rbm_utils.store.database.Store.approval_states`), or
when the quarter is not approved yet (``draft`` or ``pending``) and the user sees that unit's drafts
(:meth:`User.sees_drafts_of`: officers and approvers of the unit, leadership). From that:

- a **joint review** ``CLUSTER-REGION`` is readable when both its units are;
- the **bureau overview** of a quarter is readable when every unit with a submission up to the
  quarter is (it shows every unit's figures side by side); otherwise it stays closed until the
  missing quarters are approved (leadership always reads it).

The server computes a user's :class:`Visible` from the store (no dashboard kernel reaches the
store) and hands it to each kernel it starts for that user through :data:`VISIBLE_ENV`;
:mod:`rbm_utils.serve.data` then lists only what the kernel may show (:func:`current`). A
dashboard kernel without it (or with a value it cannot read) shows nothing.

Example:
    >>> from rbm_utils.store.users import User
    >>> states = {"2026-Q3": {"AFR": "draft", "EUR": "approved", "CYB": "pending"}}
    >>> v = visible_for(User("ada", "officer", ("AFR",)), states)
    >>> v.units["2026-Q3"], v.overview, v.review("2026-Q3", "CYB-AFR"), v.review("2026-Q3", "EUR")
    (('AFR', 'EUR'), (), False, True)
    >>> from_env({VISIBLE_ENV: to_env(v), "RBM_FROZEN_ONLY": "1"}) == v
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a dashboard kernel imports this module: no database layer there
    from rbm_utils.store.users import User

#: The kernel environment variable that carries what its page may show (set by the server).
VISIBLE_ENV = "RBM_VISIBLE"
#: The kernel environment variable with the signed-in user's name and role, for the page's header.
VIEWER_ENV = "RBM_VIEWER"
#: Set in every dashboard kernel (:data:`rbm_utils.serve.server.FROZEN_ONLY_ENV`): there a missing
#: :data:`VISIBLE_ENV` means "nothing", never "everything".
KERNEL_MARK = "RBM_FROZEN_ONLY"
OVERVIEW = "overview"
APPROVED = "approved"


@dataclass(frozen=True)
class Visible:
    """The unit codes readable per quarter (``units``) and the quarters whose overview is readable."""

    units: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    overview: tuple[str, ...] = ()

    def unit(self, quarter: str, code: str) -> bool:
        return code in self.units.get(quarter, ())

    def review(self, quarter: str, name: str) -> bool:
        """A review ``name`` of ``quarter``: a unit code, ``overview`` or a joint pair ``CLUSTER-REGION``.

        >>> Visible({"2026-Q3": ("AFR", "CYB")}, ()).review("2026-Q3", "CYB-AFR")
        True
        """
        if name == OVERVIEW:
            return quarter in self.overview
        if "-" in name:
            return all(self.unit(quarter, part) for part in name.split("-", 1))
        return self.unit(quarter, name)


def visible_for(user: User | None, states: Mapping[str, Mapping[str, str]]) -> Visible:
    """What ``user`` may read, given each quarter's approval state per unit (``states``:
    quarter -> unit code -> ``draft``/``pending``/``approved``). No user (or a disabled one): nothing.

    >>> from rbm_utils.store.users import User
    >>> visible_for(User("v", "viewer", ()), {"2026-Q2": {"AFR": "approved", "EUR": "approved"}}).overview
    ('2026-Q2',)
    >>> visible_for(None, {"2026-Q2": {"AFR": "approved"}}).units
    {}
    >>> visible_for(User("v", "viewer", ()), {"2026-Q3": {}}).overview
    ()
    """
    if user is None or not user.active:
        return Visible()
    units: dict[str, tuple[str, ...]] = {}
    overview: list[str] = []
    for quarter, by_unit in states.items():
        seen = tuple(sorted(u for u, s in by_unit.items() if s == APPROVED or user.sees_drafts_of(u)))
        units[quarter] = seen
        if user.is_leadership or (by_unit and len(seen) == len(by_unit)):  # a quarter the store lacks: closed
            overview.append(quarter)
    return Visible(units, tuple(overview))


def to_env(visible: Visible) -> str:
    """``visible`` as the text of :data:`VISIBLE_ENV` (JSON)."""
    return json.dumps({"units": {q: list(u) for q, u in visible.units.items()}, OVERVIEW: list(visible.overview)})


def from_env(env: Mapping[str, str]) -> Visible | None:
    """What a page may show: None (everything) outside a dashboard kernel when the server set no
    :data:`VISIBLE_ENV` (notebooks, tests in one process); inside one, the server's value, or nothing
    when it is missing or unreadable.

    >>> from_env({}) is None, from_env({KERNEL_MARK: "1"}), from_env({KERNEL_MARK: "1", VISIBLE_ENV: "x"})
    (True, Visible(units={}, overview=()), Visible(units={}, overview=()))
    """
    text = env.get(VISIBLE_ENV)
    if text is None:
        return Visible() if env.get(KERNEL_MARK) else None
    try:
        raw = json.loads(text)
        units = {str(q): tuple(str(u) for u in codes) for q, codes in dict(raw["units"]).items()}
        return Visible(units, tuple(str(q) for q in raw[OVERVIEW]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return Visible()


_CACHE: dict[str, Visible | None] = {}


def current() -> Visible | None:
    """:func:`from_env` of this process's environment (parsed once per value)."""
    key = f"{os.environ.get(KERNEL_MARK, '')}|{os.environ.get(VISIBLE_ENV, '')}|{VISIBLE_ENV in os.environ}"
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = from_env(os.environ)
    return _CACHE[key]
