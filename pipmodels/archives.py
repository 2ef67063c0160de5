"""What a package archive is: its name and version, whether it is whole, its canonical filename."""

from __future__ import annotations

import re
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pipmodels.errors import PipmodelsError
from pipmodels.filenames import name_from_filename
from pipmodels.files import sha256_of

# PEP 508's project name: the cached file is named after it, so a name from a hostile archive
# ("/home/me/.bashrc") must never reach a path.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.I)
# Real METADATA and PKG-INFO files are kilobytes; a larger one is read no further than this,
# so that a small archive inflating to gigabytes cannot exhaust memory.
MAX_METADATA_BYTES = 16 << 20


@dataclass(frozen=True)
class Archive:
    path: Path
    name: NormalizedName
    version: Version
    sha256: str


def inspect(path: Path, *, shown_as: str | None = None, sha256: str | None = None) -> Archive:
    """Check that ``path`` is a whole, readable archive and read its name and version.

    The metadata inside is the authority; a filename that says otherwise is an error, so that a
    renamed or mislabelled download can never be installed under the wrong pin.
    """
    label = shown_as or path.name
    metadata = _read_metadata(path, label)
    try:
        raw_name = metadata["Name"]
        version = Version(metadata["Version"])
    except (KeyError, TypeError, InvalidVersion):
        raise PipmodelsError(
            f"{label} has no valid Name and Version in its metadata.",
            "Rebuild the package, or fix the URL so it points at the package archive.",
        ) from None
    if not _PROJECT_NAME.match(raw_name):
        raise PipmodelsError(
            f"{label}: its metadata gives {raw_name[:60]!a}, which is not a valid project "
            "name. Nothing was added to the cache.",
            "Do not trust this source; point the requirement at the real package archive.",
        )
    name = canonicalize_name(raw_name)
    from_name = name_from_filename(path.name)
    if from_name is not None and from_name != (name, version):
        raise PipmodelsError(
            f"{label}: the filename says {from_name[0]} {from_name[1]} but its metadata says "
            f"{name} {version}.",
            "Use the archive under its real name, or rebuild it with matching metadata.",
        )
    return Archive(path, name, version, sha256 or sha256_of(path))


def _read_metadata(path: Path, label: str) -> dict[str, str]:
    not_archive = PipmodelsError(
        f"{label} is not a readable package archive (truncated, corrupt, or not an archive at all:"
        " an HTML page served instead of the file, say). Nothing was added to the cache.",
        "Check the URL in a browser; if it is right, run again to fetch the file anew.",
    )
    _refuse_wrong_form(path, label)
    try:
        if zipfile.is_zipfile(path):
            text = _zip_metadata(path, label)
        elif tarfile.is_tarfile(path):
            text = _tar_metadata(path)
        else:
            raise not_archive
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, UnicodeDecodeError):
        raise not_archive from None
    if text is None:
        raise PipmodelsError(
            f"{label} holds no package metadata (no .dist-info/METADATA or PKG-INFO). Nothing "
            "was added to the cache.",
            "Point pipmodels at a wheel or sdist of the package.",
        )
    return dict(HeaderParser().parsestr(text).items())


# What each archive name promises its first bytes are: pip opens a .whl as a zip and a
# .tar.gz as a gzip stream, whatever the file really holds.
_MAGIC = {
    ".whl": (b"PK\x03\x04", "a zip file"),
    ".zip": (b"PK\x03\x04", "a zip file"),
    ".tar.gz": (b"\x1f\x8b", "a gzip-compressed tar file"),
    ".tgz": (b"\x1f\x8b", "a gzip-compressed tar file"),
    ".tar.bz2": (b"BZh", "a bzip2-compressed tar file"),
}


