"""PEP 751 lock files (``pylock.toml``): written from a compiled requirements text, read back
as one.

A lock is written from the same text requirements.txt would hold (the engine's resolution,
each pin with its hashes), so both formats always say the same thing. Each model is an
``archive`` entry (a direct reference: pip and uv fetch it from its URL) whose URL is its
origin's public one, never a user-info or the run's gateway, with its size and sha256, or a
``path`` relative to the lock for a local archive; every other package lists the files of its
pinned version that its index offers with those hashes.

Reading is the other direction, for ``pipmodels sync pylock.toml``: the lock is checked as
untrusted input (it is often a file from a pull request) and turned into requirement lines,
``name @ URL --hash=...`` for each archive, so that the download step fills the cache from the
recorded URLs (a team mirror first), and ``name==version --hash=...`` for the rest. Every value
that reaches those lines is checked to be what its key says: a project name, a version, a
marker, an http(s) URL without user-info or white space, a path inside the lock's folder.

Pure: no network, no file but the lock itself.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pipmodels.errors import PipmodelsError
from pipmodels.filenames import LOCK_NAME
from pipmodels.reqfile import Line, RequirementsFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_VERSION = "1.0"
CREATED_BY = "pipmodels"
FORMAT = "pylock"

MAX_FILE_SIZE = 1 << 40  # a file of more than 1 TiB in a lock is a mistake or a lie
MAX_LOCK_BYTES = 32 << 20  # as much as pipmodels reads of any page
_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# name==version [; marker] and the --hash options after it, on one logical line
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)\s*(?:;([^\\]*?))?\s*$")
_HASH = re.compile(r"--hash[=\s]sha256:([0-9a-fA-F]{64})")
_HINT = "Compile it again with pipmodels compile -o pylock.toml, or fix the file."


@dataclass(frozen=True)
class File:
    """One archive of a locked package, where it is and what it must hash to."""

    name: str  # the file name
    sha256: str
    url: str | None = None  # public: no user-info
    path: str | None = None  # relative to the lock's folder, with forward slashes
    size: int | None = None


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None
    marker: str | None = None
    index: str | None = None  # the simple index the files are on
    archive: File | None = None  # a direct reference: a model
    wheels: tuple[File, ...] = ()
    sdist: File | None = None

    @property
    def files(self) -> tuple[File, ...]:
        return tuple(f for f in (self.archive, self.sdist, *self.wheels) if f is not None)


@dataclass(frozen=True)
class Pinned:
    """A pin of a compiled requirements text."""

    name: str
    version: str
    marker: str | None
    sha256: tuple[str, ...] = field(default=())


def is_lock_name(path: Path) -> bool:
    return bool(LOCK_NAME.match(path.name))


def pins(text: str) -> list[Pinned]:
    """The ``name==version`` pins of a requirements text as pip-compile and uv write it, with
    their markers and sha256 hashes; a requirement of another form is refused (a lock names
    files, and such a line names none)."""
    found = []
    for line in _logical_lines(text):
        if line.startswith("-") and not line.startswith(("-e", "--editable")):
            continue  # --index-url and the like: the lock records each file's index
        requirement, _, _ = line.partition(" --hash")
        match = _PIN.match(requirement.strip())
        if match is None:
            raise PipmodelsError(
                f"pylock.toml cannot record {requirement.strip()!r}: a lock names the files of "
                "pinned packages (name==version), and this line is not one.",
                "Pin it in your inputs (or make it a model, whose file the cache holds), or "
                "write requirements.txt instead (leave out --format pylock).",
            )
        name, _, version, marker = match.groups()
        hashes = tuple(h.lower() for h in _HASH.findall(line))
        found.append(Pinned(name, version, marker.strip() if marker else None, hashes))
    return found


def _logical_lines(text: str) -> Iterable[str]:
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            yield current.strip()
        current = ""
    if current.strip():
        yield current.strip()


# -- writing -------------------------------------------------------------------------------------


def dumps(packages: Sequence[Package], header: Sequence[str]) -> str:
    """The lock's text: ``header`` as comment lines, then the PEP 751 table."""
    import tomli_w  # only a compile to pylock.toml needs it

    document: dict[str, Any] = {
        "lock-version": LOCK_VERSION,
        "created-by": CREATED_BY,
        "packages": [_package_table(p) for p in sorted(packages, key=lambda p: p.name)],
    }
    # TOML allows no control character in a comment: an argument holding one is shown as "?"
    lines = (re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", "?", line) for line in header)
    comments = "".join(f"#{' ' if line else ''}{line}\n" for line in lines)
    return comments + tomli_w.dumps(document)


def _package_table(package: Package) -> dict[str, Any]:
    table: dict[str, Any] = {"name": package.name}
    if package.version is not None:
        table["version"] = package.version
    if package.marker:
        table["marker"] = package.marker
    if package.index:
        table["index"] = package.index
    if package.archive is not None:
        table["archive"] = _file_table(package.archive, named=False)
    if package.sdist is not None:
        table["sdist"] = _file_table(package.sdist, named=True)
    if package.wheels:
        table["wheels"] = [_file_table(w, named=True) for w in package.wheels]
    return table


def _file_table(file: File, *, named: bool) -> dict[str, Any]:
    table: dict[str, Any] = {"name": file.name} if named else {}
    if file.url is not None:
        table["url"] = file.url
    if file.path is not None:
        table["path"] = file.path
    if file.size is not None:
        table["size"] = file.size
    table["hashes"] = {"sha256": file.sha256}
    return table


def relative_path(archive: Path, lock_dir: Path) -> str:
    """``archive`` as a lock's ``path``: relative to the lock, inside its folder."""
    try:
        relative = Path(os.path.abspath(archive)).relative_to(os.path.abspath(lock_dir))
    except ValueError:
        raise PipmodelsError(
            f"{archive} is outside {lock_dir or '.'}, the folder of pylock.toml: a lock names a "
            "local archive by a path inside its folder, so that it means the same on every "
            "machine.",
            "Move the archive into the project (or publish it and name its URL), or write "
            "the lock where the archive is below it.",
        ) from None
    return relative.as_posix()


# -- reading -------------------------------------------------------------------------------------


def load(path: Path) -> list[Package]:
    """The packages of the lock at ``path``, every value checked."""
    try:
        size = path.stat().st_size
        if size > MAX_LOCK_BYTES:
            raise _invalid(path, f"it is {size:,} bytes, more than the {MAX_LOCK_BYTES:,} read")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc.strerror}.", "Check the path.") from None
    except UnicodeDecodeError:
        raise _invalid(path, "it is not UTF-8 text") from None
    return loads(text, path)


