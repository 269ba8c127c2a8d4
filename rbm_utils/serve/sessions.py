"""Sign-in sessions and the brake on guessed passwords, kept in the server's memory.

- :class:`Sessions`: a session is a random token (32 bytes from :mod:`secrets`) that the browser
  keeps in an HttpOnly, SameSite=Strict cookie; the server keeps only its SHA-256, with the user's
  name, and ends it after ``idle`` seconds without a request or ``lifetime`` seconds in all.
  Signing out (or a restart of the server) ends it.
- :class:`Attempts`: failed sign-ins counted per key (a user name, a client address) over a sliding
  window; past ``limit`` failures within ``window`` seconds the key is refused until the oldest
  failure leaves the window.

Both take the clock as an argument (tests), and bound their memory.

Example:
    >>> t = [0.0]
    >>> s = Sessions(idle=60, lifetime=3600, clock=lambda: t[0])
    >>> token = s.start("ada")
    >>> s.user(token), s.user("forged")
    ('ada', None)
    >>> t[0] = 61; s.user(token) is None
    True
    >>> a = Attempts(limit=2, window=300, clock=lambda: t[0])
    >>> a.fail("ada"); a.fail("ada"); a.blocked("ada"), a.blocked("bob")
    (True, False)
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Sessions kept at most (the oldest are dropped first).
MAX_SESSIONS = 10_000
#: Keys whose failures are remembered at most.
MAX_KEYS = 10_000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass
class _Session:
    user: str
    started: float
    seen: float


class Sessions:
    """Signed-in sessions: token -> user name, ended after ``idle`` or ``lifetime`` seconds."""

    def __init__(self, idle: float = 3600, lifetime: float = 12 * 3600, clock: Callable[[], float] = time.monotonic):
        self.idle, self.lifetime, self.clock = float(idle), float(lifetime), clock
        self._by_digest: dict[str, _Session] = {}

    def start(self, user: str) -> str:
        """A new session for ``user``; returns the token for the cookie (never stored as such)."""
        now = self.clock()
        self._prune(now)
        while len(self._by_digest) >= MAX_SESSIONS:
            self._by_digest.pop(next(iter(self._by_digest)))
        token = secrets.token_urlsafe(32)
        self._by_digest[_digest(token)] = _Session(user, now, now)
        return token

    def user(self, token: str | None) -> str | None:
        """The user name of a live session (its idle time restarts), or None."""
        if not token or len(token) > 200:
            return None
        key = _digest(token)
        found = self._by_digest.get(key)
        now = self.clock()
        if found is None:
            return None
        if now - found.seen > self.idle or now - found.started > self.lifetime:
            self._by_digest.pop(key, None)
            return None
        found.seen = now
        return found.user

    def end(self, token: str | None) -> None:
        """End the session of ``token`` (nothing when there is none)."""
        if token:
            self._by_digest.pop(_digest(token), None)

    def end_user(self, user: str) -> None:
        """End every session of ``user`` (e.g. when the user is disabled)."""
        for key in [k for k, s in self._by_digest.items() if s.user == user]:
            self._by_digest.pop(key, None)

    def __len__(self) -> int:
        return len(self._by_digest)

    def _prune(self, now: float) -> None:
        for key in [
            k for k, s in self._by_digest.items() if now - s.seen > self.idle or now - s.started > self.lifetime
        ]:
            self._by_digest.pop(key, None)


class Attempts:
    """Failed sign-in attempts per key over a sliding window of ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 300, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = int(limit), float(window), clock
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            self._fails.pop(key, None)
        return times

    def blocked(self, key: str) -> bool:
        """True when ``key`` has ``limit`` failures within the window."""
        return len(self._recent(key, self.clock())) >= self.limit

    def fail(self, key: str) -> None:
        """Count a failure of ``key``."""
        now = self.clock()
        times = self._recent(key, now)
        if key not in self._fails:
            if len(self._fails) >= MAX_KEYS:
                for k in list(self._fails):
                    self._recent(k, now)
                while len(self._fails) >= MAX_KEYS:
                    self._fails.pop(next(iter(self._fails)))
            self._fails[key] = times
        times.append(now)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful sign-in)."""
        self._fails.pop(key, None)
