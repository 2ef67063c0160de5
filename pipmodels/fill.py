"""Filling the cache: ``pip download --no-deps`` for every model not cached yet, in parallel."""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pipmodels import console, piptools, progress, runner
from pipmodels.archives import Archive, canonical_filename, inspect, name_from_filename
from pipmodels.cache import Cache, Entry
from pipmodels.credentials import Redactor
from pipmodels.diagnose import explain_download_failure
from pipmodels.errors import Interrupted, PipmodelsError
from pipmodels.fetch import fetch, pip_can_fetch
from pipmodels.inputs import Model, local_path
from pipmodels.namesakes import warn_about_namesakes
from pipmodels.reqfile import URL_START, Line, split_option


@dataclass(frozen=True)
class Pin:
    model: Model
    entry: Entry

    @property
    def text(self) -> str:
        return f"{self.entry.name}=={self.entry.version}"


@dataclass(frozen=True)
class FillSettings:
    jobs: int = 4
    resume_retries: int = 5
    refresh: bool = False  # re-resolve version ranges (--upgrade)


def fill(
    models: Sequence[Model],
    cache: Cache,
    *,
    environ: Mapping[str, str],
    redactor: Redactor,
    settings: FillSettings,
) -> list[Pin]:
    """Make sure every model is in the cache and return its pin, downloading what is missing."""
    pins: dict[Model, Entry] = {}
    missing: list[Model] = []
    for model in models:
        entry = (
            None if settings.refresh and not _is_exact(model) else _cached(model, cache, environ)
        )
        if entry is None:
            missing.append(model)
        else:
            pins[model] = entry
    if missing:
        console.info(f"Fetching {len(missing)} model(s) into {cache.root}")
        with progress.meter(cache.state, "download-*", "downloaded"):
            fetched = _download_all(missing, cache, environ, redactor, settings)
        pins.update(fetched)
        warn_about_namesakes((e.name for e in fetched.values()), environ, redactor)
    result = [Pin(m, pins[m]) for m in models]
    _check_conflicts(result)
    return result


def _cached(model: Model, cache: Cache, environ: Mapping[str, str]) -> Entry | None:
    entry = cache.lookup(cache.source_key(model.source(environ)))
    if entry is None and _is_exact(model) and model.req.name:
        entry = cache.best(model.req.name, _specifier(model))
    if entry is not None and model.req.hashes and not _hash_allowed(entry, model.req.hashes):
        return None
    return entry


def _download_all(
    missing: Sequence[Model],
    cache: Cache,
    environ: Mapping[str, str],
    redactor: Redactor,
    settings: FillSettings,
) -> dict[Model, Entry]:
    results: dict[Model, Entry] = {}
    with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool:
        futures = {
            pool.submit(_fetch, model, cache, environ, redactor, settings): model
            for model in missing
        }
        try:
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            runner.stop_all()
            raise Interrupted() from None
        for future in pending:
            future.cancel()
        for future in done:
            error = future.exception()
            if error is not None:
                runner.stop_all()
                raise error
            results[futures[future]] = future.result()
    return results


def _fetch(
    model: Model,
    cache: Cache,
    environ: Mapping[str, str],
    redactor: Redactor,
    settings: FillSettings,
) -> Entry:
    with cache.staging() as staging:
        dest = staging / "files"
        dest.mkdir()
        url = model.url(environ)
        if url and url.startswith("file:"):
            _copy_local(model, url, dest)
        elif url and not pip_can_fetch(url):
            fetch(url, dest, where=model.req.line.where)
        else:
            _pip_download(model, staging, dest, environ, redactor, settings)
        archive = _single_archive(model, dest)
        filename = canonical_filename(archive.path, archive.name, archive.version)
        if name_from_filename(archive.path.name) is None:
            console.info(f"  {archive.path.name} carries no version; cached as {filename}")
        key = cache.source_key(model.source(environ))
        entry = cache.add(archive, filename, key)
    console.info(f"  cached {entry.filename} ({_size(entry.size)})")
    return entry