def loads(text: str, path: Path) -> list[Package]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(path, f"it is not TOML ({exc})") from None
    version = data.get("lock-version")
    if not isinstance(version, str) or not re.fullmatch(r"1\.[0-9]+", version):
        raise _invalid(
            path, f"its lock-version is {version!r}; pipmodels reads version {LOCK_VERSION}"
        )
    if not isinstance(data.get("created-by"), str):
        raise _invalid(path, "it has no created-by")
    packages = data.get("packages")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise _invalid(path, "it has no [[packages]] list")
    read = [_package(p, path, i) for i, p in enumerate(packages)]
    seen: set[str] = set()
    for package in read:
        key = _canonical(package.name)
        if key in seen:  # one lock may list a name once per marker; pipmodels resolves none
            raise _invalid(path, f"it lists {package.name} twice")
        seen.add(key)
    return read


def _package(table: Mapping[str, Any], path: Path, index: int) -> Package:
    where = f"packages[{index}]"
    name = _string(table, "name", path, where, required=True)
    assert name is not None
    if not _NAME.match(name):
        raise _invalid(path, f"{where}.name {name!r} is not a project name")
    where = f"package {name}"
    version = _string(table, "version", path, where)
    if version is not None:
        _check_version(version, path, where)
    marker = _string(table, "marker", path, where)
    if marker is not None:
        _check_marker(marker, path, where)
    for unsupported in ("vcs", "directory"):
        if unsupported in table:
            raise PipmodelsError(
                f"{path}: {where} is a {unsupported} entry, which pipmodels does not install.",
                "Install that package with pip, or lock it from an index or an archive URL.",
            )
    index_url = _string(table, "index", path, where)
    if index_url is not None:
        _check_url(index_url, path, f"{where}'s index")
    archive = _file(table.get("archive"), path, f"{where}'s archive", named=False)
    sdist = _file(table.get("sdist"), path, f"{where}'s sdist", named=True)
    wheels_raw = table.get("wheels", [])
    if not isinstance(wheels_raw, list):
        raise _invalid(path, f"{where}'s wheels is not a list")
    wheels = tuple(
        w
        for i, raw in enumerate(wheels_raw)
        if (w := _file(raw, path, f"{where}'s wheels[{i}]", named=True)) is not None
    )
    if (archive is None) == (sdist is None and not wheels):
        raise _invalid(path, f"{where} needs one source: an archive, or an sdist and wheels")
    if archive is None and version is None:
        raise _invalid(path, f"{where} has files from an index but no version")
    return Package(name, version, marker, index_url, archive, wheels, sdist)


