"""The local model cache: a plain folder of verified archives, a manifest, a lock and a links page.

An archive appears under its final name only once it is complete and verified. pip-tools read
the cache through ``index.html``, which lists verified files only, each with its sha256, so a
stray or truncated file in the folder is never installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from packaging.version import Version

from pipmodels.errors import PipmodelsError
from pipmodels.files import atomic_write, scratch_dir, sha256_of
from pipmodels.page import Link, render_page
from pipmodels.reqfile import canonical_name

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName

    from pipmodels.archives import Archive

STATE_DIR = ".pipmodels"
MANIFEST = "manifest.json"
PAGE = "index.html"
DEFAULT_DIRNAME = ".pipmodels-cache"


@dataclass(frozen=True)
class Entry:
    filename: str
    name: NormalizedName
    version: Version
    sha256: str
    size: int


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.state = self.root / STATE_DIR
        # Downloads finish on worker threads; the manifest's read-modify-write must not interleave.
        self._manifest_lock = threading.Lock()

    @property
    def page(self) -> Path:
        return self.root / PAGE

    def ensure(self) -> None:
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            gitignore = self.root / ".gitignore"
            if not gitignore.exists():
                atomic_write(
                    gitignore, "# Created by pipmodels: the model cache stays out of git.\n*\n"
                )
            probe = self.state / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            os.listdir(self.root)
        except OSError as exc:
            raise PipmodelsError(
                f"Cannot use the cache folder {self.root}: {exc.strerror}.",
                "Make it readable and writable, or choose another with --cache-dir "
                "(or PIPMODELS_CACHE_DIR).",
            ) from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cache for this run; concurrent runs (make -j, CI jobs) wait their turn."""
        with (self.state / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._recover()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _recover(self) -> None:
        """Under the lock: drop what a killed run left behind, and fix the manifest's salt."""
        for leftover in self.state.glob("download-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if not (self.state / MANIFEST).exists():
            self._save(self._load())

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        return scratch_dir(self.state, "download-")

    # -- the manifest -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.state / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError):
            data = {}
        data.setdefault("salt", secrets.token_hex(16))
        data.setdefault("files", {})
        data.setdefault("sources", {})
        return data

    def _save(self, data: dict[str, Any]) -> None:
        atomic_write(self.state / MANIFEST, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def entries(self) -> list[Entry]:
        """Verified archives still present whole in the folder.

        A file whose size differs from the record is left out (a truncated copy); one whose
        modification time differs is hashed again and left out unless its sha256 still matches.
        """
        result = []
        for filename, info in sorted(self._load()["files"].items()):
            path = self.root / filename
            try:
                stat = path.stat()
            except OSError:
                continue
            if stat.st_size != info["size"]:
                continue
            if stat.st_mtime_ns != info.get("mtime_ns") and sha256_of(path) != info["sha256"]:
                continue
            name = cast("NormalizedName", info["name"])  # recorded in canonical form
            version = Version(info["version"])
            result.append(Entry(filename, name, version, info["sha256"], stat.st_size))
        return result

    def salt(self) -> bytes:
        """This cache's random key for digests of values that must not be recoverable."""
        return str(self._load()["salt"]).encode()

    def source_key(self, source: str) -> str:
        """A keyed digest of a source (URL with credentials expanded) that reveals nothing of it."""
        return hmac.new(self.salt(), source.encode(), hashlib.sha256).hexdigest()

    def lookup(self, key: str) -> Entry | None:
        filename = self._load()["sources"].get(key)
        return next((e for e in self.entries() if e.filename == filename), None)

    def best(self, name: str, specifier: SpecifierSet) -> Entry | None:
        matches = [
            e
            for e in self.entries()
            if e.name == canonical_name(name) and specifier.contains(e.version, prereleases=True)
        ]
        return max(matches, key=lambda e: e.version, default=None)

    def add(self, archive: Archive, filename: str, source_key: str | None) -> Entry:
        """Move a verified archive into the cache under ``filename`` and record it."""
        with self._manifest_lock:
            return self._add(archive, filename, source_key)

    def _add(self, archive: Archive, filename: str, source_key: str | None) -> Entry:
        target = self.root / filename
        os.replace(archive.path, target)
        stat = target.stat()
        size = stat.st_size
        data = self._load()
        data["files"][filename] = {
            "name": str(archive.name),
            "version": str(archive.version),
            "sha256": archive.sha256,
            "size": size,
            "mtime_ns": stat.st_mtime_ns,
        }
        if source_key:
            data["sources"][source_key] = filename
        self._save(data)
        self.write_page()
        return Entry(filename, archive.name, archive.version, archive.sha256, size)

    def write_page(self) -> None:
        links = [Link(e.filename, quote(e.filename), e.sha256) for e in self.entries()]
        atomic_write(self.page, render_page(links, "pipmodels cache"))
