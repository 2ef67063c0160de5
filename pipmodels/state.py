"""The no-op fast path: knowing, without pip or the network, that a sync would change nothing.

After a successful sync pipmodels records a fingerprint of everything the result depends on:
the options, every input file, the values of the ``${VAR}`` variables they use (keyed digests,
never the values), requirements.txt, the cache's verified files, and the distributions installed
in the target environment. The next sync compares a fresh fingerprint with the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels.cache import Cache
from pipmodels.credentials import env_var_names
from pipmodels.environment import distribution_folders, search_path
from pipmodels.files import atomic_write, sha256_of

if TYPE_CHECKING:
    from pipmodels.session import Session


def fingerprint(session: Session, search_path: list[str]) -> str:
    options = session.options
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(repr(parts).encode())
        digest.update(b"\n")

    # What can change the result; not how it is reached (--jobs, -v) or shown (--dry-run).
    add("options", replace(options, jobs=0, upgrade=False, dry_run=False))
    add("output", os.path.abspath(options.output_path))
    salt = session.cache.salt()
    for parsed in session.inputs.files:
        add("file", os.path.abspath(parsed.path))
        for line in parsed.lines:
            add(line.text)
            for name in env_var_names(line.text):
                value = session.environ.get(name)
                keyed = hmac.new(salt, (value or "").encode(), hashlib.sha256).hexdigest()
                add("var", name, value is not None, keyed)
    for project in session.inputs.projects:
        add("project", os.path.abspath(project), _file_digest(project))
    add("requirements.txt", _file_digest(options.output_path))
    for entry in session.cache.entries():
        stat = (session.cache.root / entry.filename).stat()
        add("cached", entry, stat.st_mtime_ns, stat.st_ino)
    add("installed", distribution_folders(search_path))
    return digest.hexdigest()


def unchanged_message(session: Session) -> str:
    target = session.options.python_executable or "this environment"
    return f"Up to date: nothing changed since the last sync of {target}."


def is_unchanged(session: Session) -> bool:
    """True when a sync would change nothing: nothing it depends on changed since the last."""
    options = session.options
    if options.upgrade or options.dry_run:
        return False
    record = _record_path(session.cache, session)
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
        expected, path = str(recorded["fingerprint"]), list(recorded["search_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    # The target's search path was recorded with the fingerprint, so checking it starts no
    # process, not even the target's Python.
    return expected == fingerprint(session, path)


def remember(session: Session) -> None:
    record = _record_path(session.cache, session)
    record.parent.mkdir(parents=True, exist_ok=True)
    path = search_path(
        session.options.python_executable, env=session.environ, redactor=session.redactor
    )
    data = {"fingerprint": fingerprint(session, path), "search_path": path}
    atomic_write(record, json.dumps(data) + "\n")


def _record_path(cache: Cache, session: Session) -> Path:
    options = session.options
    target = f"{os.path.abspath(options.output_path)}\0{options.python_executable or ''}"
    name = hashlib.sha256(target.encode()).hexdigest()[:32]
    return cache.state / "synced" / f"{name}.json"


def _file_digest(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None
