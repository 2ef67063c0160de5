"""The three steps a user asks for: download, compile, sync. Each takes one Options value."""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from pathlib import Path

from pipmodels import console, state
from pipmodels.cache import Cache
from pipmodels.compile import CompileSettings, compile_requirements, inputs_digest, recorded_digest
from pipmodels.credentials import (
    URL_USERINFO,
    Redactor,
    child_environment,
    env_var_names,
    expand,
    load_env_file,
)
from pipmodels.errors import PipmodelsError
from pipmodels.fill import FillSettings, Pin, fill
from pipmodels.inputs import Inputs, gather
from pipmodels.sync import SyncSettings, sync_environment, would_change

DEFAULT_SOURCE = Path("requirements.in")


@dataclass(frozen=True)
class Options:
    sources: tuple[Path, ...] = (DEFAULT_SOURCE,)
    models_files: tuple[Path, ...] = ()
    cache_dir: Path | None = None
    output: Path | None = None
    hashes: bool = True
    env_file: Path | None = None
    jobs: int = 4
    upgrade: bool = False
    python_executable: str | None = None
    compile_args: tuple[str, ...] = ()
    sync_args: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def output_path(self) -> Path:
        if self.output is not None:
            return self.output
        first = self.sources[0]
        return (
            first.with_suffix(".txt")
            if first.suffix == ".in"
            else first.parent / "requirements.txt"
        )

    @property
    def cache_path(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return self.sources[0].parent / ".pipmodels-cache"


@dataclass
class Session:
    """Everything one run works with, loaded once."""

    options: Options
    inputs: Inputs
    cache: Cache
    environ: dict[str, str]
    redactor: Redactor

    @classmethod
    def open(cls, options: Options) -> Session:
        inputs = gather(list(options.sources), list(options.models_files))
        env_values = _env_file_values(options)
        environ = child_environment(env_values)
        redactor = Redactor()
        redactor.add(env_values.values())
        for parsed in inputs.files:
            for line in parsed.lines:
                redactor.add(environ[n] for n in env_var_names(line.text) if n in environ)
                redactor.add_url_userinfo(expand(line.text, environ))
        cache = Cache(options.cache_path)
        cache.ensure()
        return cls(options, inputs, cache, environ, redactor)


def download(session: Session) -> list[Pin]:
    settings = FillSettings(jobs=session.options.jobs, refresh=session.options.upgrade)
    with session.cache.locked():
        return fill(
            session.inputs.models(session.environ),
            session.cache,
            environ=session.environ,
            redactor=session.redactor,
            settings=settings,
        )


def compile_settings(options: Options) -> CompileSettings:
    return CompileSettings(
        output=options.output_path,
        header_command=header_command(options),
        hashes=options.hashes,
        extra_args=options.compile_args,
    )


def compile_(session: Session, pins: list[Pin], *, write: bool = True) -> str:
    return compile_requirements(
        session.inputs,
        pins,
        session.cache,
        compile_settings(session.options),
        environ=session.environ,
        redactor=session.redactor,
        write=write,
    )


def is_compiled(session: Session, pins: list[Pin]) -> bool:
    settings = compile_settings(session.options)
    current = inputs_digest(session.inputs, pins, settings)
    return recorded_digest(settings.output) == current


def check_compiled(session: Session, pins: list[Pin]) -> list[str]:
    """How requirements.txt differs from a fresh compile of its inputs; empty when current."""
    output = session.options.output_path
    if not output.exists():
        return [f"{output} does not exist; run pipmodels compile to create it."]
    fresh = compile_(session, pins, write=False)
    current = output.read_text(encoding="utf-8")
    if fresh == current:
        return []
    diff = difflib.unified_diff(
        current.splitlines(),
        fresh.splitlines(),
        f"{output} (current)",
        f"{output} (expected)",
        lineterm="",
    )
    return [f"{output} is out of date with its inputs:", *diff]


def check_synced(session: Session) -> list[str]:
    """What pip-sync would change in the environment; empty when nothing."""
    options = session.options
    return would_change(
        session.cache,
        SyncSettings(options.output_path, options.python_executable, options.sync_args),
        environ=session.environ,
        redactor=session.redactor,
    )


def sync_if_changed(session: Session) -> str | None:
    """Sync, unless nothing changed since the last sync: then start nothing and fetch nothing."""
    options = session.options
    if not options.upgrade and not options.dry_run and state.is_unchanged(session):
        console.info(f"Up to date: nothing changed since the last sync of {_target(session)}.")
        return None
    report = sync(session, download(session))
    if not options.dry_run:
        state.remember(session)
    return report


def _target(session: Session) -> str:
    return session.options.python_executable or "this environment"


def sync(session: Session, pins: list[Pin]) -> str:
    """Compile when the inputs changed, then pip-sync; return pip-sync's report."""
    options = session.options
    text = None
    if is_compiled(session, pins):
        console.info(f"{options.output_path} is up to date with its inputs")
    elif options.dry_run:
        console.info(f"{options.output_path} would be compiled again; showing pip-sync for that")
        text = compile_(session, pins, write=False)
    else:
        compile_(session, pins)
    return sync_environment(
        session.cache,
        SyncSettings(options.output_path, options.python_executable, options.sync_args),
        environ={**session.environ, **credentialed_indexes(session)},
        redactor=session.redactor,
        text=text,
        dry_run=options.dry_run,
    )


def credentialed_indexes(session: Session) -> dict[str, str]:
    """PIP_* variables for the index URLs with credentials that requirements.txt leaves out."""
    index: list[str] = []
    extra: list[str] = session.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    for parsed in session.inputs.source_tree:
        for line in parsed.options:
            option, _, value = line.text.replace("=", " ", 1).partition(" ")
            url = expand(value.strip(), session.environ)
            if not URL_USERINFO.search(url):
                continue
            if option in ("-i", "--index-url"):
                index = [url]
            elif option == "--extra-index-url":
                extra.append(url)
    env = {"PIP_INDEX_URL": index[0]} if index else {}
    if extra:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
    return env


def header_command(options: Options) -> str:
    words = ["pipmodels", "compile"]
    for path in options.models_files:
        words += ["-m", str(path)]
    if not options.hashes:
        words.append("--no-generate-hashes")
    if options.output is not None:
        words += ["-o", str(options.output)]
    if options.sources != (DEFAULT_SOURCE,):
        words += [str(s) for s in options.sources]
    return shlex.join(words)


def _env_file_values(options: Options) -> dict[str, str]:
    """``--env-file``, else a ``.env`` beside the first input when one exists."""
    if options.env_file is not None:
        return load_env_file(options.env_file)
    beside = options.sources[0].parent / ".env"
    return load_env_file(beside) if beside.is_file() else {}


__all__ = ["Options", "PipmodelsError", "Session", "compile_", "download", "sync"]
