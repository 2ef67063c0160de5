"""What an engine is: the tool that compiles requirements.txt and syncs an environment.

pipmodels does the download, the pins and the guarantees; an engine only turns one run's
settings into its compile and sync command lines, writes pipmodels' command in its header, and
says what its sync changed. Everything engine-specific lives behind this protocol, in one module
per engine; :mod:`pipmodels.engines` is the registry the command line, the configuration keys
and the options are built from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pipmodels.installed import Target
    from pipmodels.pipoutput import SyncReport
    from pipmodels.session import Session


@dataclass(frozen=True)
class Command:
    cmd: list[str]
    what: str  # the name a failure message gives the command
    env: dict[str, str] = field(default_factory=dict)  # added to the context's environment
    would_change: tuple[int, ...] = ()  # exit statuses that mean "a dry run would change"


@dataclass(frozen=True)
class Header:
    """What makes an engine name pipmodels' command in the header of its output."""

    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


class Engine(Protocol):
    @property
    def name(self) -> str:
        """As ``--engine`` and ``engine =`` in ``[tool.pipmodels]`` spell it."""

    @property
    def config_prefix(self) -> str:
        """``[tool.pipmodels]`` holds its own arguments as ``PREFIX-compile-args`` and
        ``PREFIX-sync-args``."""

    @property
    def settings_prefix(self) -> str:
        """Its environment variables (``UV_``): part of what the no-op fast path compares."""

    @property
    def refused_options(self) -> Mapping[str, str]:
        """Command-line options it has no counterpart for: ``CommandLine`` field to flag."""

    def header(self, command: str) -> Header:
        """The arguments or environment that make it write ``command`` in its header."""

    def compile_command(
        self,
        session: Session,
        sources: Sequence[str],
        output: Path,
        *,
        page: Path,
        reuse_hashes: bool = True,
    ) -> Command:
        """Compile ``sources`` into ``output`` against ``page``, the run's links page of the
        cache (:meth:`Cache.run_page`); ``reuse_hashes=False``: hash every file afresh."""

    def sync_command(
        self, session: Session, request: Path, target: Target, *, dry_run: bool, page: Path
    ) -> Command:
        """Sync ``target`` with the requirements file ``request``, from ``page``."""

    def sync_report(self, output: str, *, dry_run: bool) -> SyncReport:
        """What its sync installed and removed, read from what it printed."""
