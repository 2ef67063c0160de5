"""The no-op's first look: the last sync's evidence, looked at again with ``os`` alone.

The fast path (:mod:`pipmodels.fastpath`) knows a sync would change nothing when a fresh
fingerprint equals the last one. Computing it means reading the inputs as pip would, the
options and pip's configuration: 0.1 s of imports and parsing. This module answers first, for
the same command line in the same folder, from a record of what that fingerprint was made of,
written by a :class:`Witness` while it was computed: each file's content (keyed digest), each
archive's and folder's ``stat``, each target folder's ``*.dist-info`` names, and the variables it
depends on. When every one of them is as it was, the answer is the fingerprint's; when any
differs or cannot be read, this module has no answer and the fast path proper decides.

It imports ``os``, ``sys``, ``hashlib`` and ``hmac`` only, and starts nothing: a no-op costs a
Python start and a few reads. Records live beside the fast path's, in the user's state folder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time

TYPE_CHECKING = False  # typing and collections.abc cost more to import than this module does
if TYPE_CHECKING:
    from collections.abc import Mapping

FORMAT = "pipmodels-noop-1"
STATE_DIR_VARIABLE = "PIPMODELS_STATE_DIR"
# A run folder whose process cannot be checked (Windows) is taken for dead after this long.
STALE_SECONDS = 24 * 3600
# Variables whose values the fingerprint depends on, besides those the inputs name: pip's,
# uv's and pipmodels' own settings, and those the configuration files' places come from.
PREFIXES = ("PIP_", "UV_", "PIPMODELS_")
NAMES = (
    "NETRC",
    "HOME",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "VIRTUAL_ENV",
)
CONTENT, STAMP, LISTING, VARIABLE, NO_ENTRIES = "content", "stamp", "listing", "variable", "none"
ABSENT = "-"
SEP = "\0"  # no path holds it


class Witness:
    """Records what a fingerprint reads, in the form :func:`answer` can check again."""

    def __init__(self, salt: bytes) -> None:
        self.salt = salt
        self.entries: dict[tuple[str, str], str] = {}

    def content(self, path: str) -> bytes | None:
        """The file's bytes (None when it cannot be read), remembered by a keyed digest: a
        ``.env`` or netrc holds keys."""
        data = _read(path)
        self.entries[(CONTENT, os.path.abspath(path))] = _content_digest(self.salt, data)
        return data

    def stamp(self, path: str) -> tuple[int, ...] | None:
        """The file's or folder's ``stat`` (a folder's changes when an entry comes or goes)."""
        stamp = _stamp(path)
        self.entries[(STAMP, os.path.abspath(path))] = _stamp_text(stamp)
        return stamp

    def listing(self, folder: str) -> list[str]:
        """The ``*.dist-info`` and ``*.egg-info`` names in a target folder."""
        names = _distributions(folder)
        self.entries[(LISTING, folder)] = _digest(self.salt, SEP.join(names).encode())
        return names

    def variable(self, name: str) -> None:
        self.entries[(VARIABLE, name)] = ""

    def no_entries(self, folder: str, prefix: str) -> None:
        """The answer holds only while ``folder`` has nothing named ``prefix*`` (leftovers of
        a killed run, which the full fast path sweeps)."""
        self.entries[(NO_ENTRIES, os.path.abspath(folder))] = prefix


def record_path(home: str, argv: list[str], cwd: str) -> str:
    """One record per command line, folder and pipmodels installation."""
    from pipmodels import __version__

    key = SEP.join([FORMAT, __version__, sys.executable, cwd, *argv])
    name = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(home, "synced", f"noop-{name}")  # beside the fast path's own records


def save(
    home: str, argv: list[str], witness: Witness, message: str, environ: Mapping[str, str]
) -> None:
    """Write the record for ``argv`` run in this folder (atomically: a reader sees the old
    record or the new one)."""
    names = [name for kind, name in witness.entries if kind == VARIABLE]
    fields = [FORMAT, message, _environment_digest(witness.salt, environ, names)]
    for (kind, name), value in sorted(witness.entries.items()):
        if kind != VARIABLE:
            fields += [kind, name, value]
    path = record_path(home, argv, os.getcwd())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8", errors="surrogateescape") as out:
        out.write(SEP.join([*fields, *names, str(len(names))]))
    os.replace(temporary, path)


def answer(home: str, argv: list[str], environ: Mapping[str, str]) -> str | None:
    """The message of the last sync of this command line when nothing it depended on has
    changed since; None when anything did, or when there is no record to go by."""
    salt = _read(os.path.join(home, "salt"))
    record = _read(record_path(home, argv, os.getcwd()))
    if salt is None or record is None or _runs_left_behind(os.path.join(home, "runs")):
        return None
    try:
        key = bytes.fromhex(salt.decode("ascii").strip())
        fields = record.decode("utf-8", "surrogateescape").split(SEP)
        count = int(fields[-1])
        names, body = fields[-1 - count : -1], fields[3 : -1 - count]
    except (ValueError, IndexError):
        return None
    if (
        fields[0] != FORMAT
        or len(body) % 3
        or fields[2] != _environment_digest(key, environ, names)
    ):
        return None
    for index in range(0, len(body), 3):
        if not _unchanged(key, *body[index : index + 3]):
            return None
    return fields[1]


def _unchanged(salt: bytes, kind: str, name: str, value: str) -> bool:
    if kind == CONTENT:
        return _content_digest(salt, _read(name)) == value
    if kind == STAMP:
        return _stamp_text(_stamp(name)) == value
    if kind == LISTING:
        return _digest(salt, SEP.join(_distributions(name)).encode()) == value
    if kind == NO_ENTRIES:
        try:
            return not any(entry.startswith(value) for entry in os.listdir(name))
        except OSError:
            return True  # no folder, nothing left in it
    return False


def _environment_digest(salt: bytes, environ: Mapping[str, str], names: list[str]) -> str:
    chosen = {n for n in environ if n.startswith(PREFIXES)} | set(NAMES) | set(names)
    text = SEP.join(f"{n}={environ[n]}" if n in environ else n for n in sorted(chosen))
    return _digest(salt, text.encode("utf-8", "surrogateescape"))


def state_folder(environ: Mapping[str, str]) -> str:
    """``PIPMODELS_STATE_DIR``, else the platform's per-user cache folder, plus ``pipmodels``."""
    if environ.get(STATE_DIR_VARIABLE):
        return environ[STATE_DIR_VARIABLE]
    home = environ.get("HOME") or environ.get("USERPROFILE") or os.path.expanduser("~")
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "pipmodels")


def alive(pid: int, folder: str) -> bool:
    """Whether the run that made ``folder`` (its name starts with the pid) may still be going."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # no signal 0: a folder is taken for dead after a day
        try:
            return time.time() - os.stat(folder).st_mtime < STALE_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True


def _runs_left_behind(runs: str) -> bool:
    """A killed run's private folder is swept by the full fast path, not here."""
    try:
        entries = os.listdir(runs)
    except OSError:
        return False
    for entry in entries:
        pid = entry.split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid), os.path.join(runs, entry)):
            return True
    return False


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _stamp(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def _stamp_text(stamp: tuple[int, ...] | None) -> str:
    return ABSENT if stamp is None else ",".join(map(str, stamp))


def _distributions(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return ["<unreadable>"]
    return sorted(n for n in names if n.endswith((".dist-info", ".egg-info")))


def _content_digest(salt: bytes, data: bytes | None) -> str:
    return ABSENT if data is None else _digest(salt, data)


def _digest(salt: bytes, data: bytes) -> str:
    return hmac.new(salt, data, hashlib.sha256).hexdigest()
