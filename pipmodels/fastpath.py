"""The no-op fast path: knowing, without pip or the network, that a sync would change nothing.

After a successful sync pipmodels records a fingerprint of everything the result depends on:
the options, every input file, the values of the ``${VAR}`` variables they use and of the
user's ``PIP_*`` variables (keyed digests, never the values), pip's configuration files, the
user's netrc, requirements.txt, the cache's verified files, and the distributions installed in
the target environment. The next sync compares a fresh fingerprint with the record.

Records name local folders, so they live in the user's state folder, not in the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console, engines, pipconfig, quickcheck, statedir
from pipmodels.cache import STAGING_PREFIX
from pipmodels.credentials import env_var_names, user_netrc_candidates
from pipmodels.files import atomic_write
from pipmodels.quickcheck import Witness
from pipmodels.reqfile import local_archive

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipmodels.installed import Target
    from pipmodels.options import Options
    from pipmodels.session import Session


def fingerprint(session: Session, search_path: list[str], witness: Witness) -> str:
    """The digest of everything a sync's result depends on; ``witness`` keeps what it read,
    for :mod:`pipmodels.quickcheck` to look at again."""
    options, environ = session.options, session.ctx.base_environ
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(repr(parts).encode())
        digest.update(b"\n")

    def keyed(value: str | None) -> str:
        return hmac.new(witness.salt, (value or "").encode(), hashlib.sha256).hexdigest()

    def content(path: Path | str) -> str | None:
        data = witness.content(str(path))
        return None if data is None else hashlib.sha256(data).hexdigest()

    # What can change the result; not how it is reached (--jobs, -v) or shown (--dry-run).
    add("options", replace(options, jobs=0, upgrade=False, dry_run=False))
    witness.content("pyproject.toml")  # [tool.pipmodels], which options were read with
    add("output", os.path.abspath(options.output_path))
    python = options.python_executable
    if python and os.path.basename(python) == python:  # found on PATH: another PATH, another
        witness.variable("PATH")
        add("python", shutil.which(python, path=environ.get("PATH")))
    add("env file", content(options.env_file or options.sources[0].parent / ".env"))
    for parsed in session.inputs.files:
        add("file", os.path.abspath(parsed.path), content(parsed.path))
        for line in parsed.lines:
            add(line.text)
            for name in env_var_names(line.text):
                witness.variable(name)
                add("var", name, name in environ, keyed(environ.get(name)))
        for line in parsed.requirement_lines:
            # A local archive rebuilt under the same name is a new model: its size and times.
            archive = local_archive(line)
            if archive is not None:
                add("local archive", str(archive), witness.stamp(str(archive)))
    prefixes = ("PIP_", *engines.settings_prefixes())  # pip download reads PIP_ with any engine
    for name in sorted(n for n in environ if n.startswith(prefixes) or n == "NETRC"):
        add("pip setting", name, keyed(environ[name]))
    for path in pipconfig.config_files(environ):
        data = witness.content(str(path))
        add("pip config", str(path), keyed(data.decode("utf-8", "replace")) if data else None)
    for netrc in user_netrc_candidates(environ):
        add("netrc", str(netrc), content(netrc))
    for project in session.inputs.projects:
        add("project", os.path.abspath(project), content(project))
    add("requirements.txt", content(options.output_path))
    cache = session.cache
    witness.stamp(str(cache.manifest_path))
    witness.stamp(str(cache.root))  # an archive gone, or back
    witness.no_entries(str(cache.state), STAGING_PREFIX)
    for filename, info, stat in cache.verified_records():
        witness.stamp(str(cache.file(filename)))
        add("cached", filename, info["sha256"], info["version"], stat.st_mtime_ns, stat.st_ino)
    add("installed", [(folder, witness.listing(folder)) for folder in search_path])
    return digest.hexdigest()


def unchanged_message(session: Session) -> str:
    target = session.options.python_executable or "this environment"
    return f"Up to date: nothing changed since the last sync of {target}."


def is_unchanged(session: Session) -> bool:
    """True when a sync would change nothing: nothing it depends on changed since the last."""
    options = session.options
    if options.upgrades or options.dry_run:
        return False
    try:
        recorded = json.loads(
            _record_path(session.options, session.ctx.base_environ).read_text(encoding="utf-8")
        )
        expected, path = str(recorded["fingerprint"]), list(recorded["search_path"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return False
    if not all(isinstance(p, str) for p in path):
        return False
    # The target's search path was recorded with the fingerprint, so checking it starts no
    # process, not even the target's Python.
    witness = _witness(session)
    if expected != fingerprint(session, path, witness):
        return False
    _save_quick_record(session, witness)
    return True


def inputs_as_read(session: Session) -> Witness:
    """What the files a sync reads hold as it starts, for :func:`remember` to compare with."""
    witness = _witness(session)
    fingerprint(session, [], witness)
    return witness


def remember(session: Session, target: Target, started: Witness | None = None) -> None:
    """Record this sync for the next no-op check; with ``started`` (:func:`inputs_as_read`),
    only when no file it read was edited while it ran: what it installed is not the edit."""
    record = _record_path(session.options, session.ctx.base_environ)
    record.parent.mkdir(parents=True, exist_ok=True)
    witness = _witness(session)
    data = {
        "fingerprint": fingerprint(session, target.search_path, witness),
        "search_path": target.search_path,
    }
    edited = [] if started is None else _edited(started, witness, session.options.output_path)
    if edited:
        console.warn(f"{edited[0]} changed while the sync ran; the next sync reads it again.")
        record.unlink(missing_ok=True)
        quick = quickcheck.record_path(
            quickcheck.state_folder(os.environ), sys.argv[1:], os.getcwd()
        )
        Path(quick).unlink(missing_ok=True)
        return
    atomic_write(record, json.dumps(data) + "\n")
    _save_quick_record(session, witness)


def _edited(started: Witness, now: Witness, output: Path) -> list[str]:
    """The files whose content differs between the two (not the output, which the sync
    writes)."""
    written = os.path.abspath(output)
    return [
        name
        for (kind, name), value in now.entries.items()
        if kind == quickcheck.CONTENT
        and name != written
        and started.entries.get((kind, name), value) != value
    ]


def _witness(session: Session) -> Witness:
    return Witness(_salt(statedir.state_home(session.ctx.base_environ)))


def _save_quick_record(session: Session, witness: Witness) -> None:
    """Let the next run of this very ``pipmodels sync`` command line answer from
    :mod:`pipmodels.quickcheck`; never for one that must do work whatever changed."""
    argv, options = sys.argv[1:], session.options
    if argv[:1] != ["sync"] or options.upgrades or options.dry_run or "--check" in argv:
        return
    # The full path compares with the one record of this cache, requirements.txt and target,
    # which a sync of them under other options replaces: this answer holds only while it is
    # the record this fingerprint was compared with.
    witness.stamp(str(_record_path(options, session.ctx.base_environ)))
    message = unchanged_message(session) if console.level() > console.QUIET else ""
    home = quickcheck.state_folder(os.environ)
    quickcheck.save(home, argv, witness, message, os.environ)


def has_record(options: Options, environ: Mapping[str, str]) -> bool:
    """Whether a sync with these options was recorded: a cold run need not load its inputs
    twice to learn that it has work to do."""
    return _record_path(options, environ).is_file()


def _record_path(options: Options, environ: Mapping[str, str]) -> Path:
    target = (
        f"{options.cache_path.absolute()}\0{os.path.abspath(options.output_path)}\0"
        f"{options.python_executable or ''}"
    )
    name = hashlib.sha256(target.encode()).hexdigest()[:32]
    return statedir.state_home(environ) / "synced" / f"{name}.json"


def _salt(home: Path) -> bytes:
    """This user's random key for digests of values that must not be recoverable."""
    path = home / "salt"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    home.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(32)
    atomic_write(path, salt.hex() + "\n")
    os.chmod(path, 0o600)
    return salt
