"""The three steps a user asks for, download, compile and sync, each over one Session."""

from __future__ import annotations

import difflib
import shlex

from pipmodels import console, state
from pipmodels.compile import CompileSettings, compile_requirements, inputs_digest, recorded_digest
from pipmodels.credentials import URL_USERINFO, expand
from pipmodels.fill import FillSettings, Pin, fill
from pipmodels.reqfile import split_option
from pipmodels.session import DEFAULT_SOURCE, Options, Session
from pipmodels.sync import SyncSettings, sync_environment, would_change


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


def check_synced(session: Session, pins: list[Pin]) -> list[str]:
    """What pip-sync would change in the environment; empty when nothing."""
    return would_change(
        session.cache,
        _sync_settings(session.options, pins),
        environ=session.environ,
        redactor=session.redactor,
    )


def sync_and_remember(session: Session) -> str:
    """Download, compile when needed, sync; record the result for the next no-op check."""
    report = sync(session, download(session))
    if not session.options.dry_run:
        state.remember(session)
    return report


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
        _sync_settings(options, pins),
        environ={**session.environ, **credentialed_indexes(session)},
        redactor=session.redactor,
        text=text,
        dry_run=options.dry_run,
    )


def _sync_settings(options: Options, pins: list[Pin]) -> SyncSettings:
    return SyncSettings(
        options.output_path,
        options.python_executable,
        options.sync_args,
        tuple(pin.entry for pin in pins),
    )


def credentialed_indexes(session: Session) -> dict[str, str]:
    """PIP_* variables for the index URLs with credentials that requirements.txt leaves out."""
    index: list[str] = []
    extra: list[str] = session.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    for parsed in session.inputs.source_tree:
        for line in parsed.options:
            option, value = split_option(line.text)
            url = expand(value, session.environ)
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
