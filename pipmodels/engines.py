"""The engine that compiles and syncs: pip-tools (the default) or uv.

Both get the same inputs (the mirrored input files, the cache's links page, the target Python)
and must give the same guarantees; this module turns one run's settings into the command line
of each. The command lines are built by pure functions; :func:`compile_command` and
:func:`sync_command` pick the engine and gather what those functions need.

uv reads neither pip.conf nor ``PIP_*`` variables, so the user's pip index settings reach it as
arguments. By then they carry no credential: the context stripped them, and uv, like pip,
reads the credentials from the private netrc file that ``NETRC`` names.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import pipconfig, piptools
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import INDEX_OPTIONS
from pipmodels.options import UV
from pipmodels.reqfile import split_option

if TYPE_CHECKING:
    from pipmodels.installed import Target
    from pipmodels.session import Session


@dataclass(frozen=True)
class Command:
    cmd: list[str]
    what: str  # the name a failure message gives the command
    env: dict[str, str] = field(default_factory=dict)  # added to the context's environment
    would_change: tuple[int, ...] = ()  # exit statuses that mean "a dry run would change"


def find_uv(environ: Mapping[str, str]) -> str:
    """The uv of the ``uv`` package (``pipmodels[uv]``) when installed, else uv on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pass
    else:
        try:
            return str(find_uv_bin())
        except FileNotFoundError:
            pass
    found = shutil.which("uv", path=environ.get("PATH"))
    if found is None:
        raise PipmodelsError(
            "--engine uv needs uv, which is neither installed as a Python package here nor "
            "on PATH.",
            "Install it with pip install 'pipmodels[uv]', or choose --engine pip-tools.",
        )
    return found


def uv_pip_compile(
    uv: str,
    sources: Sequence[str],
    output: Path,
    *,
    find_links: Path,
    hashes: bool,
    header_command: str,
    python: str,
    index_args: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    verbose: bool = False,
) -> list[str]:
    """uv pip compile against the cache's links page. uv leaves index and find-links URLs out
    of its output unless asked (--emit-index-url, --emit-find-links), as pipmodels wants."""
    cmd = [
        uv,
        "pip",
        "compile",
        "--python",
        python,
        "--find-links",
        str(find_links),
        *index_args,
        "--custom-compile-command",
        header_command,
        "--output-file",
        str(output),
        "--no-progress",
    ]
    if hashes:
        cmd.append("--generate-hashes")
    cmd.append("--verbose" if verbose else "--quiet")
    return [*cmd, *extra_args, *sources]


def uv_pip_sync(
    uv: str,
    requirement_file: Path,
    *,
    find_links: Sequence[str],
    python: str,
    system: bool,
    dry_run: bool,
    index_args: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    verbose: bool = False,
) -> list[str]:
    """uv pip sync into ``python``. uv refuses a Python that is not a virtual environment
    unless told ``--system``; pipmodels asks for that only with ``--allow-system``."""
    cmd = [uv, "pip", "sync", "--python", python, "--no-progress"]
    for page in find_links:
        cmd += ["--find-links", page]
    cmd += index_args
    if system:
        cmd.append("--system")
    if dry_run:
        cmd.append("--dry-run")  # exits 0 whether or not it would change anything
    if verbose:
        cmd.append("--verbose")
    return [*cmd, *extra_args, str(requirement_file)]


def uv_index_args(
    settings: Mapping[str, Sequence[str]], *, inputs_declare_index: bool, no_index: bool = False
) -> list[str]:
    """The user's pip index settings (pip.conf and ``PIP_*``, as :mod:`pipconfig` reads them) as
    uv arguments. An index URL the inputs declare (``-i``) wins over the machine's for pip;
    uv would let an ``--index-url`` argument win over the file's, so none is passed then."""
    args: list[str] = []
    index = settings.get("index-url", [])
    if index and not inputs_declare_index:
        args += ["--index-url", index[-1]]
    for url in settings.get("extra-index-url", []):
        args += ["--extra-index-url", url]
    for location in settings.get("find-links", []):
        args += ["--find-links", location]
    if no_index:
        args.append("--no-index")
    return args


def compile_command(
    session: Session,
    sources: Sequence[str],
    output: Path,
    *,
    page: Path,
    reuse_hashes: bool = True,
) -> Command:
    """``page``: the cache's links page for this run (:meth:`Cache.run_page`).
    ``reuse_hashes=False``: pip-compile hashes every file afresh (uv always does)."""
    options, ctx = session.options, session.ctx
    if options.engine == UV:
        cmd = uv_pip_compile(
            find_uv(ctx.environ),
            sources,
            output,
            find_links=page,
            hashes=options.hashes,
            header_command=options.header_command,
            python=sys.executable,
            index_args=_index_args(session),
            extra_args=options.compile_args,
            verbose=ctx.verbose,
        )
        return Command(cmd, "uv pip compile")
    cmd = piptools.pip_compile(
        sources,
        output,
        find_links=page,
        hashes=options.hashes,
        extra_args=(*options.compile_args, *(() if reuse_hashes else ("--no-reuse-hashes",))),
        verbose=ctx.verbose,
    )
    return Command(cmd, "pip-compile", env={"CUSTOM_COMPILE_COMMAND": options.header_command})


def sync_command(
    session: Session, request: Path, target: Target, *, dry_run: bool, page: Path
) -> Command:
    options, ctx = session.options, session.ctx
    find_links = [str(page), *session.find_links_pages()]
    if options.engine == UV:
        cmd = uv_pip_sync(
            find_uv(ctx.environ),
            request,
            find_links=find_links,
            python=target.python or sys.executable,
            system=options.allow_system and not target.is_virtual,
            dry_run=dry_run,
            index_args=_index_args(session),
            extra_args=options.sync_args,
            verbose=ctx.verbose,
        )
        return Command(cmd, "uv pip sync")
    cmd = piptools.pip_sync(
        request,
        find_links=find_links,
        python_executable=options.python_executable,
        extra_args=(*options.sync_args, *(("--dry-run",) if dry_run else ())),
        verbose=ctx.verbose,
    )
    # pip-sync --dry-run exits 1 when it would change something
    return Command(cmd, "pip-sync", would_change=(1,) if dry_run else ())


def _index_args(session: Session) -> list[str]:
    environ = session.ctx.environ  # credentials stripped from every URL in it
    declared = any(
        split_option(line.text)[0] in INDEX_OPTIONS[:2]
        for parsed in session.inputs.source_tree
        for line in parsed.options
    )
    return uv_index_args(
        pipconfig.url_settings(environ),
        inputs_declare_index=declared,
        no_index=environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"),
    )
