"""The one place that reads what pip and pip-tools print.

pipmodels prefers files and options to parsing output; these are the answers that only the
output gives: why ``pip download`` failed, and what pip-sync or uv pip sync installed, removed or
would change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HASH_MISMATCH = "DO NOT MATCH THE HASHES"
_INCONSISTENT = re.compile(
    r"has inconsistent (name|version): expected '(.*)', but metadata has '(.*)'"
)
_NOT_ARCHIVE = re.compile(r"Wheel '.*' located at .* is invalid|BadZipFile|not a zip file")
_NO_MATCH = ("No matching distribution found", "Could not find a version")


@dataclass(frozen=True)
class DownloadFailure:
    kind: str  # "hash", "mislabelled", "not-archive", "no-match" or "other"
    detail: tuple[str, ...] = ()


def download_failure(output: str) -> DownloadFailure:
    """What went wrong in a failed ``pip download``, as far as its output tells."""
    if HASH_MISMATCH in output:
        return DownloadFailure("hash")
    mismatch = _INCONSISTENT.search(output)
    if mismatch:
        return DownloadFailure("mislabelled", mismatch.groups())
    if _NOT_ARCHIVE.search(output):
        return DownloadFailure("not-archive")
    if any(text in output for text in _NO_MATCH):
        return DownloadFailure("no-match")
    return DownloadFailure("other")


@dataclass
class SyncReport:
    """What pip-sync did, or with ``--dry-run`` would do."""

    installed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the whole report, for --check

    @property
    def changes(self) -> bool:
        return bool(self.installed or self.removed)


_INSTALLED = re.compile(r"^Successfully installed (.+)$")
_UNINSTALLED = re.compile(r"^\s*Successfully uninstalled (\S+)$")


def sync_report(output: str, *, dry_run: bool) -> SyncReport:
    """pip-sync's dry run lists ``Would uninstall:`` and ``Would install:`` sections of
    indented names; a real run ends in pip's ``Successfully installed`` lines."""
    report = SyncReport(lines=output.splitlines())
    section: list[str] | None = None
    for line in report.lines:
        if dry_run and line.startswith("Would uninstall"):
            section = report.removed
        elif dry_run and line.startswith("Would install"):
            section = report.installed
        elif dry_run and line.startswith("  ") and section is not None:
            section.append(line.strip())
        elif not dry_run and (match := _INSTALLED.match(line)):
            report.installed += match.group(1).split()
        elif not dry_run and (match := _UNINSTALLED.match(line)):
            report.removed.append(match.group(1))
        else:
            section = None
    return report


_UV_CHANGE = re.compile(r"^ ([-+~]) (\S+)")


def uv_sync_report(output: str) -> SyncReport:
    """uv pip sync lists each change as `` + name==version`` (installed), `` - ...`` (removed)
    or `` ~ ...`` (reinstalled), the same way for a real run and a ``--dry-run``."""
    report = SyncReport(lines=output.splitlines())
    for line in report.lines:
        match = _UV_CHANGE.match(line)
        if match:
            sign, what = match.groups()
            (report.removed if sign == "-" else report.installed).append(what)
    return report


_TRACEBACK = "Traceback (most recent call last):"


def useful_tail(lines: list[str], count: int) -> list[str]:
    """The last lines worth reading: pip-sync follows pip's own error with its traceback."""
    if _TRACEBACK in lines:
        lines = lines[: lines.index(_TRACEBACK)] or lines
    return lines[-count:]
