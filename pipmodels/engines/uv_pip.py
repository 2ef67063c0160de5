"""The uv engine (``--engine uv``): ``uv pip compile`` and ``uv pip sync``.

It gets the same inputs as pip-tools (the mirrored input files, the cache's links page, the
target Python) and must give the same guarantees and the same resolution. uv reads neither
pip.conf nor ``PIP_*`` variables, so the user's pip index settings reach it as arguments. By
then they carry no credential: the context stripped them, and uv, like pip, reaches a keyed
origin through the run's gateway (see :mod:`pipmodels.gateway`).

Two of pip's rules differ from uv's defaults. pip takes the best version from every index; uv
stops at the first index that has the name, so with extra indexes uv is told pip's strategy.
A ``constraint`` in pip's configuration is ignored by pip-compile and applied by pip-sync (its
``pip install`` reads pip.conf); uv pip sync gets it as ``--constraints``, and uv pip compile
does not.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import pipconfig, pipoutput
from pipmodels.engines.base import Command, Header
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import INDEX_OPTIONS
from pipmodels.reqfile import split_option

if TYPE_CHECKING:
    from pipmodels.installed import Target
    from pipmodels.session import Session

# pip's way: every index is searched and the best version wins (uv's default is first-index).
PIP_INDEX_STRATEGY = ("--index-strategy", "unsafe-best-match")


def find_uv(environ: Mapping[str, str]) -> str:
    """The uv of the ``uv`` package (``pipmodels[uv]``) when installed, else uv on PATH."""
    try:
        from uv import find_uv_bin  # optional: the ``uv`` extra
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
        *ENGINE.header(header_command).args,
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
    settings: Mapping[str, Sequence[str]],
    *,
    inputs_declare_index: bool,
    no_index: bool = False,
    inputs_declare_extra_index: bool = False,
    strategy_chosen: bool = False,
) -> list[str]:
    """The user's pip index settings (pip.conf and ``PIP_*``, as :mod:`pipconfig` reads them) as
    uv arguments. An index URL the inputs declare (``-i``) wins over the machine's for pip;
    uv would let an ``--index-url`` argument win over the file's, so none is passed then.
    With more than one index, pip's strategy, unless the user chose uv's own."""
    args: list[str] = []
    index = settings.get("index-url", [])
    if index and not inputs_declare_index:
        args += ["--index-url", index[-1]]
    extras = settings.get("extra-index-url", [])
    for url in extras:
        args += ["--extra-index-url", url]
    for location in settings.get("find-links", []):
        args += ["--find-links", location]
    if no_index:
        args.append("--no-index")
    elif (extras or inputs_declare_extra_index) and not strategy_chosen:
        args += PIP_INDEX_STRATEGY
    return args


def constraint_args(environ: Mapping[str, str]) -> list[str]:
    """pip's ``constraint`` setting (pip.conf, ``PIP_CONSTRAINT``) for uv pip sync."""
    args: list[str] = []
    for path in pipconfig.setting(environ, "constraint"):
        args += ["--constraints", path]
    return args


class UvPip:
    name = "uv"
    config_prefix = "uv"
    settings_prefix = "UV_"
    # pip-tools options that uv has no counterpart for
    refused_options: Mapping[str, str] = {"resolver": "--resolver", "pip_args": "--pip-args"}

    def header(self, command: str) -> Header:
        return Header(args=("--custom-compile-command", command))

    def compile_command(
        self,
        session: Session,
        sources: Sequence[str],
        output: Path,
        *,
        page: Path,
        reuse_hashes: bool = True,  # uv hashes every file afresh anyway
    ) -> Command:
        options, ctx = session.options, session.ctx
        cmd = uv_pip_compile(
            find_uv(ctx.environ),
            sources,
            output,
            find_links=page,
            hashes=options.hashes,
            header_command=options.header_command,
            python=sys.executable,
            index_args=_index_args(session, options.compile_args),
            extra_args=options.compile_args,
            verbose=ctx.verbose,
        )
        return Command(cmd, "uv pip compile")

    def sync_command(
        self, session: Session, request: Path, target: Target, *, dry_run: bool, page: Path
    ) -> Command:
        options, ctx = session.options, session.ctx
        cmd = uv_pip_sync(
            find_uv(ctx.environ),
            request,
            find_links=[str(page), *session.find_links_pages()],
            python=target.python or sys.executable,
            system=options.allow_system and not target.is_virtual,
            dry_run=dry_run,
            index_args=[
                *_index_args(session, options.sync_args),
                *constraint_args(ctx.base_environ),
            ],
            extra_args=options.sync_args,
            verbose=ctx.verbose,
        )
        return Command(cmd, "uv pip sync")

    def sync_report(self, output: str, *, dry_run: bool) -> pipoutput.SyncReport:
        return pipoutput.uv_sync_report(output)


def _index_args(session: Session, extra_args: Sequence[str]) -> list[str]:
    environ = session.ctx.base_environ
    flags = [
        split_option(line.text)[0]
        for parsed in session.inputs.source_tree
        for line in parsed.options
    ]
    return uv_index_args(
        session.ctx.child_settings(),  # resolved once, keyed origins through the gateway
        inputs_declare_index=any(flag in INDEX_OPTIONS[:2] for flag in flags),
        no_index=environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"),
        inputs_declare_extra_index="--extra-index-url" in flags,
        strategy_chosen="UV_INDEX_STRATEGY" in environ
        or any(arg.startswith("--index-strategy") for arg in extra_args),
    )


ENGINE = UvPip()
