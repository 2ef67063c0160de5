"""The local model cache: a plain folder of verified archives, a manifest, a lock and a links page.

An archive appears under its final name only once it is complete and verified. pip-tools read
the cache through ``index.html``, which lists verified files only, each with its sha256, so a
stray or truncated file in the folder is never installed.

The folder is meant to be shared (a CI cache, a static host): it holds nothing derived from a
credential and no local path. A model's source is remembered by a digest of the line as the
user wrote it (``${VAR}`` names, never their values, and no user-info), so rotating a key
changes nothing here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipmodels import console
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name, filename_problem
from pipmodels.files import FolderLock, atomic_write, scratch_dir, sha256_of
from pipmodels.pages import Link, render_page

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

STATE_DIR = ".pipmodels"
MANIFEST = "manifest.json"
LOCK = "lock"
PAGE = "index.html"
PAGE_TITLE = "pipmodels cache"
RUN_PAGE = "pipmodels-cache-links.html"  # in a run's private folder
DEFAULT_DIRNAME = ".pipmodels-cache"
STAGING_PREFIX = "download-"
GITIGNORE = "# Created by pipmodels: the model cache stays out of git.\n*\n"
# What a cache folder may hold besides archives; anything else means it is not one.
OWN_NAMES = {STATE_DIR, PAGE, ".gitignore"}


@dataclass(frozen=True)
class Entry:
    filename: str
    name: str  # canonical
    version: Version
    sha256: str
    size: int


class Cache:
    def __init__(self, root: Path, lock_dir: Path | None = None) -> None:
        self.root = root.absolute()
        self.state = self.root / STATE_DIR
        # The lock is a file in the cache folder itself, so that every run on this folder finds
        # it however the folder is spelt (../shared, a symlink, another HOME or state folder).
        # It stays empty: the folder changes only when its files do. Who holds it changes with
        # every run, so that is recorded in ``lock_dir``, this machine's records.
        self.lock_path = self.state / LOCK
        name = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:24]
        self.owner_path = (lock_dir or self.state) / f"{name}.owner"
        # Downloads finish on worker threads; the manifest's read-modify-write must not interleave.
        self._manifest_lock = threading.Lock()
        self._verified: dict[tuple[str, int, int, int], bool] = {}

    @property
    def page(self) -> Path:
        return self.root / PAGE

    def ensure(self) -> None:
        self._refuse_foreign_folder()
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            gitignore = self.root / ".gitignore"
            if not gitignore.exists():
                atomic_write(gitignore, GITIGNORE)
            # A name nobody can plant a link at beforehand, created with O_EXCL (mkstemp).
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.state)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PipmodelsError(
                f"Cannot use the cache folder {self.root}: {exc.strerror}.",
                "Make it readable and writable, or choose another with --cache-dir "
                "(or PIPMODELS_CACHE_DIR).",
            ) from None

    def _refuse_foreign_folder(self) -> None:
        """A folder with other files in it is not a cache: pipmodels would overwrite them."""
        if (self.state / MANIFEST).is_file() or not self.root.is_dir():
            return
        foreign = [n for n in os.listdir(self.root) if n not in OWN_NAMES and not n.startswith(".")]
        if foreign:
            raise PipmodelsError(
                f"{self.root} holds other files ({', '.join(sorted(foreign)[:3])}) and is not a "
                "pipmodels cache, so pipmodels will not write its index.html and .gitignore "
                "there.",
                f"Choose an empty or new folder with --cache-dir (default: {DEFAULT_DIRNAME}).",
            )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cache for this run; concurrent runs (make -j, CI jobs) wait their turn."""
        lock = FolderLock(self.lock_path)
        try:
            if not lock.acquire(timeout=0.2):
                holder = _read(self.owner_path) or "another process"
                console.info(f"Waiting for pipmodels run {holder} to finish with {self.root} ...")
                lock.acquire()
        except OSError as exc:
            raise PipmodelsError(
                f"Cannot lock the cache folder {self.root} ({self.lock_path.name}): "
                f"{exc.strerror}.",
                "Make its .pipmodels folder writable, or choose another with --cache-dir.",
            ) from None
        try:
            with contextlib.suppress(OSError):
                self.owner_path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.owner_path, f"pid {os.getpid()}\n")
            self.recover()
            self._refresh_stat_records()
            yield
        finally:
            lock.release()

    def recover(self) -> None:
        """Under the lock: drop what a killed run left, and rebuild a missing links page."""
        for leftover in self.state.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self.ensure_page()

    def _refresh_stat_records(self) -> None:
        """Under the lock: record the new mtime and ctime of files whose content was found
        unchanged (a CI cache restore, a copy), so that later runs, the no-op's included, do
        not hash them again."""
        with self._manifest_lock:
            data = self._load()
            changed = False
            for filename, info, stat in self.verified_records():
                times = {"mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}
                if any(info.get(k) != v for k, v in times.items()):
                    data["files"][filename].update(times)
                    changed = True
            if changed:
                self._save(data)

    def ensure_page(self) -> None:
        """pip-tools read the cache through its page: rebuild it if someone deleted it."""
        if not self.page.exists():
            self.write_page()

    @property
    def manifest_path(self) -> Path:
        return self.state / MANIFEST

    def sweep_if_idle(self) -> None:
        """Outside a run: remove a killed run's staging folders when no run holds the lock."""
        if not any(self.state.glob(STAGING_PREFIX + "*")):
            return
        lock = FolderLock(self.lock_path)
        with contextlib.suppress(OSError):
            if lock.acquire(timeout=0):
                try:
                    self.recover()
                finally:
                    lock.release()

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        return scratch_dir(self.state, STAGING_PREFIX)

    # -- the manifest -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        """The manifest, with anything of the wrong shape dropped: it only ever costs a
        download, never a failed run."""
        try:
            data = json.loads((self.state / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError, RecursionError):  # RecursionError: [[[[... nested
            data = None
        if not isinstance(data, dict):
            data = {}
        files = data.get("files")
        sources = data.get("sources")
        return {
            "files": {k: v for k, v in files.items() if _plain(k) and _valid_record(v)}
            if isinstance(files, dict)
            else {},
            "sources": {k: v for k, v in sources.items() if _plain(v)}
            if isinstance(sources, dict)
            else {},
        }

    def _save(self, data: dict[str, Any]) -> None:
        atomic_write(self.state / MANIFEST, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def entries(self) -> list[Entry]:
        """Verified archives still present whole in the folder.

        A file whose size differs from the record is left out (a truncated copy); one whose
        modification or change time differs (an edit, even one that put the mtime back) is
        hashed again and left out unless its sha256 still matches.
        """
        from packaging.version import InvalidVersion, Version

        result = []
        for filename, info, stat in self.verified_records():
            with contextlib.suppress(InvalidVersion):
                version = Version(info["version"])
                name = canonical_name(info["name"])
                result.append(Entry(filename, name, version, info["sha256"], stat.st_size))
        return result

    def verified_records(self) -> list[tuple[str, dict[str, Any], os.stat_result]]:
        """The manifest's records of files still present whole, with their ``stat``: all the
        fast path needs, without parsing a version."""
        result = []
        for filename, info in sorted(self._load()["files"].items()):
            path = self.file(filename)
            try:
                stat = path.stat()
            except OSError:
                continue
            if stat.st_size == info["size"] and self._same_content(path, stat, info):
                result.append((filename, info, stat))
        return result

    def _same_content(self, path: Path, stat: os.stat_result, info: dict[str, Any]) -> bool:
        if (stat.st_mtime_ns, stat.st_ctime_ns) == (info.get("mtime_ns"), info.get("ctime_ns")):
            return True
        key = (path.name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        if key not in self._verified:
            self._verified[key] = sha256_of(path) == info["sha256"]
        return self._verified[key]

    @staticmethod
    def source_key(source: str) -> str:
        """A digest of a model's source as written (no credential value is ever in it)."""
        return hashlib.sha256(source.encode()).hexdigest()

    def lookup(self, source: str) -> Entry | None:
        filename = self._load()["sources"].get(self.source_key(source))
        return next((e for e in self.entries() if e.filename == filename), None)

    def best(self, name: str, specifier: SpecifierSet) -> Entry | None:
        matches = [
            e
            for e in self.entries()
            if e.name == canonical_name(name) and specifier.contains(e.version, prereleases=True)
        ]
        return max(matches, key=lambda e: e.version, default=None)

    def add(self, staged: Path, entry: Entry, source: str | None) -> Entry:
        """Move a verified archive into the cache under ``entry.filename`` and record it."""
        problem = filename_problem(entry.filename)
        if problem is not None:  # every caller made it safe; a slip must not write elsewhere
            raise PipmodelsError(f"Refusing to cache a file as {entry.filename!r}: {problem}.")
        with self._manifest_lock:
            target = self.file(entry.filename)
            os.replace(staged, target)
            stat = target.stat()
            data = self._load()
            data["files"][entry.filename] = {
                "name": entry.name,
                "version": str(entry.version),
                "sha256": entry.sha256,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "ctime_ns": stat.st_ctime_ns,
            }
            if source:
                data["sources"][self.source_key(source)] = entry.filename
            self._save(data)
            self.write_page()
            return entry

    # -- where things live, and the links pages made from the manifest ----------------------

    def file(self, filename: str) -> Path:
        """Where the cached archive ``filename`` (a name from the manifest) lives."""
        return self.root / filename

    def links(self, page_dir: Path | None = None) -> list[Link]:
        """The verified archives as links with their sha256: relative to ``page_dir`` (a page
        to publish), else absolute ``file:`` URLs (a page for this machine only)."""
        entries = self.entries()
        if page_dir is None:
            return [Link(e.filename, self.file(e.filename).as_uri(), e.sha256) for e in entries]
        real_root = self.root.resolve()
        return [
            Link(e.filename, _relative_href(real_root / e.filename, page_dir), e.sha256)
            for e in entries
        ]

    def write_page(self) -> None:
        """``index.html``, for people and for publishing; no child process reads it."""
        links = [Link(e.filename, quote(e.filename), e.sha256) for e in self.entries()]
        atomic_write(self.page, render_page(links, PAGE_TITLE))

    def run_page(self, folder: Path) -> Path:
        """The links page this run's pip, pip-compile, pip-sync or uv read, written from the
        verified manifest into ``folder`` (the run's private folder).

        Never ``index.html``: whoever can write the cache folder (a shared drive, a restored CI
        cache) could add a link to an archive of theirs there, and it would be pinned with its
        hash and installed. Each link carries the sha256 the manifest verified, which pip and
        uv check again when they read the file.
        """
        page = folder / RUN_PAGE
        atomic_write(page, render_page(self.links(), PAGE_TITLE))
        return page


def _relative_href(target: Path, page_dir: Path) -> str:
    relative = Path(os.path.relpath(target, page_dir)).as_posix()
    return quote(relative, safe="/+")


def _plain(filename: object) -> bool:
    """A manifest comes from a folder users share: its file names are not trusted as paths."""
    return isinstance(filename, str) and filename_problem(filename) is None


def _valid_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("version"), str)
        and isinstance(value.get("sha256"), str)
        and isinstance(value.get("size"), int)
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
