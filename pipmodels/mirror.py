"""The team mirror: a package index or find-links page asked for a model before its origin.

For each model the cache lacks, pipmodels looks for the same file on the mirror: the same
filename for a direct reference, the same name and exact version for a requirement, and the same
sha256 wherever the input (``--hash``, ``#sha256=``) or the committed requirements.txt records
one. A mirror file with another sha256 is refused. The mirror only fills the cache; models still
install from the cache alone, so a namesake that the mirror proxies from the public index never
reaches an environment by name.

A models-file requirement such as ``prodigy==1.15.3`` names no file: pipmodels reads the
mirror's page for the project and picks the file with that exact version (or the locked one,
for a range) that suits this interpreter best, as pip would. A range with nothing locked goes to
the origin, which alone knows the newest release.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from pipmodels import console, http, simple
from pipmodels.credentials import env_var_names, redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import name_from_filename
from pipmodels.inputs import Model
from pipmodels.reqfile import logical_lines, parse_requirement
from pipmodels.simple import IndexFile

if TYPE_CHECKING:
    from pipmodels.session import Session

PAGE_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class Locked:
    """A pin of the committed requirements.txt: its version and recorded sha256 digests."""

    version: Version
    sha256: frozenset[str]


@dataclass(frozen=True)
class Wanted:
    """What the mirror must hold for one model."""

    name: str | None  # canonical
    version: Version | None = None  # any file of this name and version (a requirement)
    filename: str | None = None  # exactly this file (a direct reference)
    sha256: frozenset[str] = frozenset()  # recorded digests; empty when nothing records one


@dataclass(frozen=True)
class Pick:
    file: IndexFile | None
    refused: tuple[IndexFile, ...] = ()  # matching files whose sha256 differs from the record


# -- deciding (pure) ----------------------------------------------------------------------------


def read_lock(path: Path) -> dict[str, Locked]:
    """``name==version`` pins of a compiled requirements.txt and their hashes; {} if absent."""
    if not path.is_file():
        return {}
    pins: dict[str, Locked] = {}
    try:
        for line in logical_lines(path):
            if line.text.startswith("-"):
                continue
            req = parse_requirement(line)
            version = _exact_version(req.requirement)
            if req.name and version is not None and not req.url:
                pins[req.name] = Locked(version, _sha256s(req.hashes))
    except PipmodelsError:
        return {}  # an unreadable lock records nothing; pip-compile will say what is wrong
    return pins


def wanted_file(
    model: Model, environ: Mapping[str, str], lock: Mapping[str, Locked], *, upgrade: bool
) -> Wanted | None:
    """What to ask the mirror for, or None when the mirror cannot answer for this model."""
    recorded = _sha256s(model.req.hashes)
    url = model.public_url
    if url is not None:
        if url.startswith("file:"):
            return None  # a local archive is at hand already
        parts = urlsplit(url)
        filename = simple.safe_archive_name(unquote(parts.path.rsplit("/", 1)[-1]))
        from_name = name_from_filename(filename) if filename else None
        name = model.req.name or (from_name[0] if from_name else None)
        if name is None:
            return None
        recorded |= _fragment_sha256(parts.fragment)
        locked = lock.get(name)
        if locked and (from_name is None or from_name[1] == locked.version):
            recorded |= locked.sha256
        return Wanted(name, None, filename, recorded)
    name = model.req.name
    version = _exact_version(model.req.requirement)
    locked = lock.get(name) if name else None
    if version is None and locked and not upgrade and _allows(model, locked.version):
        version = locked.version
    if name is None or version is None:
        return None
    if locked and locked.version == version:
        recorded |= locked.sha256
    return Wanted(name, version, None, recorded)


def pick(files: Sequence[IndexFile], wanted: Wanted, tag_ranks: Mapping[str, int]) -> Pick:
    """The mirror file to fetch for ``wanted``: recorded digest first, then pip's preference."""
    matching = [f for f in files if _matches(f, wanted)]
    refused = tuple(
        f for f in matching if wanted.sha256 and f.sha256 and f.sha256 not in wanted.sha256
    )
    ranked = [
        ((0 if f.sha256 and f.sha256 in wanted.sha256 else 1, rank, f.filename), f)
        for f in matching
        if f not in refused and (rank := _rank(f.filename, wanted, tag_ranks)) is not None
    ]
    best = min(ranked, key=lambda pair: pair[0], default=None)
    return Pick(best[1] if best else None, refused)


def _matches(file: IndexFile, wanted: Wanted) -> bool:
    if wanted.filename is not None and file.filename == wanted.filename:
        return True
    parsed = name_from_filename(file.filename)
    if parsed is None or parsed[0] != wanted.name:
        return False
    if wanted.version is not None and parsed[1] == wanted.version:
        return True
    # A file renamed in the cache (Hugging Face's "-any-" wheels) is known by its digest.
    return bool(wanted.sha256) and file.sha256 in wanted.sha256


def _rank(filename: str, wanted: Wanted, tag_ranks: Mapping[str, int]) -> int | None:
    """pip's order: the best-supported wheel tag first; no sdist, as the origin's ``pip download
    --only-binary :all:`` takes none; a direct reference's file whatever it is."""
    if wanted.filename is not None:
        return 0
    if not filename.endswith(".whl"):
        return None
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return None
    ranks = [tag_ranks[str(tag)] for tag in tags if str(tag) in tag_ranks]
    return min(ranks, default=None)


@functools.cache
def interpreter_tags() -> dict[str, int]:
    """This interpreter's wheel tags, most preferred first: pip download runs on it too."""
    return {str(tag): rank for rank, tag in enumerate(sys_tags())}


