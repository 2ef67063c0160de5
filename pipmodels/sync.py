"""pip-sync from requirements.txt and the cache, keeping pipmodels itself installed."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipmodels import console, piptools, runner
from pipmodels.cache import Cache, Entry
from pipmodels.credentials import Redactor
from pipmodels.environment import closure, installed
from pipmodels.reqfile import canonical_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|@|===)", re.M)


@dataclass(frozen=True)
class SyncSettings:
    requirements: Path
    python_executable: str | None = None
    extra_args: tuple[str, ...] = ()
    models: tuple[Entry, ...] = ()  # the cached archives of this run's model pins


def sync_environment(
    cache: Cache,
    settings: SyncSettings,
    *,
    environ: Mapping[str, str],
    redactor: Redactor,
    text: str | None = None,
    dry_run: bool = False,
) -> str:
    """pip-sync ``text`` (default: the requirements file); return what pip-sync reported."""
    result = _pip_sync(
        cache, settings, environ=environ, redactor=redactor, dry_run=dry_run, text=text
    )
    for line in result.output.splitlines():
        if line.startswith(("Successfully installed", "Everything up-to-date")):
            console.info("  " + line)
    return result.output


def would_change(
    cache: Cache, settings: SyncSettings, *, environ: Mapping[str, str], redactor: Redactor
) -> list[str]:
    """pip-sync --dry-run: the packages it would install or remove, if any."""
    result = _pip_sync(cache, settings, environ=environ, redactor=redactor, dry_run=True)
    changes = [line for line in result.output.splitlines() if line.startswith("  ")]
    if not changes:
        return []
    target = settings.python_executable or "This environment"
    return [f"{target} is out of sync with {settings.requirements}:", *result.output.splitlines()]


def _pip_sync(
    cache: Cache,
    settings: SyncSettings,
    *,
    environ: Mapping[str, str],
    redactor: Redactor,
    dry_run: bool,
    text: str | None = None,
) -> runner.Result:
    if text is None:
        text = settings.requirements.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    text = _unhashed_models_from_cache(text, settings.models, cache)
    keep = _self_preservation(text, settings.python_executable, environ, redactor)
    with tempfile.TemporaryDirectory(prefix="pipmodels-sync-") as tmp:
        request = Path(tmp) / settings.requirements.name
        request.write_text(text + "".join(f"{n}=={v}\n" for n, v in sorted(keep.items())))
        cmd = piptools.pip_sync(
            request,
            find_links=cache.page,
            python_executable=settings.python_executable,
            extra_args=(*settings.extra_args, *(("--dry-run",) if dry_run else ())),
            verbose=console.is_verbose(),
        )
        if not dry_run:
            console.info(f"Syncing {settings.python_executable or 'this environment'}")
        return runner.run(
            cmd,
            env=environ,
            redactor=redactor,
            what="pip-sync",
            hint="See pip's message above; rerun with -v for all of it.",
            check=not dry_run,
        )


def _unhashed_models_from_cache(text: str, models: tuple[Entry, ...], cache: Cache) -> str:
    """Point model pins that carry no hash at their cached file, sha256 included.

    Without a hash pip may take a same-name, same-version wheel from the index (an impostor)
    over the cache. A file URL with its sha256 installs exactly the cached file, and pip-sync
    treats such a requirement as satisfied once it is installed, so it is not reinstalled.
    """
    for entry in models:
        url = f"{(cache.root / entry.filename).as_uri()}#sha256={entry.sha256}"
        pin = re.compile(
            rf"^{re.escape(entry.name)}=={re.escape(str(entry.version))}([ \t]*;[^\\\n]*)?$", re.M
        )
        reference = f"{entry.name} @ {url}".replace("\\", "\\\\")
        text = pin.sub(reference + r"\g<1>", text)  # the marker, if any, stays
    return text


def _self_preservation(
    text: str, python: str | None, environ: Mapping[str, str], redactor: Redactor
) -> dict[str, str]:
    """pipmodels and what it needs, where installed in the target and not already pinned.

    pip-sync spares pip-tools and its dependencies but would remove pipmodels, which users
    install beside their models (``make install``). Listing them as already-satisfied pins
    makes pip-sync leave them alone.
    """
    packages = installed(python, env=environ, redactor=redactor)
    if "pipmodels" not in packages:
        return {}
    pinned = {canonical_name(m.group(1)) for m in _PIN.finditer(text)}
    return {n: v for n, v in closure("pipmodels", packages).items() if n not in pinned}
