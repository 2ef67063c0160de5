"""A first compile that starts when the models' metadata has arrived, not their last byte.

pip-compile needs of a model only its METADATA (name, version, dependencies), which a wheel
keeps at its end, beside the zip's central directory. :meth:`http.Client.download` asks a host
that serves byte ranges (GitHub's release storage does) for a wheel's last bytes first and then
for the rest, so each byte is still fetched once; :class:`HeadStart` reads the METADATA from
that tail, writes a wheel holding only it (a *stub*) in the run's private folder, and once
every model being downloaded has one, starts the compile against the stubs while the
downloads go on. The compile's output is used only when each downloaded archive turns out to
hold the very METADATA its stub was made from; its hashes are then replaced with the
archives' own. Anything else (a host without ranges, an sdist, a metadata that differs) is
compiled afterwards from the archives, as without a head start.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from pipmodels.archives import MAX_METADATA_BYTES
from pipmodels.http import Tail

if TYPE_CHECKING:
    from pipmodels.cache import Cache, Entry
    from pipmodels.inputs import Model


T = TypeVar("T")


@dataclass(frozen=True)
class Stub:
    """A wheel holding only a downloading model's METADATA, for the compile to read."""

    model: Model
    filename: str
    metadata: bytes
    path: Path
    sha256: str


def wheel_metadata(tail: Tail) -> tuple[str, bytes] | None:
    """A wheel's ``*.dist-info`` folder and METADATA, when ``tail`` holds the zip's central
    directory and that member whole; None otherwise (the caller then waits for the file)."""
    try:
        with zipfile.ZipFile(_TailFile(tail)) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1
                and info.filename.split("/")[0].endswith(".dist-info")
                and info.filename.endswith("/METADATA")
            ]
            if len(members) != 1 or members[0].file_size > MAX_METADATA_BYTES:
                return None
            return members[0].filename.split("/")[0], archive.read(members[0])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def write_stub(folder: Path, filename: str, dist_info: str, metadata: bytes) -> Path:
    """A wheel named ``filename`` with ``dist_info``'s METADATA, WHEEL and RECORD only;
    ``filename`` must be a valid wheel name (:func:`stub_name_problem`)."""
    tags = sorted(str(tag) for tag in parse_wheel_filename(filename)[3])
    wheel = b"Wheel-Version: 1.0\nGenerator: pipmodels (metadata only)\nRoot-Is-Purelib: true\n"
    wheel += b"".join(f"Tag: {tag}\n".encode() for tag in tags)
    files = {f"{dist_info}/METADATA": metadata, f"{dist_info}/WHEEL": wheel}
    record = "".join(f"{name},,\n" for name in [*files, f"{dist_info}/RECORD"])
    files[f"{dist_info}/RECORD"] = record.encode()
    path = folder / filename
    with zipfile.ZipFile(path, "x") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def is_wheel_name(filename: str) -> bool:
    """A file name a stub can take: a wheel's, with no path in it."""
    if "/" in filename or "\\" in filename or filename.startswith("."):
        return False
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return True


def archive_metadata(path: Path) -> bytes | None:
    """A wheel's METADATA as stored, to compare with a stub's."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.split("/")[0].endswith(".dist-info")
            ]
            member = next((n for n in names if n.endswith("/METADATA")), None)
            return None if member is None else archive.read(member)
    except (zipfile.BadZipFile, OSError):
        return None


class HeadStart(Generic[T]):
    """Stubs for the models being downloaded, and the compile started once all have one."""

    def __init__(
        self, folder: Path, start: Callable[[Sequence[Stub], Mapping[Model, Entry]], T]
    ) -> None:
        self.folder = folder
        self._start = start
        self._lock = threading.Lock()
        self._waiting: set[Model] = set()
        self._stubs: dict[Model, Stub] = {}
        self._cached: Mapping[Model, Entry] = {}
        self._given_up = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="head-start")
        self._compile: Future[T] | None = None

    def expect(self, models: Sequence[Model], cached: Mapping[Model, Entry]) -> None:
        """The models being downloaded (none: nothing to start early) and those in the cache."""
        with self._lock:
            self._waiting = set(models)
            self._cached = dict(cached)
            self._given_up = not models

    def give_up(self) -> None:
        with self._lock:
            self._given_up = True

    def offer(self, model: Model, filename: str, tail: Tail) -> None:
        """A downloading model's tail: its stub, and the compile when it was the last one.
        Never raises: the download it is called from goes on whatever the tail holds."""
        try:
            self._offer(model, filename, tail)
        except Exception:  # a head start lost, never a download
            self.give_up()

    def _offer(self, model: Model, filename: str, tail: Tail) -> None:
        found = wheel_metadata(tail) if is_wheel_name(filename) else None
        with self._lock:
            if self._given_up or model not in self._waiting:
                return
            if found is None:
                self._given_up = True
                return
            dist_info, metadata = found
            folder = self.folder / str(len(self._stubs))  # one folder each: names may clash
            folder.mkdir()
            path = write_stub(folder, filename, dist_info, metadata)
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            self._stubs[model] = Stub(model, filename, metadata, path, sha256)
            self._waiting.discard(model)
            if not self._waiting and self._compile is None:
                stubs = list(self._stubs.values())
                self._compile = self._pool.submit(self._start, stubs, self._cached)

    @property
    def started(self) -> bool:
        """Whether an early compile was started (its output may still go unused)."""
        return self._compile is not None

    def result(self, entries: Mapping[Model, Entry], cache: Cache) -> tuple[T, list[Stub]] | None:
        """The early compile's output and its stubs, when every downloaded archive holds its
        stub's METADATA; None when there was no early compile or it cannot be used (its
        error, if it failed, is dropped: the compile from the archives will show it)."""
        with self._lock:
            self._given_up = True
            started = self._compile
        try:
            if started is None:
                return None
            text = started.result()
        except Exception:  # compiled again from the archives, which then reports it
            return None
        finally:
            self._pool.shutdown(wait=True)
        stubs = list(self._stubs.values())
        for stub in stubs:
            entry = entries.get(stub.model)
            if (
                entry is None
                or entry.filename != stub.filename
                or archive_metadata(cache.file(entry.filename)) != stub.metadata
            ):
                return None
        return text, stubs

    def close(self) -> None:
        """Stop waiting; an early compile still running is waited for (its child is stopped by
        the caller's interrupt handling)."""
        self.give_up()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _TailFile(io.RawIOBase):
    """A file whose bytes before ``tail.start`` cannot be read: zipfile finds the central
    directory at the end and reads a member only where the tail holds it."""

    def __init__(self, tail: Tail) -> None:
        self.tail = tail
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.tail.total}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        at = self.position - self.tail.start
        if at < 0:
            raise OSError("outside the fetched tail")
        chunk = self.tail.data[at : at + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)
