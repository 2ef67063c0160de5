"""The download step: every model not cached yet goes into the cache, in parallel.

A direct reference (``name @ URL``, a bare archive URL) is fetched by pipmodels itself: one
stream, hashed while it is written, no build, no second copy in pip's HTTP cache. A model named
by version in a models file is resolved by ``pip download --no-deps --only-binary :all:`` with
the options of its file's whole tree. Either way the archive is checked before it is moved into
the cache under its final name.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pipmodels import console, diagnose, http, mirror, pipcommands, progress, runner
from pipmodels.archives import Archive, inspect
from pipmodels.cache import Cache, Entry
from pipmodels.errors import Interrupted, PipmodelsError
from pipmodels.filenames import canonical_filename, name_from_filename
from pipmodels.inputs import (
    FIND_LINKS_OPTIONS,
    INDEX_OPTIONS,
    Model,
    Pin,
    local_path,
    refuse_keyed_references,
    spacy_model_name,
)
from pipmodels.mirror import Mirror
from pipmodels.reqfile import Line, split_option

if TYPE_CHECKING:
    from pipmodels.headstart import HeadStart
    from pipmodels.session import Session

CHUNK = http.CHUNK


@dataclass(frozen=True)
class Settings:
    jobs: int = 4
    resume_retries: int = 5
    upgrade: bool = False  # re-resolve version ranges (--upgrade)
    mirror: Mirror | None = None  # asked before each model's origin


def download(session: Session, head: HeadStart[Any] | None = None) -> list[Pin]:
    """Make sure every model is in the cache and return its pin, downloading what is missing;
    ``head`` is offered each downloading wheel's tail (:mod:`pipmodels.headstart`)."""
    options = session.options
    settings = Settings(
        jobs=options.jobs, upgrade=options.upgrade, mirror=mirror.for_session(session)
    )
    session.warn_about_exposed_credentials()
    refuse_keyed_references(session.inputs.source_tree, session.ctx.base_environ)
    models = session.inputs.models(session.ctx.base_environ)
    for model in models:
        refuse_placeholder_name(model)
    session.cache.ensure()
    with session.cache.locked():
        return fill(models, session, settings, head)


def fill(
    models: Sequence[Model],
    session: Session,
    settings: Settings,
    head: HeadStart[Any] | None = None,
) -> list[Pin]:
    cache = session.cache
    pins: dict[Model, Entry] = {}
    missing: list[Model] = []
    for model in models:
        entry = None if settings.upgrade and not _is_exact(model) else _cached(model, cache)
        if entry is None:
            missing.append(model)
        else:
            pins[model] = entry
    if head is not None:
        # A line that pins a hash is trusted only once the whole file has it: no early compile
        # reads a tail that hash has not vouched for. A mirror serves whole files.
        early = settings.mirror is None and not any(_given_hashes(m) for m in missing)
        head.expect(missing if early else [], pins)
    if missing:
        console.info(f"Fetching {len(missing)} model(s) into {cache.root}")
        with progress.phase("download"), progress.meter(cache.state, "download-*", "downloaded"):
            pins.update(_download_all(missing, session, settings, head))
    result = [Pin(m, pins[m]) for m in models]
    _check_conflicts(result)
    return result


def _cached(model: Model, cache: Cache) -> Entry | None:
    entry = cache.lookup(model.source())
    if entry is None and _is_exact(model) and model.req.name:
        specifier = _specifier(model)
        entry = cache.best(model.req.name, specifier) if specifier is not None else None
    if entry is not None and not _hash_allowed(entry.sha256, model):
        return None
    return entry


