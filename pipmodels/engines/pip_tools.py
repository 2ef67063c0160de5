"""The default engine: pip-compile and pip-sync (pip-tools), run as ``python -m piptools``.

pip-tools reads pip's own configuration (pip.conf, and the ``PIP_*`` settings the context
gives, keyed origins routed through the gateway), so its command lines carry only the cache's
links page and the user's pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import pipoutput
from pipmodels.engines.base import Command, Header
from pipmodels.pipcommands import python_module

if TYPE_CHECKING:
    from pipmodels.installed import Target
    from pipmodels.session import Session


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


class PipTools:
    name = "pip-tools"
    config_prefix = "pip"
    settings_prefix = "PIP_"
    refused_options: Mapping[str, str] = {}

    def header(self, command: str) -> Header:
        return Header(env={"CUSTOM_COMPILE_COMMAND": command})

    def compile_command(
        self,
        session: Session,
        sources: Sequence[str],
        output: Path,
        *,
        page: Path,
        reuse_hashes: bool = True,
    ) -> Command:
        options = session.options
        cmd = pip_compile(
            sources,
            output,
            find_links=page,
            hashes=options.hashes,
            extra_args=(*options.compile_args, *(() if reuse_hashes else ("--no-reuse-hashes",))),
            verbose=session.ctx.verbose,
        )
        return Command(cmd, "pip-compile", env=dict(self.header(options.header_command).env))

    def sync_command(
        self, session: Session, request: Path, target: Target, *, dry_run: bool, page: Path
    ) -> Command:
        options = session.options
        cmd = pip_sync(
            request,
            find_links=[str(page), *session.find_links_pages()],
            python_executable=options.python_executable,
            extra_args=(*options.sync_args, *(("--dry-run",) if dry_run else ())),
            verbose=session.ctx.verbose,
        )
        # pip-sync --dry-run exits 1 when it would change something
        return Command(cmd, "pip-sync", would_change=(1,) if dry_run else ())

    def sync_report(self, output: str, *, dry_run: bool) -> pipoutput.SyncReport:
        return pipoutput.sync_report(output, dry_run=dry_run)


ENGINE = PipTools()
