"""``pipmodels add``: a spaCy model's line in requirements.in, in the version that fits the spaCy.

``spacy download`` picks the version from spaCy's compatibility table but installs it with
``pip install URL`` on every run. ``pipmodels add`` makes the same choice once and writes it
down as a pinned direct reference, which ``pipmodels sync`` then installs once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from pipmodels import console, spacy
from pipmodels.credentials import redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name, name_from_filename
from pipmodels.files import atomic_write
from pipmodels.inputs import PROJECT_FILES
from pipmodels.reqfile import Line, ReqLine, RequirementsFile, read_tree

SPACY_VERSION_HINT = (
    "Give --spacy-version (e.g. --spacy-version 3.8.7), compile a requirements.txt that pins "
    "spacy, or pin spacy exactly in your input (spacy==3.8.7)."
)


@dataclass(frozen=True)
class AddSettings:
    sources: tuple[Path, ...]  # the first is the file that gets the new lines
    output: Path  # the compiled requirements.txt
    spacy_version: str | None = None  # --spacy-version


@dataclass(frozen=True)
class SpacyVersion:
    version: Version
    origin: str  # where it was found, for the message


def add_models(
    requests: Sequence[str], settings: AddSettings, environ: Mapping[str, str]
) -> list[str]:
    """Append a line for every requested model not yet in the inputs; return the new lines."""
    target = settings.sources[0]
    if target.name in PROJECT_FILES:
        raise PipmodelsError(
            f"pipmodels add writes to a requirements file, and the first input is {target}.",
            "Put a requirements.in first in your sources (or in [tool.pipmodels] sources).",
        )
    files = read_tree([s for s in settings.sources if s.name not in PROJECT_FILES and s.exists()])
    wanted, moves = _not_present(requests, files)
    if not wanted and not moves:
        return []
    found = find_spacy_version(settings.spacy_version, settings.output, files)
    console.info(f"spaCy {found.version} (from {found.origin})")
    table = spacy.fetch_table(spacy.compatibility_url(environ), environ)
    base = spacy.models_url(environ)
    lines, replaced = [], {}
    for request in [*wanted, *moves]:
        name, version = spacy.pick(table, request, found.version)
        why = "fits" if spacy.split_request(request)[1] else "is the newest version for"
        console.info(f"{name} {version} {why} spaCy {spacy.minor_of(found.version)}")
        line = f"{name} @ {spacy.release_url(base, name, version)}"
        if request in moves:
            replaced[moves[request]] = line
        else:
            lines.append(line)
    if settings.spacy_version is not None and not _names(files, "spacy"):
        lines.insert(0, spacy_requirement(found.version))
    _write_lines(target, lines, replaced)
    return [*replaced.values(), *lines]


def _not_present(
    requests: Sequence[str], files: Sequence[RequirementsFile]
) -> tuple[list[str], dict[str, Line]]:
    """The requests for models not in the inputs yet, and those ``NAME==VERSION`` requests
    for a model listed in another version (request -> its line, to be replaced)."""
    wanted: dict[str, str] = {}  # canonical name -> request, the first of each name
    moves: dict[str, Line] = {}
    for request in requests:
        name, version = spacy.split_request(request)
        line = _names(files, name)
        present = _version_of(files, line) if line is not None else None
        if line is not None and version is not None and not _same_version(present, version):
            moves[request] = line
        elif line is not None:
            console.info(
                f"{name} is already in {line.where}: {redact_url(line.text)}; nothing to add"
            )
        else:
            wanted.setdefault(canonical_name(name), request)
    return list(wanted.values()), moves


def _same_version(present: str | None, requested: str) -> bool:
    try:
        return present is not None and Version(present) == Version(requested)
    except InvalidVersion:
        return present == requested


def _version_of(files: Sequence[RequirementsFile], line: Line) -> str | None:
    """The version a model's line installs, from its archive's name or an exact pin."""
    for parsed in files:
        for req in parsed.requirements:
            if req.line != line:
                continue
            if req.url is not None:
                filename = unquote(urlsplit(req.url).path.rsplit("/", 1)[-1])
                named = name_from_filename(filename)
                return str(named[1]) if named else None
            pinned = exact_pin([parsed], req.name or "")
            return str(pinned[0]) if pinned else None
    return None


def find_spacy_version(
    given: str | None, output: Path, files: Sequence[RequirementsFile]
) -> SpacyVersion:
    """``--spacy-version``, else requirements.txt's spacy pin, else an exact pin in the inputs."""
    if given is not None:
        return SpacyVersion(spacy.parse_version(given, "spaCy"), "--spacy-version")
    try:
        compiled = spacy.resolved_spacy(output.read_text(encoding="utf-8"))
    except OSError:
        compiled = None
    if compiled is not None:
        return SpacyVersion(compiled, str(output))
    pinned = exact_pin(files, "spacy")
    if pinned is not None:
        return SpacyVersion(pinned[0], pinned[1].where)
    raise PipmodelsError(
        f"Cannot tell which spaCy this project uses: no --spacy-version, no spacy pin in "
        f"{output}, and no spacy==VERSION in the inputs.",
        SPACY_VERSION_HINT,
    )


