"""What the store raises: a plain-language message, never a database traceback.

Example:
    >>> str(StoreError("not a quarter: 'Q3' (expected e.g. 2026-Q3)"))
    "not a quarter: 'Q3' (expected e.g. 2026-Q3)"
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot do what was asked; ``str(exc)`` is a plain-language message."""


class ApprovalError(StoreError):
    """An approval was refused (wrong person, unknown unit, nothing to approve, already approved)."""