def _exact_version(requirement: str) -> Version | None:
    try:
        specs = list(Requirement(requirement).specifier)
    except InvalidRequirement:
        return None
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    try:
        return Version(specs[0].version)
    except ValueError:
        return None


def _allows(model: Model, version: Version) -> bool:
    try:
        specifier: SpecifierSet = Requirement(model.req.requirement).specifier
    except (InvalidRequirement, InvalidSpecifier):
        return False
    return specifier.contains(version, prereleases=True)


def _sha256s(hashes: Sequence[str]) -> frozenset[str]:
    return frozenset(
        h.split(":", 1)[1].lower() for h in hashes if h.lower().startswith("sha256:") and ":" in h
    )


def _fragment_sha256(fragment: str) -> frozenset[str]:
    pairs = (part.partition("=") for part in fragment.split("&"))
    return frozenset(value.lower() for key, _, value in pairs if key == "sha256" and value)


# -- asking ---------------------------------------------------------------------------------------


@dataclass
class Mirror:
    """The mirror of one run: its URL, the lock it checks against, the pages read so far."""

    url: str
    lock: Mapping[str, Locked] = field(default_factory=dict)
    upgrade: bool = False
    _pages: dict[str, list[IndexFile]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise PipmodelsError(
                f"The mirror {redact_url(self.url)} is not an http(s) URL.",
                "Give the URL of a simple index (https://HOST/simple/) or of a find-links page "
                "(https://HOST/models/index.html).",
            )

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    @property
    def is_page(self) -> bool:
        return urlsplit(self.url).path.lower().endswith(PAGE_SUFFIXES)

    def files(self, web: http.Client, name: str) -> list[IndexFile]:
        """The mirror's files for project ``name`` (a find-links page: all of its files)."""
        url = self.url if self.is_page else simple.project_url(self.url, name)
        with self._lock:
            if url not in self._pages:
                self._pages[url] = simple.get_page(web, url) or []
            return self._pages[url]


def for_session(session: Session) -> Mirror | None:
    """The run's mirror, checking its files against the committed requirements.txt."""
    options = session.options
    if not options.mirror:
        return None
    return Mirror(options.mirror, read_lock(options.output_path), upgrade=options.upgrade)


@dataclass(frozen=True)
class Outcome:
    got: http.Downloaded | None
    why: str = ""  # on a miss: what the mirror said, for the message when the origin fails too


def from_mirror(
    mirror: Mirror, web: http.Client, model: Model, dest: Path, environ: Mapping[str, str]
) -> Outcome:
    """Fetch ``model``'s file from the mirror into ``dest``, or say why not."""
    wanted = wanted_file(model, environ, mirror.lock, upgrade=mirror.upgrade)
    if wanted is None or wanted.name is None:
        why = f"no exact version or locked pin names its file on the mirror {mirror.shown}"
        return Outcome(None, why)
    try:
        choice = pick(mirror.files(web, wanted.name), wanted, interpreter_tags())
    except PipmodelsError as exc:
        console.warn(f"the mirror failed for {model.shown}: {exc.message} Trying its source.")
        return Outcome(None, f"the mirror {mirror.shown} failed")
    for file in choice.refused:
        _warn_refused(model, mirror, file.filename, file.sha256)
    if choice.file is None:
        refused = " (its copy was refused)" if choice.refused else ""
        console.info(f"  {model.shown}: not on the mirror{refused}")
        return Outcome(None, f"it is not on the mirror {mirror.shown}{refused}")
    try:
        got = web.download(choice.file.url, dest, where=model.req.line.where)
    except PipmodelsError as exc:
        console.warn(f"the mirror failed for {model.shown}: {exc.message} Trying its source.")
        return Outcome(None, f"the mirror {mirror.shown} failed")
    expected = wanted.sha256 or ({choice.file.sha256} if choice.file.sha256 else set())
    if expected and got.sha256 not in expected:
        got.path.unlink()
        _warn_refused(model, mirror, choice.file.filename, got.sha256)
        return Outcome(None, f"the mirror's copy was refused ({mirror.shown})")
    console.info(f"  from the mirror: {choice.file.filename}")
    return Outcome(got)


def _warn_refused(model: Model, mirror: Mirror, filename: str, sha256: str | None) -> None:
    console.warn(
        f"refused {filename} from the mirror {mirror.shown}: its sha256 {sha256} is not the one "
        f"recorded for {model.shown} ({model.req.line.where} or requirements.txt)."
    )


def require_origin(model: Model, environ: Mapping[str, str], outcome: Outcome) -> None:
    """After a miss on the mirror, raise when the origin cannot be asked either: its location
    needs a variable that is not set (without a mirror, loading the inputs says so)."""
    # A direct reference names its URL; a requirement is looked up on its file's locations.
    options = [] if model.req.is_direct else [o.text for o in model.options]
    texts = [model.req.line.text, *options]
    unset = sorted({n for t in texts for n in env_var_names(t) if n not in environ})
    if not unset:
        return
    names = ", ".join(unset)
    raise PipmodelsError(
        f"{model.req.line.where}: {model.shown} cannot be fetched: {outcome.why}, and {names} "
        "is not set to fetch it from its source.",
        f"Set {names} in the environment or in a .env file beside your inputs, or ask someone "
        "who has it to run `pipmodels publish` to the mirror.",
    )


def fetch(
    mirror: Mirror | None,
    web: http.Client,
    model: Model,
    dest: Path,
    environ: Mapping[str, str],
) -> http.Downloaded | None:
    """The model's file from the mirror, or None when its origin must be asked (after a miss,
    raising when the origin needs a variable that is not set)."""
    if mirror is None:
        return None
    outcome = from_mirror(mirror, web, model, dest, environ)
    if outcome.got is None:
        require_origin(model, environ, outcome)
    return outcome.got
