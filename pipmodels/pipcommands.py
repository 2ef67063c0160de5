"""Command lines for pip itself (pip download, a look into a target Python), built by pure
functions. The engines' command lines (pip-compile, uv pip ...) live in :mod:`pipmodels.engines`.

Nothing here may carry a credential: keyed origins reach pip through the run's gateway.
These functions only build lists; :mod:`pipmodels.context` runs them.
"""

from __future__ import annotations

import sys
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