def _download_all(
    missing: Sequence[Model], session: Session, settings: Settings, head: HeadStart[Any] | None
) -> dict[Model, Entry]:
    """Downloads, and beside them the check for namesakes on the index, on one pool."""
    results: dict[Model, Entry] = {}
    with session.ctx.web() as web:
        pool = ThreadPoolExecutor(max_workers=max(1, settings.jobs))
        futures: dict[Future[Entry], Model] = {
            pool.submit(_fetch, model, session, web, settings, head): model for model in missing
        }
        names = sorted({m.req.name for m in missing if m.req.name and _index_hears_of(m)})
        checks = [pool.submit(diagnose.namesake_warning, n, web, session.ctx) for n in names]
        try:
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
                results[futures[future]] = future.result()
            _warn_namesakes(checks)
        except BaseException as exc:
            http.cancelled.set()
            runner.stop_all()
            pool.shutdown(wait=False, cancel_futures=True)
            session.cache.recover()  # we hold the lock: every staging folder is ours
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted() from None
            raise
        pool.shutdown(wait=True)
    return results


def _index_hears_of(model: Model) -> bool:
    """Whether the namesake check may ask the user's index about this model's name: a spaCy
    pipeline name is public, and a model that pip downloads by name from the configured index
    is asked about there anyway. A private name behind a URL or a find-links page, or on an
    index of its own (-i), is not told to an index the user did not send it to."""
    if spacy_model_name(model.req.name):
        return True
    if model.req.url is not None or find_links_only(model.options):
        return False
    flags = {split_option(o.text)[0] for o in model.options}
    return not flags & {"-i", "--index-url", "--no-index"}


def _warn_namesakes(checks: list[Future[str | None]]) -> None:
    for check in checks:
        message = check.result()
        if message:
            console.warn(message)


def _fetch(
    model: Model,
    session: Session,
    web: http.Client,
    settings: Settings,
    head: HeadStart[Any] | None = None,
) -> Entry:
    cache = session.cache
    with cache.staging() as staging:
        dest = staging / "files"
        dest.mkdir()
        got = mirror.fetch(settings.mirror, web, model, dest, session.ctx.base_environ)
        location = session.model_location(model.req) if model.req.url and not got else None
        url = location.public if location else None
        if head is not None and (got is not None or not url or url.startswith("file:")):
            head.give_up()  # only a download from its origin offers a tail
        if got is not None:
            staged, sha256 = got.path, got.sha256
        elif url and url.startswith("file:"):
            staged, sha256 = _copy_local(model, url, dest)
        elif url:
            key = location.credential if location else None
            offer = None if head is None else functools.partial(head.offer, model)
            got = web.download(url, dest, where=model.req.line.where, key=key, on_tail=offer)
            staged, sha256 = got.path, got.sha256
        else:
            staged = _pip_download(model, staging, dest, session, settings)
            sha256 = None
        archive = _verified(model, staged, sha256)
        filename = canonical_filename(staged.name, archive.name, archive.version)
        if name_from_filename(staged.name) is None:
            console.info(f"  {staged.name} carries no version; cached as {filename}")
        entry = Entry(
            filename, archive.name, archive.version, archive.sha256, staged.stat().st_size
        )
        cache.add(staged, entry, model.source())
    console.info(f"  cached {entry.filename} ({_size(entry.size)})")
    return entry


def _pip_download(
    model: Model, staging: Path, dest: Path, session: Session, settings: Settings
) -> Path:
    # The request goes to pip in a file, never on its command line. Its URLs carry no
    # user-info: keyed origins are reached through the run's gateway.
    request = staging / "request.txt"
    request.write_text(request_text(model, session), encoding="utf-8")
    console.info(f"  downloading {model.shown}")
    cmd = pipcommands.pip_download(
        request,
        dest,
        resume_retries=settings.resume_retries if pip_resumes_downloads() else 0,
        verbose=session.ctx.verbose,
    )
    # pip downloads into TMPDIR first: inside the staging folder, a killed run leaves nothing
    # elsewhere, and the progress meter sees the bytes arrive.
    session.ctx.run(
        cmd,
        what="pip download",
        env={"TMPDIR": str(staging), "TEMP": str(staging), "TMP": str(staging)},
        explain=functools.partial(diagnose.download_failure, model, session),
    )
    files = sorted(dest.iterdir())
    if len(files) != 1:
        raise PipmodelsError(
            f"{model.req.line.where}: expected one archive for {model.shown}, got {len(files)}.",
            "Make the requirement name a single package.",
        )
    return files[0]


