"""Reading pip requirement files: logical lines, nested ``-r``/``-c`` files, direct references."""

from __future__ import annotations

import functools
import optparse
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from pipmodels.credentials import redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name, is_archive_name

# pip's own rule: a comment starts at "#" at the start of a line or after whitespace.
COMMENT = re.compile(r"(^|\s+)#.*$")
URL_START = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
NESTED_FILE_OPTIONS = {"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c"}
# Options that may follow a requirement on its line, as pip allows.
PER_REQUIREMENT_OPTION = re.compile(r"(^|\s)--(hash|config-settings|global-option)[=\s]")


@dataclass(frozen=True)
class Line:
    path: Path
    number: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.number}"


@dataclass(frozen=True)
class ReqLine:
    """One requirement line, split into the requirement and its trailing options."""

    line: Line
    requirement: str  # as written, without trailing options
    options: str  # e.g. "--hash=sha256:..."
    name: str | None  # canonical name when known without downloading
    url: str | None  # the URL (or file URL of a local path) of a direct reference
    extras: str  # "[a,b]" or ""
    marker: str  # "; python_version >= '3.9'" or ""

    @property
    def is_direct(self) -> bool:
        return self.url is not None

    @property
    def hashes(self) -> list[str]:
        return re.findall(r"--hash[=\s]+(\S+)", self.options)


@dataclass
class RequirementsFile:
    path: Path
    lines: list[Line] = field(default_factory=list)
    requirement_lines: list[Line] = field(default_factory=list)
    options: list[Line] = field(default_factory=list)  # -f, -i, --extra-index-url, ...
    nested: list[tuple[str, Path]] = field(default_factory=list)  # ("-r" | "-c", path)

    @functools.cached_property
    def requirements(self) -> list[ReqLine]:
        """Parsed on first use: a no-op sync compares the lines and never needs this."""
        return [
            _editable(line) if _is_editable(line) else parse_requirement(line)
            for line in self.requirement_lines
        ]


def logical_lines(path: Path) -> list[Line]:
    """Lines as pip sees them: continuations joined, comments and blanks dropped."""
    try:
        raw = path.read_text(encoding="utf-8-sig")  # pip accepts a UTF-8 byte order mark
    except FileNotFoundError:
        raise PipmodelsError(
            f"The requirements file {path} does not exist.",
            "Check the path, or create the file.",
        ) from None
    except IsADirectoryError:
        raise PipmodelsError(
            f"{path} is a folder, not a requirements file.", "Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc}.", "Check the file.") from None
    result: list[Line] = []
    pending, start = "", 0
    for number, text in enumerate(raw.splitlines(), 1):
        if not pending:
            start = number
        if text.endswith("\\") and not COMMENT.search(text):
            pending += text[:-1] + " "
            continue
        text = COMMENT.sub("", pending + text).strip()
        pending = ""
        if text:
            result.append(Line(path, start, text))
    if pending.strip():
        result.append(Line(path, start, pending.strip()))
    return result


def read(path: Path) -> RequirementsFile:
    """``path``'s lines, each option line replaced by one line per option it holds, spelt
    ``--long-name value``, so that every reader downstream sees the option pip sees."""
    parsed = RequirementsFile(path)
    for raw in logical_lines(path):
        lines = [raw]
        if raw.text.startswith("-"):
            lines = [Line(path, raw.number, text) for text in option_texts(raw)]
        for line in lines:
            parsed.lines.append(line)
            nested = _nested_file(line) if line.text.startswith("-") else None
            if nested:
                parsed.nested.append(nested)
            elif line.text.startswith("-") and not _is_editable(line):
                parsed.options.append(line)
            else:
                parsed.requirement_lines.append(line)
    return parsed


# The options pip accepts in a requirements file, by long name, and whether each takes a value.
FILE_OPTIONS: dict[tuple[str, ...], bool] = {
    ("-i", "--index-url"): True,
    ("--extra-index-url",): True,
    ("--no-index",): False,
    ("-c", "--constraint"): True,
    ("-r", "--requirement"): True,
    ("-e", "--editable"): True,
    ("-f", "--find-links"): True,
    ("--no-binary",): True,
    ("--only-binary",): True,
    ("--prefer-binary",): False,
    ("--require-hashes",): False,
    ("--pre",): False,
    ("--trusted-host",): True,
    ("--use-feature",): True,
}


class _NotOptions(Exception):
    pass


class _Parser(optparse.OptionParser):
    def error(self, msg: str) -> NoReturn:
        raise _NotOptions(msg)


def option_values(line: Line) -> list[tuple[str, str]]:
    """Each option on ``line`` as (long name, value), read as pip reads it: with optparse,
    which takes ``-fURL``, ``--find-link=URL`` (a unique prefix of a long option) and several
    options on one line. A line pip would reject is read by its first word, as written."""
    found: list[tuple[str, str]] = []

    def take(option: optparse.Option, _opt: str, value: str | None, *_: object) -> None:
        found.append((option.get_opt_string(), value or ""))

    parser = _Parser(add_help_option=False)
    for names, takes_value in FILE_OPTIONS.items():
        kind = "string" if takes_value else None
        parser.add_option(*names, action="callback", callback=take, type=kind)
    try:
        parser.parse_args(_words(line.text))
    except _NotOptions:
        return [split_option(line.text)]
    return found


