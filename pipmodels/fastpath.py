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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import engines, pipconfig, statedir
from pipmodels.credentials import env_var_names, user_netrc
from pipmodels.files import atomic_write, sha256_of
from pipmodels.installed import distribution_folders
from pipmodels.reqfile import local_archive

if TYPE_CHECKING:
    from pipmodels.installed import Target
    from pipmodels.session import Session


def fingerprint(session: Session, search_path: list[str]) -> str:
    options, environ = session.options, session.ctx.base_environ
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(repr(parts).encode())
        digest.update(b"\n")

    salt = _salt(statedir.state_home(environ))

    def keyed(value: str | None) -> str:
        return hmac.new(salt, (value or "").encode(), hashlib.sha256).hexdigest()

    # What can change the result; not how it is reached (--jobs, -v) or shown (--dry-run).
    add("options", replace(options, jobs=0, upgrade=False, dry_run=False))
    add("output", os.path.abspath(options.output_path))
    for parsed in session.inputs.files:
        add("file", os.path.abspath(parsed.path))
        for line in parsed.lines:
            add(line.text)
            for name in env_var_names(line.text):
                add("var", name, name in environ, keyed(environ.get(name)))
        for line in parsed.requirement_lines:
            # A local archive rebuilt under the same name is a new model: its size and times.
            archive = local_archive(line)
            if archive is not None:
                add("local archive", str(archive), _stat_stamp(archive))
    prefixes = ("PIP_", *engines.settings_prefixes())  # pip download reads PIP_ with any engine
    for name in sorted(n for n in environ if n.startswith(prefixes) or n == "NETRC"):
        add("pip setting", name, keyed(environ[name]))
    for path, content in pipconfig.digest_parts(environ):
        add("pip config", path, keyed(content.decode("utf-8", "replace")) if content else None)
    netrc = user_netrc(environ)
    add("netrc", str(netrc), _file_digest(netrc) if netrc else None)
    for project in session.inputs.projects:
        add("project", os.path.abspath(project), _file_digest(project))
    add("requirements.txt", _file_digest(options.output_path))
    for filename, info, stat in session.cache.verified_records():
        add("cached", filename, info["sha256"], info["version"], stat.st_mtime_ns, stat.st_ino)
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
    try:
        recorded = json.loads(_record_path(session).read_text(encoding="utf-8"))
        expected, path = str(recorded["fingerprint"]), list(recorded["search_path"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return False
    if not all(isinstance(p, str) for p in path):
        return False
    # The target's search path was recorded with the fingerprint, so checking it starts no
    # process, not even the target's Python.
    return expected == fingerprint(session, path)


def remember(session: Session, target: Target) -> None:
    record = _record_path(session)
    record.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "fingerprint": fingerprint(session, target.search_path),
        "search_path": target.search_path,
    }
    atomic_write(record, json.dumps(data) + "\n")


def _record_path(session: Session) -> Path:
    options = session.options
    target = (
        f"{session.cache.root}\0{os.path.abspath(options.output_path)}\0"
        f"{options.python_executable or ''}"
    )
    name = hashlib.sha256(target.encode()).hexdigest()[:32]
    return statedir.state_home(session.ctx.base_environ) / "synced" / f"{name}.json"


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


def _stat_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _file_digest(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None