def request_text(model: Model, session: Session) -> str:
    """The requirements file pip downloads one model from: its tree's options, with ``${VAR}``
    expanded and user-info removed, then the requirement."""
    lines = [session.child_option(o) for o in model.options]
    if find_links_only(model.options):
        # A models file that names a find-links page and no index means "from that page": do not
        # let pip also ask the public index, where impostors and 999.9.9 placeholders live.
        lines.insert(0, "--no-index")
    lines.append(f"{model.req.requirement} {model.req.options}".strip())
    return "\n".join(lines) + "\n"


def find_links_only(options: Sequence[Line]) -> bool:
    flags = {split_option(o.text)[0] for o in options}
    has_page = bool(flags & set(FIND_LINKS_OPTIONS))
    return has_page and not flags & {*INDEX_OPTIONS, "--no-index"}


def refuse_placeholder_name(model: Model) -> None:
    """A spaCy pipeline named with nowhere to find it but the public index would resolve to a
    placeholder: say so before anything is downloaded."""
    flags = {split_option(o.text)[0] for o in model.options}
    if model.req.url or flags & {*FIND_LINKS_OPTIONS, *INDEX_OPTIONS}:
        return
    if spacy_model_name(model.req.name):
        raise PipmodelsError(diagnose.placeholder_message(model.req.line, model.req.name or ""))


def _copy_local(model: Model, url: str, dest: Path) -> tuple[Path, str]:
    path = local_path(url)
    target = dest / path.name
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source, target.open("xb") as copy:
            while chunk := source.read(CHUNK):
                copy.write(chunk)
                digest.update(chunk)
    except OSError as exc:
        raise PipmodelsError(
            f"{model.req.line.where}: cannot read {path}: {exc.strerror}.",
            "Check the path; relative paths are read from the working directory or the "
            "requirements file's folder.",
        ) from None
    return target, digest.hexdigest()


def _verified(model: Model, path: Path, sha256: str | None) -> Archive:
    archive = inspect(path, shown_as=f"The download for {model.shown} ({path.name})", sha256=sha256)
    if model.req.name and archive.name != model.req.name:
        raise PipmodelsError(
            f"{model.req.line.where}: the line names {model.req.name}, but the file it points "
            f"at holds {archive.name} {archive.version}. Nothing was added to the cache.",
            f"Fix the name before '@' (to {archive.name}), or the URL.",
        )
    if not _hash_allowed(archive.sha256, model):
        raise PipmodelsError(
            f"{model.req.line.where}: the download for {model.shown} has sha256 "
            f"{archive.sha256}, which does not match the hash the line gives. Nothing was added "
            "to the cache.",
            "If the file changed on purpose, update the hash; otherwise do not trust the source.",
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


def _is_exact(model: Model) -> bool:
    if model.req.is_direct:
        return True
    specs = list(_specifier(model) or ())
    return len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version


def _specifier(model: Model) -> SpecifierSet | None:
    """The versions a cached archive of the model's name may have to stand for it; None: none.

    A direct reference stands for the version in its filename only: a user who moves the URL to
    another release must get that release, not the one cached before. A local path's cache key
    already follows the file, and a filename without a version promises nothing.
    """
    url = model.req.url
    if url is None:
        return Requirement(model.req.requirement).specifier
    parsed = name_from_filename(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))
    if url.startswith("file:") or parsed is None:
        return None
    return SpecifierSet(f"=={parsed[1]}")


def _hash_allowed(sha256: str, model: Model) -> bool:
    """No hash given, or ours among them."""
    allowed = _given_hashes(model)
    return not allowed or sha256 in allowed


def _given_hashes(model: Model) -> list[str]:
    """The sha256 digests a line allows (``--hash`` options or a ``#sha256=`` fragment)."""
    allowed = [h.lower().removeprefix("sha256:") for h in model.req.hashes]
    if model.req.url and "#sha256=" in model.req.url:
        allowed.append(model.req.url.rsplit("#sha256=", 1)[1][:64].lower())
    return allowed


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