def option_texts(line: Line) -> list[str]:
    """The options on ``line``, one ``--long-name value`` text each."""
    texts = []
    for flag, value in option_values(line):
        if flag not in {n for names in FILE_OPTIONS for n in names}:
            return [line.text]  # not an option pip knows: left as written
        shown = shlex.quote(value) if re.search(r"[\s'\"]", value) else value
        texts.append(f"{flag} {shown}" if value else flag)
    return texts or [line.text]


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _is_editable(line: Line) -> bool:
    return split_option(line.text)[0] in ("-e", "--editable")


def read_tree(sources: list[Path]) -> list[RequirementsFile]:
    """Every file reachable from ``sources`` through ``-r`` and ``-c``, each once, in order."""
    seen: dict[Path, RequirementsFile] = {}
    for source in sources:
        for parsed in read_one_tree(source):
            seen.setdefault(parsed.path.resolve(), parsed)
    return list(seen.values())


def read_one_tree(source: Path) -> list[RequirementsFile]:
    """``source`` and every file it pulls in, each once: the scope of its options for pip.

    pip applies ``-f``, ``-i``, ``--extra-index-url`` and ``--no-index`` from any file of the
    tree to every requirement in it, so a caller deciding where a requirement comes from must
    look at the whole tree. A cycle of ``-r`` files is refused: pip would recurse forever.
    """
    seen: dict[Path, RequirementsFile] = {}

    def visit(path: Path, chain: tuple[Path, ...]) -> None:
        key = path.resolve()
        if key in chain:
            loop = " -> ".join(str(p) for p in (*chain, key))
            raise PipmodelsError(
                f"The requirements files include each other in a cycle: {loop}.",
                "Remove one of the -r/-c lines so that no file includes itself.",
            )
        if key in seen:
            return
        parsed = read(path)
        seen[key] = parsed
        for _, child in parsed.nested:
            visit(child, (*chain, key))

    visit(source, ())
    return list(seen.values())


def parse_requirement(line: Line) -> ReqLine:
    from packaging.requirements import InvalidRequirement, Requirement

    text, options = _split_options(line.text)
    if _looks_like_archive(text) or URL_START.match(text):
        return _bare_direct(line, text, options)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise PipmodelsError(
            f"{line.where}: cannot parse {redact_url(text)!r} ({exc}).",
            "Write a requirement such as 'name>=1.0', 'name @ https://host/file.whl', "
            "or a path to a .whl, .tar.gz or .zip file.",
        ) from None
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return ReqLine(line, text, options, canonical_name(req.name), req.url, extras, marker)


def _looks_like_archive(text: str) -> bool:
    word = text.split(";")[0].strip()
    return " " not in word and is_archive_name(word.split("#")[0])


def _bare_direct(line: Line, text: str, options: str) -> ReqLine:
    location, _, marker = text.partition(";")
    location = location.strip()
    name = None
    fragment = urlsplit(location).fragment if URL_START.match(location) else ""
    egg = re.search(r"(?:^|&)egg=([^&]+)", fragment)
    if egg:
        name = canonical_name(unquote(egg.group(1)))
    url = location if URL_START.match(location) else _file_url(line, location)
    marker = f"; {marker.strip()}" if marker.strip() else ""
    return ReqLine(line, text, options, name, url, "", marker)


def _file_url(line: Line, location: str) -> str:
    # pip reads relative paths from the working directory; pip-tools users write them relative
    # to the requirements file. Take the file's folder when the working directory has no such file.
    path = Path(location).expanduser()
    if not path.is_absolute() and not path.exists():
        path = line.path.parent / path
    return path.resolve().as_uri()


def local_archive(line: Line) -> Path | None:
    """The archive on this machine a requirement line names (``name @ file:///x.whl`` or a
    path), without parsing the requirement: the no-op fast path stats it."""
    text = _split_options(line.text)[0].split(";")[0].strip()
    location = text.split(" @ ", 1)[1].strip() if " @ " in text else text
    if " " in location:
        return None
    if location.startswith("file:"):
        from urllib.request import url2pathname

        return Path(url2pathname(urlsplit(location).path))
    if URL_START.match(location) or not is_archive_name(location.split("#")[0]):
        return None
    return Path(unquote(urlsplit(_file_url(line, location.split("#")[0])).path))


def _editable(line: Line) -> ReqLine:
    return ReqLine(line, line.text, "", None, None, "", "")


def _split_options(text: str) -> tuple[str, str]:
    match = PER_REQUIREMENT_OPTION.search(text)
    if not match:
        return text, ""
    return text[: match.start()].strip(), text[match.start() :].strip()


def split_option(text: str) -> tuple[str, str]:
    """An option line's flag and value: ``-f URL`` and ``--find-links=URL`` give ("-f", "URL")."""
    words = _words(text)
    flag, _, value = words[0].partition("=")
    return flag, value or (words[1] if len(words) > 1 else "")


def _nested_file(line: Line) -> tuple[str, Path] | None:
    option, target = split_option(line.text)
    if option not in NESTED_FILE_OPTIONS:
        return None
    if not target:
        raise PipmodelsError(f"{line.where}: {option} needs a file name.", "Add the file name.")
    if URL_START.match(target):
        raise PipmodelsError(
            f"{line.where}: pipmodels reads nested requirement files from disk only.",
            "Download the file and refer to it by path.",
        )
    return NESTED_FILE_OPTIONS[option], line.path.parent / target
