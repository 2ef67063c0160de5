"""The ``pipmodels`` entry point: a no-op ``pipmodels sync`` answers before click loads.

A warm ``pipmodels sync`` is the command users run most (every ``make install``, every CI job),
and when nothing changed it should cost little more than starting Python. This module reads the
common forms of that command line by hand; anything it does not know, and any sync that has
work to do, goes to the full command line in :mod:`pipmodels.cli`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipmodels.options import CommandLine

# Options a no-op sync may carry, and whether each takes a value.
_VALUED = {
    "-m": "models_files",
    "--models": "models_files",
    "--cache-dir": "cache_dir",
    "--env-file": "env_file",
    "--python-executable": "python_executable",
    "--engine": "engine",
}
_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--allow-system": "allow_system"}


def main() -> None:
    if sys.argv[1:2] == ["sync"] and _answered_fast(sys.argv[2:]):
        return
    from pipmodels.cli import main as full

    full()


def parse(args: list[str]) -> CommandLine | None:
    """A plain ``sync`` command line as values; None for anything this reader does not know."""
    from pipmodels.options import CommandLine

    models: list[Path] = []
    sources: list[Path] = []
    valued: dict[str, str] = {}
    flags: set[str] = set()
    words = iter(args)
    for word in words:
        option, equals, inline = word.partition("=")
        if option in _VALUED:
            value = inline if equals else next(words, None)
            if value is None:
                return None
            if option in ("-m", "--models"):
                models.append(Path(value))
            else:
                valued[_VALUED[option]] = value
        elif word in _FLAGS:
            flags.add(_FLAGS[word])
        elif word.startswith("-"):
            return None
        else:
            sources.append(Path(word))
    cache_dir = valued.get("cache_dir") or os.environ.get("PIPMODELS_CACHE_DIR")
    return CommandLine(
        sources=tuple(sources),
        models_files=tuple(models),
        cache_dir=Path(cache_dir) if cache_dir else None,
        env_file=Path(valued["env_file"]) if "env_file" in valued else None,
        python_executable=valued.get("python_executable"),
        allow_system="allow_system" in flags,
        quiet="quiet" in flags,
        # The engine is part of the fingerprint: read it as the full command line would.
        engine=valued.get("engine") or os.environ.get("PIPMODELS_ENGINE") or None,
    )


def _answered_fast(args: list[str]) -> bool:
    given = parse(args)
    if given is None:
        return False
    from pipmodels import config, console, fastpath, statedir
    from pipmodels.errors import PipmodelsError
    from pipmodels.options import resolve
    from pipmodels.session import Session

    try:
        options = resolve(given, config.load(Path("pyproject.toml")))
        session = Session.load(options)
    except PipmodelsError:
        return False  # the full command reports it
    try:
        if not fastpath.is_unchanged(session):
            return False
        session.cache.sweep_if_idle()
        statedir.sweep_dead_runs(statedir.state_home(session.ctx.base_environ))
        if not given.quiet:
            console.info(fastpath.unchanged_message(session))
        return True
    finally:
        session.ctx.close()
