"""Package file names: what they say, the name pip expects, a safe name for one from a server.

Every file name that reaches pipmodels from a server (a URL's last path segment, a
Content-Disposition header, a link on a page) goes through :func:`safe_filename` before it
touches the disk, so a hostile name can never write outside the folder it is meant for.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipmodels.errors import PipmodelsError

# PEP 751's names for a lock file: pylock.toml, pylock.NAME.toml
LOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")

if TYPE_CHECKING:
    from packaging.utils import NormalizedName
    from packaging.version import Version

ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2")
# Longest name most file systems accept, in bytes; leaves room for a ".part" suffix.
MAX_FILENAME_BYTES = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
# Names Windows reserves whatever the extension.
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.I)


def canonical_name(name: str) -> str:
    """PEP 503 normalisation, as packaging.utils.canonicalize_name (slower to import)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_filename(raw: str, *, what: str) -> str:
    """``raw`` as a plain base name, or a PipmodelsError saying why it cannot be one.

    ``raw`` is already percent-decoded. Folders, NUL and control characters, characters that
    Windows forbids, names made of dots, reserved device names and over-long names are refused
    rather than repaired: a server that sends such a name is not serving a package archive.
    """
    problem = filename_problem(raw)
    if problem:
        shown = ascii(raw[:60]) + ("..." if len(raw) > 60 else "")
        raise PipmodelsError(
            f"{what} gives the file name {shown}, which pipmodels will not write: {problem}.",
            "Point the requirement at a URL that ends in the archive's real name "
            "(name-version-....whl or name-version.tar.gz).",
        )
    return raw


def filename_problem(name: str) -> str | None:
    """Why ``name`` is not a plain base name that is safe to write, or None when it is."""
    if not name or set(name) <= {"."}:
        return "it is empty"
    if _UNSAFE.search(name):
        return "it holds a folder separator or a character no file name may hold"
    if _RESERVED.match(name) or name.startswith(".") or name.endswith((".", " ")):
        return "it is a reserved or hidden name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        return f"it is longer than {MAX_FILENAME_BYTES} bytes"
    return None


def name_from_filename(filename: str) -> tuple[NormalizedName, Version] | None:
    """Name and version from a wheel or sdist filename, or None when it carries no valid version."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import InvalidVersion

    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def canonical_filename(filename: str, name: str, version: Version) -> str:
    """The filename pip expects for this archive, e.g. for Hugging Face's ``*-any-*.whl``."""
    stem = canonical_name(name).replace("-", "_")
    if filename.endswith(".whl"):
        tags = "-".join(filename[: -len(".whl")].split("-")[-3:])
        return f"{stem}-{version}-{tags}.whl"
    if filename.endswith(".zip"):
        return f"{stem}-{version}.zip"
    return f"{stem}-{version}.tar.gz"
