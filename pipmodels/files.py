"""Writing files so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, _mode_of(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_or_explain(path: Path, text: str, *, hint: str) -> None:
    """``atomic_write``, with a failure told as a PipmodelsError: the old file is left whole."""
    from pipmodels.errors import PipmodelsError

    try:
        atomic_write(path, text)
    except OSError as exc:
        raise PipmodelsError(
            f"Cannot write {path}: {exc.strerror}. It was left as it was.", hint
        ) from None


def _mode_of(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside ``parent`` (same filesystem, so ``os.replace`` is atomic)."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as name:
        yield Path(name)


CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- files in a folder that others may write (a shared or restored cache) ----------------------

# Where the platform has it, O_NOFOLLOW makes opening a planted symlink fail instead of
# following it out of the folder; O_EXCL already refuses one for a new file.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def create_exclusive(path: Path, mode: int = 0o644) -> int:
    """A new file at ``path``, open for writing; FileExistsError when anything is there,
    a planted symlink included (O_CREAT|O_EXCL never follows one)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, mode)


def open_no_follow(path: Path, mode: int = 0o644) -> int:
    """``path`` opened for reading and writing, created if missing, never truncated, and
    never through a symlink: a link planted there is removed (the link, not its target)."""
    flags = os.O_RDWR | os.O_CREAT | NOFOLLOW | CLOEXEC
    try:
        return os.open(path, flags, mode)
    except OSError:
        if not path.is_symlink():
            raise
    path.unlink()
    return os.open(path, flags | os.O_EXCL, mode)


class FolderLock:
    """An exclusive lock on a file in a folder that others may write.

    POSIX: ``flock`` on the file opened without following symlinks (filelock would follow
    one and truncate its target). Elsewhere, filelock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._fallback: Any = None

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: for as long as it takes)."""
        if sys.platform == "win32":  # pragma: no cover - no flock there
            from filelock import FileLock, Timeout

            self._fallback = self._fallback or FileLock(str(self.path))
            try:
                self._fallback.acquire(timeout=-1 if timeout is None else timeout)
            except Timeout:
                return False
            return True
        import fcntl

        fd = open_no_follow(self.path)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
