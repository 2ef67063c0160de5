"""The ``pipmodels`` entry point: a no-op ``pipmodels sync`` answers before click loads.

A warm ``pipmodels sync`` is the command users run most (every ``make install``, every CI job),
and when nothing changed it should cost little more than starting Python. This module reads that
command line with :mod:`pipmodels.grammar`, the table the full command line is built from;
anything that reader leaves to click, and any sync that has work to do, goes to the full
command line in :mod:`pipmodels.cli`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing and collections.abc cost a no-op more than its own work
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipmodels.options import CommandLine


def main() -> None:
    if sys.argv[1:2] == ["sync"] and (
        _answered_at_once(sys.argv[1:]) or _answered_fast(sys.argv[2:])
    ):
        return
    from pipmodels.cli import main as full

    full()


def _answered_at_once(argv: list[str]) -> bool:
    """The last sync of this very command line, when nothing it read has changed since: no
    option or input is parsed, nothing but ``os`` is used (:mod:`pipmodels.quickcheck`)."""
    from pipmodels import quickcheck

    message = quickcheck.answer(quickcheck.state_folder(os.environ), argv, os.environ)
    if message is None:
        return False
    if message:
        print(message, file=sys.stderr, flush=True)
    return True


def parse(args: list[str], environ: Mapping[str, str] | None = None) -> CommandLine | None:
    """A ``sync`` command line as the full command line would read it (the same table, the
    same environment variables); None for anything this reader leaves to click."""
    from pipmodels import grammar
    from pipmodels.options import CommandLine

    try:
        values = grammar.parse(grammar.SYNC, args, os.environ if environ is None else environ)
    except ValueError:
        return None
    values.pop("check")  # present means work: parse refused it
    values.pop("verbose")  # how much is printed; the no-op prints one line either way
    return CommandLine(**values)  # type: ignore[arg-type]


def _answered_fast(args: list[str]) -> bool:
    given = parse(args)
    if given is None:
        return False
    from pathlib import Path

    from pipmodels import config, console, fastpath, statedir
    from pipmodels.errors import PipmodelsError
    from pipmodels.options import resolve
    from pipmodels.session import Session

    if given.quiet:
        console.set_level(console.QUIET)
    try:
        options = resolve(given, config.load(Path("pyproject.toml")))
        if not fastpath.has_record(options, os.environ):
            return False
        session = Session.load(options)
    except PipmodelsError:
        return False  # the full command reports it
    try:
        if not fastpath.is_unchanged(session):
            return False
        session.cache.sweep_if_idle()
        statedir.sweep_dead_runs(statedir.state_home(session.ctx.base_environ))
        console.info(fastpath.unchanged_message(session))
        return True
    finally:
        session.ctx.close()
