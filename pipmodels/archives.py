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
        " an HTML page served instead of the file, say).",
        "Check the URL in a browser; if it is right, run again to fetch the file anew.",
    )
    try:
        if zipfile.is_zipfile(path):
            text = _zip_metadata(path)
        elif tarfile.is_tarfile(path):
            text = _tar_metadata(path)
        else:
            raise not_archive
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, UnicodeDecodeError):
        raise not_archive from None
    if text is None:
        raise PipmodelsError(
            f"{label} holds no package metadata (no .dist-info/METADATA or PKG-INFO).",
            "Point pipmodels at a wheel or sdist of the package.",
        )
    return dict(HeaderParser().parsestr(text).items())


def _zip_metadata(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        member = _zip_metadata_member(archive.namelist())
        if member is None:
            return None
        size = archive.getinfo(member).file_size
        _refuse_large_metadata(size, path)  # before testzip inflates it
        broken = archive.testzip()  # reads every member: a truncated download fails here
        if broken is not None:
            raise zipfile.BadZipFile(broken)
        with archive.open(member) as stream:
            return stream.read(MAX_METADATA_BYTES).decode("utf-8")


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
