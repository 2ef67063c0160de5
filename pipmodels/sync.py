"""The sync step: pip-sync from requirements.txt and the cache, keeping pipmodels installed.

pip-sync copies every index and find-links URL it knows onto pip's command line; by the time
it runs, none of them carries a credential (see :mod:`pipmodels.context`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console, engines, installed, locktext, pipoutput, progress, pylock
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name
from pipmodels.inputs import Pin
from pipmodels.installed import Installed, Target

if TYPE_CHECKING:
    from pipmodels.cache import Cache
    from pipmodels.session import Session


def target_of(session: Session) -> Target:
    target = installed.describe(session.options.python_executable, session.ctx)
    installed.refuse_system_python(target, session.options.allow_system)
    return target


def sync_environment(
    session: Session, pins: Sequence[Pin], target: Target, *, text: str | None = None
) -> pipoutput.SyncReport:
    """pip-sync ``text`` (default: the requirements file) into ``target``; report what changed."""
    dry_run = session.options.dry_run
    report = _pip_sync(session, pins, target, text=text, dry_run=dry_run)
    if report.removed:
        console.info(f"  {'would remove' if dry_run else 'removed'}: {', '.join(report.removed)}")
    if report.installed:
        verb = "would install" if dry_run else "installed"
        console.info(f"  {verb}: {', '.join(report.installed)}")
    if not report.changes:
        console.info("  Everything up-to-date")
    return report


def would_change(session: Session, pins: Sequence[Pin]) -> list[str]:
    """pip-sync --dry-run: what it would install or remove, if anything."""
    target = target_of(session)
    report = _pip_sync(session, pins, target, dry_run=True)
    if not report.changes:
        return []
    requirements = session.options.output_path
    return [f"{target.shown} is out of sync with {requirements}:", *report.lines]


def _pip_sync(
    session: Session,
    pins: Sequence[Pin],
    target: Target,
    *,
    dry_run: bool,
    text: str | None = None,
) -> pipoutput.SyncReport:
    options, cache = session.options, session.cache
    if text is None:
        text = options.output_path.read_text(encoding="utf-8")
    name = options.output_path.name
    if pylock.is_lock_name(options.output_path):
        text = _lock_as_requirements(text, options.output_path, pins)
        name += ".txt"  # by its name, uv would read the request as a lock
    if not text.endswith("\n"):
        text += "\n"
    text = _unhashed_models_from_cache(session.child_requirements(text), pins, cache)
    keep = _self_preservation(text, target)
    with session.ctx.scratch("sync-") as tmp:
        request = Path(tmp) / name
        request.write_text(text + "".join(f"{line}\n" for line in keep))
        page = cache.run_page(Path(tmp))
        engine = engines.get(options.engine)
        command = engine.sync_command(session, request, target, dry_run=dry_run, page=page)
        if not dry_run:
            console.info(f"Syncing {target.shown}")
        with progress.phase(command.what) if not dry_run else contextlib.nullcontext():
            result = session.ctx.run(
                command.cmd,
                env=command.env,
                what=command.what,
                hint="See the installer's message above; rerun with -v for all of it.",
                ok=(0, *command.would_change),
            )
    return engine.sync_report(result.output, dry_run=dry_run)


def _lock_as_requirements(text: str, lock: Path, pins: Sequence[Pin]) -> str:
    """A PEP 751 lock as the engine's requirements: its models found in the cache, after a
    check that each cached file has the size the lock records (the sha256 the download
    checked)."""
    packages = pylock.loads(text, lock)
    entries = {pin.entry.sha256: pin.entry for pin in pins}
    for sha256, size in pylock.sizes(packages).items():
        entry = entries.get(sha256)
        if entry is not None and entry.size != size:
            raise PipmodelsError(
                f"{lock} records {entry.filename} (sha256 {sha256}) as {size:,} bytes; the "
                f"file with that sha256 has {entry.size:,}. Nothing was installed, and the "
                "lock was left as it is.",
                "The lock was edited by hand or by another tool: compile it again with "
                "pipmodels compile -o pylock.toml, or fix its size.",
            )
    versions = {entry.sha256: str(entry.version) for entry in entries.values()}
    return pylock.as_requirements(packages, lock.parent, versions)


def _unhashed_models_from_cache(text: str, pins: Sequence[Pin], cache: Cache) -> str:
    """Point model pins that carry no hash at their cached file, sha256 included.

    Without a hash pip may take a same-name, same-version wheel from the index (an impostor)
    over the cache. A file URL with its sha256 installs exactly the cached file, and pip-sync
    treats such a requirement as satisfied once it is installed, so it is not reinstalled.
    """
    references = [
        (e.name, str(e.version), f"{cache.file(e.filename).as_uri()}#sha256={e.sha256}")
        for e in {pin.entry for pin in pins}
    ]
    return locktext.pins_as_references(text, references)


# Packages pip-sync spares by name (pip-tools' PACKAGES_TO_IGNORE; the build tools only where
# pip-sync itself runs on a Python before 3.12), but not when pip installed them from a file:
# see _kept_line.
_SPARED_BY_NAME = ("pip", "pip-tools") + (
    ("setuptools", "wheel", "distribute") if sys.version_info < (3, 12) else ()
)


def _self_preservation(text: str, target: Target) -> list[str]:
    """Lines that keep pipmodels, what it needs, and the installer's own packages as they are
    in the target, for those requirements.txt does not pin.

    pip-sync spares pip-tools and its dependencies but would remove pipmodels, which users
    install beside their models (``make install``). Listing them as already-satisfied
    requirements makes pip-sync leave them alone.
    """
    pinned = {canonical_name(name) for name in locktext.pinned_names(text)}
    keep: dict[str, Installed] = {}
    if "pipmodels" in target.packages:
        closure = installed.closure("pipmodels", target.packages)
        keep.update({n: target.packages[n] for n in closure})
    for name in _SPARED_BY_NAME:
        if name in target.packages and target.packages[name].direct:
            keep[name] = target.packages[name]
    return [_kept_line(n, keep[n]) for n in sorted(keep) if n not in pinned]


def _kept_line(name: str, package: Installed) -> str:
    """A requirement that pip-sync finds satisfied by ``package`` as installed.

    A package that pip installed from a file or URL (``pip install ./pipmodels-0.1.0-...whl``)
    carries that reference and its hash in direct_url.json, and pip-sync keys it by them: a
    ``name==version`` pin does not match it, so pip-sync would uninstall it and then ask the
    index for ``name==version`` (a namesake there would be installed in its place; for pip
    itself, the install that follows has no pip left to run). The same reference matches.
    pip records such a URL without its user-info, except a ``${VAR}`` one (PEP 610), which a
    child could not expand (children never get the variables that hold keys): that one keeps
    the pin.
    """
    if package.direct and "${" not in package.direct:
        return f"{name} @ {package.direct}"
    return f"{name}=={package.version}"
