"""``pipmodels publish``: upload cached model archives to a team's package index with twine.

twine speaks the upload API that devpi, pypiserver, Artifactory, Nexus, GitLab and CodeArtifact
accept, and takes credentials from ``TWINE_USERNAME``/``TWINE_PASSWORD``, ``~/.pypirc`` or
keyring: none of them ever goes on its command line. Before uploading, pipmodels reads the
index's simple page of each project and skips the files it already has with the same sha256;
a file it has with another sha256 stops the run, since an index never replaces a file.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pipmodels import console, http, simple
from pipmodels.cache import Cache, Entry
from pipmodels.credentials import Credential, Origin, redact_url, strip_userinfo
from pipmodels.download import download
from pipmodels.errors import PipmodelsError
from pipmodels.pipcommands import python_module
from pipmodels.simple import IndexFile

if TYPE_CHECKING:
    from pipmodels.session import Session

Auth = tuple[str, str]

# twine's own defaults for these names, which need no .pypirc section.
KNOWN_REPOSITORIES = {
    "pypi": "https://upload.pypi.org/legacy/",
    "testpypi": "https://test.pypi.org/legacy/",
}
KNOWN_SIMPLE = {
    "upload.pypi.org": "https://pypi.org/simple/",
    "test.pypi.org": "https://test.pypi.org/simple/",
}
# The per-file upload limit of the indexes that publish one: PyPI's and TestPyPI's default is
# 100 MiB (warehouse's MAX_FILESIZE; docs.pypi.org "Storage Limits"). A project can be granted
# more: --max-file-size says so.
MiB = 1024 * 1024
KNOWN_FILE_LIMITS = {"upload.pypi.org": 100 * MiB, "test.pypi.org": 100 * MiB}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_SIZE_UNITS.update(KIB=1024, MIB=MiB, GIB=1024 * MiB)
# Where indexes keep their simple pages, relative to the upload URL: pypiserver, Artifactory,
# Nexus, GitLab, CodeArtifact use "simple/", devpi "+simple/".
SIMPLE_CANDIDATES = ("simple/", "+simple/")


@dataclass(frozen=True)
class UploadTarget:
    """Where to upload: a URL (without credentials) or a .pypirc repository name."""

    url: str  # the upload URL, credentials stripped
    repository: str | None = None  # -r NAME: twine reads its section itself
    config_file: Path | None = None
    simple_url: str | None = None  # the index's simple root, when known
    auth: Auth | None = field(default=None, repr=False)  # for reading pages
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # TWINE_* for the child
    max_file_size: int | None = None  # --max-file-size: the index's declared per-file limit


@dataclass(frozen=True)
class Plan:
    upload: tuple[Entry, ...]
    present: tuple[Entry, ...]  # on the index already with the same sha256


def upload_command(files: Sequence[Path], target: UploadTarget, *, verbose: bool) -> list[str]:
    """twine's command line: never a credential, never a prompt."""
    cmd = python_module("twine", "upload", "--non-interactive", "--disable-progress-bar")
    if target.repository is not None:
        cmd += ["--repository", target.repository]
    else:
        cmd += ["--repository-url", target.url]
    if target.config_file is not None:
        cmd += ["--config-file", str(target.config_file)]
    if verbose:
        cmd.append("--verbose")
    return cmd + [str(f) for f in files]


def target_from_url(url: str, environ: Mapping[str, str], simple_url: str | None) -> UploadTarget:
    """``--repository-url``: credentials in the URL move to TWINE_USERNAME/TWINE_PASSWORD."""
    parts = urlsplit(url)
    env: dict[str, str] = {}
    if parts.username is not None:
        env = {"TWINE_USERNAME": unquote(parts.username)}
        env["TWINE_PASSWORD"] = unquote(parts.password or "")
    username = env.get("TWINE_USERNAME") or environ.get("TWINE_USERNAME")
    password = env.get("TWINE_PASSWORD") or environ.get("TWINE_PASSWORD")
    auth = (username, password) if username and password is not None else None
    return UploadTarget(strip_userinfo(url), None, None, simple_url, auth, env)


