"""Command lines for pip download, pip-compile and pip-sync, built by pure functions.

Nothing here may carry a credential: those reach pip through requirement files it expands
itself and through the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pipmodels.runner import python_module


def pip_download(
    requirement_file: Path, dest: Path, *, resume_retries: int, verbose: bool
) -> list[str]:
    cmd = python_module(
        "pip",
        "download",
        "--no-deps",
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
    cmd = python_module(
        "piptools",
        "compile",
        "--find-links",
        str(find_links),
        "--no-emit-find-links",
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


def compile_environment(environ: Mapping[str, str], header_command: str) -> dict[str, str]:
    """pip-compile takes the command for its header from the environment only."""
    return {**environ, "CUSTOM_COMPILE_COMMAND": header_command}


def pip_sync(
    requirement_file: Path,
    *,
    find_links: Path,
    python_executable: str | None,
    extra_args: Sequence[str] = (),
    verbose: bool = False,
) -> list[str]:
    cmd = python_module("piptools", "sync", "--find-links", str(find_links))
    if python_executable:
        cmd += ["--python-executable", python_executable]
    if verbose:
        cmd.append("--verbose")
    cmd += list(extra_args)
    cmd.append(str(requirement_file))
    return cmd
