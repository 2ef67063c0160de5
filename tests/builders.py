"""Real package archives for tests: wheels and sdists that pip installs and pip-compile reads."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    payload: int = 2000,
    filename: str | None = None,
    metadata_name: str | None = None,
    marker: str = "",
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """A pure-Python wheel whose module ``name`` holds ``payload`` bytes of model data, and
    ``extra_files`` (member name -> content), such as a spaCy model's ``meta.json``."""
    module = name.replace("-", "_").lower()
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {metadata_name or name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\nMARKER = {marker!r}\n".encode(),
        f"{module}/model.bin": bytes(i % 251 for i in range(payload)),
        **(extra_files or {}),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{p},sha256={_record_hash(d)},{len(d)}" for p, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / (filename or f"{dist}-{version}-py3-none-any.whl")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    setup_py: str | None = None,
    payload: int = 2000,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """A setuptools sdist; ``setup_py`` replaces the default setup.py (to prove it never runs).
    ``extra_files`` are named relative to the sdist's root folder."""
    dist = name.replace("-", "_")
    module = dist.lower()
    root = f"{dist}-{version}"
    files = {
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{root}/setup.py": (
            setup_py
            or f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, "
            f"packages=[{module!r}])\n"
        ).encode(),
        f"{root}/{module}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{root}/{module}/model.bin": bytes(i % 251 for i in range(payload)),
        **{f"{root}/{member}": data for member, data in (extra_files or {}).items()},
    }
    path = dest / f"{dist}-{version}.tar.gz"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for member, data in files.items():
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