def _refuse_wrong_form(path: Path, label: str) -> None:
    suffix = next((s for s in _MAGIC if path.name.lower().endswith(s)), None)
    if suffix is None:
        return  # a name without an archive suffix: the content decides
    magic, form = _MAGIC[suffix]
    try:
        with path.open("rb") as stream:
            head = stream.read(len(magic))
    except OSError:
        head = b""
    if head != magic and _is_some_archive(path):  # not an archive at all: said below
        raise PipmodelsError(
            f"{label} is named {suffix} but is not {form}, so pip could not install it. Nothing "
            "was added to the cache.",
            "Check the URL: it must point at the archive itself. If the file is right but "
            "misnamed, ask its publisher to fix it.",
        )


def _is_some_archive(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError, EOFError):
        return False


def _zip_metadata(path: Path, label: str) -> str | None:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        member = _zip_metadata_member(names)
        if member is None:
            return None
        size = archive.getinfo(member).file_size
        _refuse_large_metadata(size, path)  # before testzip inflates it
        if path.name.endswith(".whl"):
            _refuse_malformed_wheel(names, path, label)
        broken = archive.testzip()  # reads every member: a truncated download fails here
        if broken is not None:
            raise zipfile.BadZipFile(broken)
        with archive.open(member) as stream:
            return stream.read(MAX_METADATA_BYTES).decode("utf-8")


def _refuse_malformed_wheel(names: list[str], path: Path, label: str) -> None:
    """One ``NAME-VERSION.dist-info`` folder, with METADATA, WHEEL and RECORD, naming the
    project and version the file name gives: what pip needs to install the wheel at all."""
    folders = sorted(
        {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    )
    problem = None
    if len(folders) != 1:
        problem = f"it has {len(folders)} .dist-info folders where a wheel has one"
    else:
        folder = folders[0]
        missing = [f for f in ("METADATA", "WHEEL", "RECORD") if f"{folder}/{f}" not in names]
        if missing:
            problem = f"its {folder} folder lacks {', '.join(missing)}"
        else:
            problem = _dist_info_disagrees(folder, path.name)
    if problem:
        raise PipmodelsError(
            f"{label} is not a valid wheel: {problem}, so pip would refuse it. Nothing was "
            "added to the cache.",
            "Check the URL, or rebuild the wheel (python -m build) and point at the new file.",
        )


def _dist_info_disagrees(folder: str, filename: str) -> str | None:
    stem = folder[: -len(".dist-info")]
    dist, sep, version_text = stem.rpartition("-")
    try:
        version = Version(version_text) if sep else None
    except InvalidVersion:
        version = None
    if version is None or not _PROJECT_NAME.match(dist):
        return f"its folder {ascii(folder)[:80]} does not name a project and version"
    from_name = name_from_filename(filename)
    if from_name is not None and from_name != (canonicalize_name(dist), version):
        return (
            f"its {folder} folder names {canonicalize_name(dist)} {version}, but the file name "
            f"says {from_name[0]} {from_name[1]}"
        )
    return None


def _zip_metadata_member(names: list[str]) -> str | None:
    """A wheel's ``*.dist-info/METADATA``, else a zip sdist's ``*/PKG-INFO``."""
    for member in names:
        parts = member.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            return member
    return next((m for m in names if m.count("/") == 1 and m.endswith("/PKG-INFO")), None)


def _refuse_large_metadata(size: int, path: Path) -> None:
    if size > MAX_METADATA_BYTES:
        raise PipmodelsError(
            f"{path.name}: its metadata is larger than {MAX_METADATA_BYTES >> 20} MB "
            f"({size} bytes), which no real package has. Nothing was added to the cache.",
            "Do not trust this source; point the requirement at the real package archive.",
        )


def _tar_metadata(path: Path) -> str | None:
    text = None
    with tarfile.open(path) as archive:
        for member in archive:  # iterating reads the whole stream: truncation fails here
            if text is None and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                stream = archive.extractfile(member)
                _refuse_large_metadata(member.size, path)
                if stream is not None:
                    text = stream.read().decode("utf-8")
    return text