def target_from_pypirc(
    name: str, config_file: Path | None, environ: Mapping[str, str], simple_url: str | None
) -> UploadTarget:
    """``-r NAME``: the URL (and any username and password) of NAME's .pypirc section."""
    path = config_file or Path(environ.get("HOME", "~")).expanduser() / ".pypirc"
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc}.", "Fix the file.") from None
    # twine reads only the sections that [distutils] index-servers lists, and knows PyPI.
    servers = parser.get("distutils", "index-servers", fallback="pypi testpypi").split()
    section = dict(parser.items(name)) if parser.has_section(name) else {}
    url = section.get("repository") or KNOWN_REPOSITORIES.get(name)
    if url is None or name not in (*servers, "pypi"):
        raise PipmodelsError(
            f"{path} has no [{name}] section with a repository URL listed in [distutils] "
            "index-servers.",
            f"Add [distutils] with index-servers = {name}, and [{name}] with repository = "
            "https://HOST/...; or use --repository-url.",
        )
    username = section.get("username") or environ.get("TWINE_USERNAME")
    password = section.get("password") or environ.get("TWINE_PASSWORD")
    auth = (username, password) if username and password is not None else None
    return UploadTarget(strip_userinfo(url), name, config_file, simple_url, auth)


def resolve_target(
    *,
    repository_url: str | None,
    repository: str | None,
    config_file: Path | None,
    simple_url: str | None,
    mirror: str | None,
    environ: Mapping[str, str],
) -> UploadTarget:
    """The upload target; its simple URL defaults to the team mirror when that is an index."""
    if simple_url is None and mirror and not urlsplit(mirror).path.endswith((".html", ".htm")):
        simple_url = mirror
    if repository_url:
        return target_from_url(repository_url, environ, simple_url)
    if repository:
        return target_from_pypirc(repository, config_file, environ, simple_url)
    raise PipmodelsError(
        "pipmodels publish needs a package index to upload to.",
        "Give --repository-url URL, or -r NAME for a section of ~/.pypirc.",
    )


def cached_entries(cache: Cache) -> list[Entry]:
    """``--all``: every verified archive in the cache."""
    with cache.locked():
        return cache.entries()


def report(result: Plan, *, dry_run: bool) -> list[str]:
    """The result lines, for stdout."""
    verb = "would upload" if dry_run else "uploaded"
    return [f"{verb} {e.filename}" for e in result.upload] + [
        f"skipped {e.filename} (on the index with the same sha256)" for e in result.present
    ]


def plan(entries: Sequence[Entry], on_index: Mapping[str, Sequence[IndexFile]]) -> Plan:
    """Which entries to upload, given the files each project's simple page lists."""
    upload, present = [], []
    for entry in entries:
        listed = {f.filename: f for f in on_index.get(entry.name, ())}
        same = listed.get(entry.filename)
        if same is None:
            upload.append(entry)
        elif same.sha256 is None or same.sha256 == entry.sha256:
            if same.sha256 is None:
                console.warn(f"{entry.filename} is on the index without a sha256; not uploaded")
            present.append(entry)
        else:
            raise PipmodelsError(
                f"The index already has {entry.filename} with sha256 {same.sha256}; the cached "
                f"copy has {entry.sha256}. Nothing was uploaded.",
                "An index never replaces a file. Find out which copy is right; to publish the "
                "cached one, delete the index's copy first.",
            )
    return Plan(tuple(upload), tuple(present))


