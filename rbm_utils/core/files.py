"""Files every stage writes: atomic writes, the atomic directory exchange, hashes, stamps.

Every write a reader may see is atomic (temp file in the same folder, fsync, ``os.replace``);
a published folder is replaced whole by :func:`exchange_dirs` (Linux ``renameat2``), which no
library offers. A reader of such a folder goes through :class:`FolderView`: one directory
handle, so every file it opens comes from the same version of the folder, even if the folder
is exchanged meanwhile (a library that stats a path and opens it again would otherwise read
the old file's size and the new file's bytes).

Example:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write_json(d / "a.json", {"b": 1}).read_text()
    '{\\n  "b": 1\\n}\\n'
    >>> len(sha256_file(d / "a.json"))
    64
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
import stat
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any


def utc_stamp() -> str:
    """A UTC timestamp usable in a file name, to the microsecond: ``20261001T120000123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temp file in ``path``'s folder, fsync it, then ``os.replace`` it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted UTF-8 JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


_RENAME_EXCHANGE = 2  # renameat2(2) flag, Linux >= 3.15
_AT_FDCWD = -100


@functools.lru_cache(maxsize=1)
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap two existing paths of one file system in a single atomic step (Linux
    ``renameat2(RENAME_EXCHANGE)``): a reader sees the old ``b`` or the new one, never
    neither. Returns False, changing nothing, where the call is unsupported (not Linux,
    old glibc or kernel, a file system without it); other failures raise ``OSError``.

    >>> exchange_dirs(Path("out/.tmp-AFR"), Path("out/AFR"))  # doctest: +SKIP
    True
    """
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


class FolderView:
    """One version of a folder, read through a single directory handle (``os.open`` with
    ``O_DIRECTORY``; names are opened relative to it). A folder swapped whole by
    :func:`exchange_dirs` while it is read still shows the version it had when the view was
    opened. Use as a context manager; names are plain file names inside the folder.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = atomic_write_json(d / "a.json", [1])
    >>> with FolderView(d) as view:
    ...     view.is_file("a.json"), view.is_file("b.json"), view.read_text("a.json")
    (True, False, '[\\n  1\\n]\\n')
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)

    def _opener(self, name: str, flags: int) -> int:
        return os.open(name, flags, dir_fd=self._fd)

    def is_file(self, name: str) -> bool:
        """Whether ``name`` is a regular file of this version of the folder."""
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=self._fd).st_mode)
        except OSError:
            return False

    def open(self, name: str) -> IO[bytes]:
        """``name`` opened for reading in binary mode (``OSError`` when absent)."""
        return open(name, "rb", opener=self._opener)  # noqa: SIM115 - the caller closes it

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FolderView:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
