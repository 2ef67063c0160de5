"""Command lines for pip download, pip-compile and pip-sync, built by pure functions.

Nothing here may carry a credential: those reach pip through the private netrc file the run's
context writes. These functions only build lists; :mod:`pipmodels.context` runs them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def python_module(module: str, *args: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", module, *args]


def pip_download(
    requirement_file: Path, dest: Path, *, resume_retries: int, verbose: bool
) -> list[str]:
    """Download one model by name: wheels only, so that no setup.py from an index ever runs,
    and without pip's HTTP cache, which would hold a second copy of the model (and, in older
    pips, the whole response in memory)."""
    cmd = python_module(
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--no-cache-dir",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        "--requirement",
        str(requirement_file),
    )
    if resume_retries:
        cmd += ["--resume-retries", str(resume_retries)]
    if verbose:
        cmd.append("--verbose")
    return cmd


def pip_compile(
    sources: Sequence[str],
    output: Path,
    *,
    find_links: Path,
    hashes: bool,
    extra_args: Sequence[str] = (),
    verbose: bool = False,
) -> list[str]:
    """pip-compile against the cache's links page. Index URLs are left out of its output:
    those of the user's machine (pip.conf, ``PIP_*``) do not belong in a committed lock, and
    pipmodels writes those the inputs declare itself, without credentials."""
    cmd = python_module(
        "piptools",
        "compile",
        "--find-links",
        str(find_links),
        "--no-emit-find-links",
        "--no-emit-index-url",
        "--no-emit-trusted-host",
        "--output-file",
        str(output),
    )
    if hashes:
        cmd.append("--generate-hashes")
    cmd.append("--verbose" if verbose else "--quiet")
    cmd += list(extra_args)
    cmd += list(sources)
    return cmd


def pip_sync(
    requirement_file: Path,
    *,
    find_links: Sequence[str],
    python_executable: str | None,
    extra_args: Sequence[str] = (),
    verbose: bool = False,
) -> list[str]:
    cmd = python_module("piptools", "sync")
    for page in find_links:
        cmd += ["--find-links", page]
    if python_executable:
        cmd += ["--python-executable", python_executable]
    if verbose:
        cmd.append("--verbose")
    cmd += list(extra_args)
    cmd.append(str(requirement_file))
    return cmd


# Run inside a target interpreter, which may lack every third-party package.
LIST_DISTRIBUTIONS = r"""
import json, sys, importlib.metadata as md
out = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        out[name] = [dist.version, dist.requires or []]
print(json.dumps({"path": sys.path, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
                  "distributions": out}))
"""


def describe_python(python: str) -> list[str]:
    """A command that prints a Python's search path, prefixes and distributions as JSON."""
    return [python, "-c", LIST_DISTRIBUTIONS]