def exact_pin(files: Sequence[RequirementsFile], name: str) -> tuple[Version, Line] | None:
    """``name==VERSION`` (no wildcard) in the inputs, with its line."""
    for parsed in files:
        for req in parsed.requirements:
            if req.name != canonical_name(name) or req.url is not None:
                continue
            try:
                specs = list(Requirement(req.requirement).specifier)
            except InvalidRequirement:
                continue
            if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
                return Version(specs[0].version), req.line
    return None


def _names(files: Sequence[RequirementsFile], name: str) -> Line | None:
    """The first input line that requires ``name``, whether by name or by an archive URL."""
    wanted = canonical_name(name)
    for parsed in files:
        for req in parsed.requirements:
            if requirement_name(req) == wanted:
                return req.line
    return None


def requirement_name(req: ReqLine) -> str | None:
    """The canonical name a requirement installs: its own, or its archive's filename's."""
    if req.name is not None or req.url is None:
        return req.name
    filename = unquote(urlsplit(req.url).path.rsplit("/", 1)[-1])
    parsed = name_from_filename(filename)
    if parsed is not None:
        return str(parsed[0])
    # Hugging Face's "en_core_web_sm-any-py3-none-any.whl" has no valid version to parse.
    return canonical_name(filename.split("-", 1)[0]) if "-" in filename else None


def spacy_requirement(version: Version) -> str:
    """``spacy==3.8.7`` for a full version; ``spacy>=3.8,<3.9`` for a minor one such as 3.8."""
    if len(version.release) >= 3:
        return f"spacy=={version}"
    return f"spacy>={version.major}.{version.minor},<{version.major}.{version.minor + 1}"


def appended(text: str, lines: Sequence[str]) -> str:
    """``text`` with ``lines`` added at the end, in the file's own line endings."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return text + "".join(line + newline for line in lines)


def _write_lines(path: Path, lines: Sequence[str], replaced: Mapping[Line, str]) -> None:
    """Append ``lines`` and put each ``replaced`` line's new text in its place, in one write."""
    try:
        old = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc}.", "Check the file.") from None
    text = old
    for line, new in replaced.items():
        if line.path.resolve() != path.resolve() or line.text not in text:
            raise PipmodelsError(
                f"{line.where} lists the model in another version: {redact_url(line.text)}.",
                f"Change that line to: {redact_url(new)}",
            )
        text = text.replace(line.text, new, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, appended(text, lines))
    for line, new in replaced.items():
        console.info(f"Changed in {path}: {redact_url(line.text)}")
        console.info(f"  to {redact_url(new)}")
    if lines:
        console.info(f"Added to {path}:")
    for added in lines:
        console.info(f"  {added}")


def restore(path: Path, before: bytes | None) -> None:
    """Put ``path`` back as it was (``before``; None: it did not exist)."""
    if before is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write(path, before.decode("utf-8"))


def contents(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc}.", "Check the file.") from None