def _pip_download(
    model: Model,
    staging: Path,
    dest: Path,
    environ: Mapping[str, str],
    redactor: Redactor,
    settings: FillSettings,
) -> None:
    # The requirement goes to pip in a file, never on its command line: pip expands ${VAR}
    # there from the environment, so credentials stay off every command line.
    request = staging / "request.txt"
    lines = [_anchored(o) for o in model.options] + [f"{model.req.requirement} {model.req.options}"]
    if _find_links_only(model.options):
        # A models file that names a find-links page and no index means "from that page": do not
        # let pip also ask the public index, where impostors and 999.9.9 placeholders live.
        lines.insert(0, "--no-index")
    request.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.info(f"  downloading {model.shown}")
    cmd = piptools.pip_download(
        request,
        dest,
        resume_retries=settings.resume_retries if pip_resumes_downloads() else 0,
        verbose=console.is_verbose(),
    )
    # pip downloads into TMPDIR first: inside the staging folder, a killed run leaves nothing
    # elsewhere, and the progress meter sees the bytes arrive.
    env = {**environ, "TMPDIR": str(staging)}
    result = runner.run(cmd, env=env, redactor=redactor, what="pip download", check=False)
    if result.returncode != 0:
        raise explain_download_failure(model.req.line, model.options, result, environ, redactor)


def _copy_local(model: Model, url: str, dest: Path) -> None:
    path = local_path(url)
    try:
        shutil.copy2(path, dest / path.name)
    except OSError as exc:
        raise PipmodelsError(
            f"{model.req.line.where}: cannot read {path}: {exc.strerror}.",
            "Check the path; relative paths are read from the working directory or the "
            "requirements file's folder.",
        ) from None


def _single_archive(model: Model, dest: Path) -> Archive:
    files = sorted(dest.iterdir())
    if len(files) != 1:
        raise PipmodelsError(
            f"{model.req.line.where}: expected one archive for {model.shown}, got {len(files)}.",
            "Make the requirement name a single package.",
        )
    archive = inspect(files[0], shown_as=f"The download for {model.shown} ({files[0].name})")
    if model.req.name and archive.name != model.req.name:
        raise PipmodelsError(
            f"{model.req.line.where}: the requirement names {model.req.name} but the archive "
            f"holds {archive.name} {archive.version}.",
            "Fix the name before '@', or the URL.",
        )
    if model.req.hashes and not _hash_allowed(archive, model.req.hashes):
        raise PipmodelsError(
            f"{model.req.line.where}: the download for {model.shown} has sha256 "
            f"{archive.sha256}, which is not among the --hash values given.",
            "If the file changed on purpose, update the --hash; otherwise do not trust the source.",
        )
    return archive


def _check_conflicts(pins: Sequence[Pin]) -> None:
    by_name: dict[str, Pin] = {}
    for pin in pins:
        other = by_name.setdefault(pin.entry.name, pin)
        if other.entry.version != pin.entry.version:
            raise PipmodelsError(
                f"Two models pin {pin.entry.name} at different versions: {other.text} "
                f"({other.model.req.line.where}) and {pin.text} ({pin.model.req.line.where}).",
                "Keep one of the two lines.",
            )


@functools.cache
def pip_resumes_downloads() -> bool:
    """pip 25.1 added --resume-retries; older pips reject the option."""
    try:
        return Version(importlib.metadata.version("pip")) >= Version("25.1")
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False


def _anchored(option: Line) -> str:
    """An option line for a request file elsewhere: pip reads a relative ``-f`` path from the
    requirements file's folder when it exists there, so make that path absolute."""
    flag, value = split_option(option.text)
    if flag not in ("-f", "--find-links") or URL_START.match(value) or Path(value).is_absolute():
        return option.text
    beside = option.path.parent / value
    return f"{flag} {beside.absolute()}" if beside.exists() else option.text


def _find_links_only(options: Sequence[Line]) -> bool:
    flags = {split_option(o.text)[0] for o in options}
    has_page = bool(flags & {"-f", "--find-links"})
    return has_page and not flags & {"-i", "--index-url", "--extra-index-url", "--no-index"}


def _is_exact(model: Model) -> bool:
    if model.req.is_direct:
        return True
    specs = list(_specifier(model))
    return len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version


def _specifier(model: Model) -> SpecifierSet:
    from packaging.requirements import Requirement

    return Requirement(model.req.requirement).specifier


def _hash_allowed(item: Entry | Archive, hashes: Sequence[str]) -> bool:
    return any(h.lower() == f"sha256:{item.sha256}" for h in hashes)


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