def _file(raw: object, path: Path, where: str, *, named: bool) -> File | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid(path, f"{where} is not a table")
    url = _string(raw, "url", path, where)
    relative = _string(raw, "path", path, where)
    if url is None and relative is None:
        raise _invalid(path, f"{where} has neither a url nor a path")
    if url is not None:
        _check_url(url, path, where)
    if relative is not None:
        _check_path(relative, path, where)
    size = raw.get("size")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE_SIZE
    ):
        raise _invalid(path, f"{where} has the size {size!r}, which no archive has")
    hashes = raw.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
        raise _invalid(path, f"{where} has no sha256 in its hashes")
    default = PurePosixPath(urlsplit(url).path).name if url else PurePosixPath(relative or "").name
    name = _string(raw, "name", path, where) if named else None
    return File(name or default, sha256.lower(), url, relative, size)


def _string(
    table: Mapping[str, Any], key: str, path: Path, where: str, *, required: bool = False
) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or not value.isprintable():
        raise _invalid(path, f"{where} has no valid {key}")
    if "${" in value:
        # A lock holds values as they are; in the requirement lines it becomes, pip and the
        # download step would fill in the variable, and send a key to the lock's host.
        raise _invalid(path, f"{where}'s {key} names a variable ({value!r}), which a lock cannot")
    return value


def _check_version(version: str, path: Path, where: str) -> None:
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        raise _invalid(path, f"{where} has the version {version!r}, which is not one") from None


def _check_marker(marker: str, path: Path, where: str) -> None:
    from packaging.markers import InvalidMarker, Marker

    try:
        Marker(marker)
    except InvalidMarker:
        raise _invalid(path, f"{where} has the marker {marker!r}, which is not one") from None


def _check_url(url: str, path: Path, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url):
        raise _invalid(path, f"{where} has the URL {url!r}; pipmodels takes http(s) URLs only")
    if "@" in parts.netloc:
        raise PipmodelsError(
            f"{path}: {where} has a URL with user-info ({parts.scheme}://****@"
            f"{parts.netloc.rpartition('@')[2]}...): a lock must not carry a credential, and "
            "pipmodels does not send one it finds in a file others can change. Nothing was "
            "fetched.",
            "Remove the user-info from the URL (and revoke the key if it was real); pipmodels "
            "takes keys from your inputs, .env, netrc or keyring, for their origin only.",
        )


def _check_path(relative: str, path: Path, where: str) -> None:
    pure = PurePosixPath(relative)
    if pure.is_absolute() or "\\" in relative or ":" in relative or ".." in pure.parts:
        raise _invalid(
            path, f"{where} has the path {relative!r}, which is not inside the lock's folder"
        )


def _invalid(path: Path, why: str) -> PipmodelsError:
    return PipmodelsError(f"{path} is not a lock pipmodels can install: {why}.", _HINT)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- as requirement lines --------------------------------------------------------------------


def as_requirements(
    packages: Sequence[Package], lock_dir: Path, versions: Mapping[str, str]
) -> str:
    """The lock as a compiled requirements text for the sync: each index once as
    ``--extra-index-url``, each package ``name==version`` with its sha256 hashes; an archive's
    version, when the lock gives none, from ``versions`` (the cached file's, by sha256)."""
    indexes = dict.fromkeys(p.index for p in packages if p.index)
    lines = [f"--extra-index-url {index}\n" for index in indexes]
    for package in packages:
        marker = f" ; {package.marker}" if package.marker else ""
        hashes = "".join(f" \\\n    --hash=sha256:{f.sha256}" for f in package.files)
        version = package.version
        if version is None and package.archive is not None:
            version = versions.get(package.archive.sha256)
        if version is None:
            reference = _where(package.archive, lock_dir) if package.archive else ""
            lines.append(f"{package.name} @ {reference}{marker}{hashes}\n")
        else:
            lines.append(f"{package.name}=={version}{marker}{hashes}\n")
    return "".join(lines)


def requirements_file(path: Path, packages: Sequence[Package]) -> RequirementsFile:
    """The lock's archives as the requirement lines of an input, ``name @ URL --hash=...``:
    models, which the download step fetches into the cache from the recorded URLs."""
    parsed = RequirementsFile(path)
    for number, package in enumerate(packages, start=1):
        if package.archive is None:
            continue
        marker = f" ; {package.marker}" if package.marker else ""
        where = _where(package.archive, path.parent)
        text = f"{package.name} @ {where}{marker} --hash=sha256:{package.archive.sha256}"
        line = Line(path, number, text)
        parsed.lines.append(line)
        parsed.requirement_lines.append(line)
    return parsed


def _where(file: File, lock_dir: Path) -> str:
    if file.path is not None:  # PEP 751: path before url, as pip reads it
        return Path(os.path.abspath(lock_dir / file.path)).as_uri()
    assert file.url is not None
    return file.url


def sizes(packages: Sequence[Package]) -> dict[str, int]:
    """The size each archive entry records, by sha256."""
    return {
        p.archive.sha256: p.archive.size
        for p in packages
        if p.archive is not None and p.archive.size is not None
    }
