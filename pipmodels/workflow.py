"""The commands a user runs, download, compile and sync, as plain functions over one Session.

The path of ``pipmodels sync``: :func:`download.download` fills the cache, :func:`compile_`
writes requirements.txt when its inputs changed, :mod:`sync` runs pip-sync, and
:mod:`fastpath` records the result so that the next identical run does nothing at all.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipmodels import console, fastpath, lockfile, spacy
from pipmodels.cache import Entry
from pipmodels.compile import (
    ModelFile,
    compile_requirements,
    engine_output,
    inputs_digest,
    lock_digest,
    model_file,
    recorded_digest,
)
from pipmodels.diagnose import placeholder_message
from pipmodels.download import download
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import name_from_filename
from pipmodels.headstart import HeadStart, Stub
from pipmodels.inputs import Model, Pin, spacy_model_name
from pipmodels.installed import Target
from pipmodels.pipoutput import SyncReport
from pipmodels.reqfile import Line, split_option
from pipmodels.session import Session
from pipmodels.sync import sync_environment, target_of, would_change

__all__ = ["check_compiled", "check_synced", "compile_", "download", "sync_and_remember"]


def compile_(
    session: Session,
    pins: list[Pin],
    *,
    write: bool = True,
    head: HeadStart[EarlyCompile] | None = None,
) -> str:
    refuse_bare_model_names(session, pins)
    verify = _spacy_check(session, pins)
    early = None if head is None else head.result({p.model: p.entry for p in pins}, session.cache)
    if early is not None:
        (text, files), stubs = early
        archives = {p.model: p.entry.sha256 for p in pins}
        hashes = {stub.sha256: archives[stub.model] for stub in stubs}
        return compile_requirements(session, pins, verify=verify, early=(text, files, hashes))
    if head is not None and head.started:
        console.info("  the early compile cannot be used; compiling from the archives that arrived")
    return compile_requirements(session, pins, write=write, verify=verify)


EarlyCompile = tuple[str, dict[Line, ModelFile]]


def _head_start(session: Session, folder: Path) -> HeadStart[EarlyCompile]:
    """A compile against the models' stubs, started while their archives download."""

    def start(stubs: Sequence[Stub], cached: Mapping[Model, Entry]) -> EarlyCompile:
        files = {m.req.line: model_file(Pin(m, e), session.cache) for m, e in cached.items()}
        for stub in stubs:
            found = name_from_filename(stub.filename)
            if found is None:
                raise ValueError(stub.filename)  # not a wheel's name: no early compile
            name, version = found
            files[stub.model.req.line] = ModelFile(stub.model, name, str(version), stub.path)
        return engine_output(session, files, reuse_hashes=True), files

    return HeadStart(folder, start)


def _spacy_check(session: Session, pins: list[Pin]) -> Callable[[str], None] | None:
    """Refuse requirements.txt when a model's meta.json does not admit the spaCy it pins."""
    if not session.options.spacy_check:
        return None
    archives = [(session.cache.file(pin.entry.filename), pin.entry.name) for pin in pins]
    output = str(session.options.output_path)
    return functools.partial(
        spacy.check_compiled, archives=archives, output=output, environ=session.ctx.base_environ
    )


def refuse_bare_model_names(session: Session, pins: list[Pin]) -> None:
    """A spaCy pipeline name in requirements.in that no model line provides would make
    pip-compile take the index's 999.9.9 placeholder and run its setup.py."""
    provided = {pin.entry.name for pin in pins}
    for parsed in session.inputs.source_tree:
        if any(split_option(o.text)[0] in ("-f", "--find-links") for o in parsed.options):
            continue
        for req in parsed.requirements:
            if req.url is None and spacy_model_name(req.name) and req.name not in provided:
                raise PipmodelsError(placeholder_message(req.line, req.name or ""))


def is_compiled(session: Session, pins: list[Pin]) -> bool:
    """Whether requirements.txt is what compiling its inputs wrote, unedited since."""
    output = session.options.output_path
    recorded = recorded_digest(output)
    if recorded is None:
        return False
    current = lock_digest(
        inputs_digest(session.inputs, pins, session.options), output.read_text(encoding="utf-8")
    )
    return recorded == current


def check_compiled(session: Session, pins: list[Pin]) -> list[str]:
    """How requirements.txt differs from a fresh compile of its inputs; empty when current."""
    output = session.options.output_path
    if lockfile.synced_as_is(session.options):
        return []  # a compiled file given as the input: there is nothing to compile
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
    return would_change(session, pins)


def sync_and_remember(session: Session) -> SyncReport:
    """Download, compile when needed, sync; record the result for the next no-op check."""
    options = session.options
    # A first compile (no requirements.txt yet) starts when the models' metadata arrives.
    first = not lockfile.synced_as_is(options) and not options.output_path.exists()
    started = fastpath.inputs_as_read(session)  # an edit while the sync runs is not recorded
    with contextlib.ExitStack() as stack:
        head = None
        if first and not options.dry_run:
            head = _head_start(session, stack.enter_context(session.ctx.scratch("stubs-")))
            stack.callback(head.close)
        # The target's Python describes itself while the models download: neither waits.
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="target"))
        described = pool.submit(target_of, session)
        pins = download(session, head)
        target = described.result()
        report = _compile_and_sync(session, pins, target, head)
    if not options.dry_run:
        fastpath.remember(session, target, started)
    return report


def _compile_and_sync(
    session: Session, pins: list[Pin], target: Target, head: HeadStart[EarlyCompile] | None
) -> SyncReport:
    options = session.options
    text = None
    if lockfile.synced_as_is(options):
        console.info(
            f"Syncing {options.output_path} as it is, as pip-sync would: it is a compiled file"
        )
    elif is_compiled(session, pins):
        console.info(f"{options.output_path} is up to date with its inputs")
    elif options.dry_run:
        console.info(f"{options.output_path} would be compiled again; showing pip-sync for that")
        text = compile_(session, pins, write=False)
    else:
        compile_(session, pins, head=head)
    return sync_environment(session, pins, target, text=text)