def parse_size(text: str) -> int:
    """``--max-file-size``: bytes, or a number with a unit (``100MB``, ``100 MiB``, ``2GB``)."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    scale = _SIZE_UNITS.get(found.group(2).upper()) if found else None
    size = int(float(found.group(1)) * scale) if found and scale else 0
    if not 0 < size < 2**63:
        raise PipmodelsError(
            f"--max-file-size {text!r} is not a size.",
            "Give bytes or a number with a unit: 104857600, 100MiB, 500MB, 2GB.",
        )
    return size


def file_limit(target: UploadTarget) -> tuple[int, str] | None:
    """The per-file limit to check before uploading, and whose it is; None when unknown."""
    if target.max_file_size is not None:
        return target.max_file_size, "--max-file-size"
    host = urlsplit(target.url).hostname or ""
    limit = KNOWN_FILE_LIMITS.get(host)
    return None if limit is None else (limit, f"{host}'s default per-file limit")


def check_sizes(entries: Sequence[Entry], target: UploadTarget) -> None:
    """Refuse before any upload when a file is over the index's limit: twine would send it
    whole and fail at the end (a 436 MB model at PyPI's 100 MiB)."""
    known = file_limit(target)
    if known is None:
        return
    limit, whose = known
    over = [e for e in entries if e.size > limit]
    if not over:
        return
    files = "; ".join(f"{e.filename} is {_megabytes(e.size)}" for e in over)
    raise PipmodelsError(
        f"{files}: over the limit of {_megabytes(limit)} per file ({whose}) of "
        f"{redact_url(target.url)}. Nothing was uploaded.",
        "Ask the index for a larger limit (PyPI: docs.pypi.org/project-management/"
        "storage-limits) and pass it as --max-file-size, or publish to your team's own index "
        "or a static bucket (see README, Team mirror).",
    )


def _megabytes(size: int) -> str:
    if size % MiB == 0:
        return f"{size // MiB} MiB"
    return f"{size / 1000**2:.1f} MB"


def simple_root(web: http.Client, target: UploadTarget) -> str:
    """The index's simple URL: given, known, or found beside the upload URL."""
    if target.simple_url:
        return target.simple_url
    parts = urlsplit(target.url)
    if parts.hostname in KNOWN_SIMPLE:
        return KNOWN_SIMPLE[parts.hostname]
    base = target.url if target.url.endswith("/") else target.url + "/"
    tried = []
    for candidate in SIMPLE_CANDIDATES:
        url = base + candidate
        tried.append(url)
        if simple.is_index(web, url):
            return url
    raise PipmodelsError(
        f"Cannot find the simple index of {redact_url(target.url)} (tried {', '.join(tried)}).",
        "Give it with --simple-url: the URL pip would use as --index-url.",
    )


def index_files(web: http.Client, root: str, names: Sequence[str]) -> dict[str, list[IndexFile]]:
    pages = {name: simple.get_page(web, simple.project_url(root, name)) for name in names}
    return {name: files or [] for name, files in pages.items()}


def require_twine() -> None:
    if importlib.util.find_spec("twine") is None:
        raise PipmodelsError(
            "pipmodels publish needs twine, which is not installed.",
            "Install it with: pip install 'pipmodels[publish]'",
        )


def publish(session: Session, target: UploadTarget, *, everything: bool = False) -> Plan:
    """Upload what the index lacks of the inputs' models (``everything``: of the whole cache);
    return what was (or, with --dry-run, would be) uploaded."""
    require_twine()
    ctx = session.ctx
    ctx.redactor.add(_secrets(target))
    if everything:
        entries = cached_entries(session.cache)
    else:
        entries = list(dict.fromkeys(pin.entry for pin in download(session)))
    with ctx.web(_credentials(target)) as web:
        root = simple_root(web, target)
        names = sorted({e.name for e in entries})
        result = plan(entries, index_files(web, root, names))
        console.info(
            f"{len(result.upload)} archive(s) to upload to {redact_url(target.url)}, "
            f"{len(result.present)} there already"
        )
        check_sizes(result.upload, target)
        if not result.upload or session.options.dry_run:
            return result
        files = [session.cache.file(e.filename) for e in result.upload]
        ctx.run(
            upload_command(files, target, verbose=ctx.verbose),
            what="twine upload",
            env=target.env,
            hint="See twine's message above; check the credentials (TWINE_USERNAME and "
            "TWINE_PASSWORD, ~/.pypirc or keyring) and the repository URL.",
        )
        _confirm(result.upload, index_files(web, root, names))
    return result


def _confirm(uploaded: Sequence[Entry], on_index: Mapping[str, Sequence[IndexFile]]) -> None:
    """Read the pages again: an upload counts once the index lists it with its sha256."""
    for entry in uploaded:
        listed = {f.filename: f.sha256 for f in on_index.get(entry.name, ())}
        if listed.get(entry.filename, "missing") not in (entry.sha256, None):
            console.warn(
                f"{entry.filename} was uploaded but the index does not list it with sha256 "
                f"{entry.sha256} yet"
            )


def _secrets(target: UploadTarget) -> list[str]:
    """What to mask in twine's output: the password, and the user name only when it is the
    secret itself (a token with no password). A plain user name such as devpi's ``team`` is
    part of the index's URL, and masking it would hide which index failed."""
    pairs = [(target.env.get("TWINE_USERNAME"), target.env.get("TWINE_PASSWORD"))]
    if target.auth is not None:
        pairs.append(target.auth)
    found: list[str | None] = []
    for username, password in pairs:
        found += [password] if password else [username]
    return [s for s in found if s]


def _credentials(target: UploadTarget) -> list[Credential]:
    """The upload credentials, for reading the upload host's pages too; elsewhere netrc."""
    origin = Origin.of(target.url)
    if target.auth is None or origin is None:
        return []
    return [Credential(origin, *target.auth)]
