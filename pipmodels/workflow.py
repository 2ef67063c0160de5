"""The commands a user runs, download, compile and sync, as plain functions over one Session.

The path of ``pipmodels sync``: :func:`download.download` fills the cache, :func:`compile_`
writes requirements.txt when its inputs changed, :mod:`sync` runs pip-sync, and
:mod:`fastpath` records the result so that the next identical run does nothing at all.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pipmodels import console, fastpath, lockfile, spacy
from pipmodels.compile import compile_requirements, inputs_digest, lock_digest, recorded_digest
from pipmodels.diagnose import placeholder_message
from pipmodels.download import download
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import Pin, spacy_model_name
from pipmodels.pipoutput import SyncReport
from pipmodels.reqfile import split_option
from pipmodels.session import Session
from pipmodels.sync import sync_environment, target_of, would_change

__all__ = ["check_compiled", "check_synced", "compile_", "download", "sync_and_remember"]


def compile_(session: Session, pins: list[Pin], *, write: bool = True) -> str:
    refuse_bare_model_names(session, pins)
    return compile_requirements(session, pins, write=write, verify=_spacy_check(session, pins))


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
    # The target's Python describes itself while the models download: neither waits.
    with ThreadPoolExecutor(1, thread_name_prefix="target") as pool:
        described = pool.submit(target_of, session)
        pins = download(session)
        target = described.result()
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
        compile_(session, pins)
    report = sync_environment(session, pins, target, text=text)
    if not options.dry_run:
        fastpath.remember(session, target)
    return report
