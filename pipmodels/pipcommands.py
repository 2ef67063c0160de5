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


# Run inside a target interpreter, which may lack every third-party package. For each
# distribution: its version, its requirements, and, when pip installed it from a file or URL
# with a hash (pip records that in direct_url.json), that reference as pip-sync keys it
# (``url#sha256=...``): pip-sync takes such a distribution for one that no ``name==version``
# pin satisfies. In this process, :mod:`pipmodels.installed` runs the same function.
DESCRIBE_ENVIRONMENT = r"""
def describe_environment():
    import json, sys, importlib.metadata as md
    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if not name or name in out:  # the first on the path is the one imported
            continue
        direct = None
        try:
            recorded = json.loads(dist.read_text("direct_url.json") or "null") or {}
            archive = recorded.get("archive_info")
            if isinstance(archive, dict) and recorded.get("url"):
                hashes = archive.get("hashes") or {}
                if hashes:
                    algorithm, value = next(iter(hashes.items()))
                    direct = recorded["url"] + "#" + algorithm + "=" + value
                elif archive.get("hash"):
                    direct = recorded["url"] + "#" + archive["hash"]
        except (ValueError, TypeError, AttributeError, StopIteration):
            direct = None
        out[name] = [dist.version, dist.requires or [], direct]
    return {"path": sys.path, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
            "distributions": out}
"""
LIST_DISTRIBUTIONS = (
    DESCRIBE_ENVIRONMENT + "\nimport json\nprint(json.dumps(describe_environment()))\n"
)


def describe_python(python: str) -> list[str]:
    """A command that prints a Python's search path, prefixes and distributions as JSON."""
    return [python, "-c", LIST_DISTRIBUTIONS]
