"""The few edits pipmodels makes to the text an engine wrote, and the reading of pins in it.

pipmodels hands pip-compile and uv inputs that make them write almost the right text: relative
source paths (so ``# via`` names the user's files), the header command by option, no index or
find-links lines. What no input can ask for is done here, on text, by pure functions that the
unit tests call directly: taking the scratch folder out of paths, a model's cached file
(``name @ file://...``) written as ``name==version``, the digest line after the header, and
pins read by name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

DIGEST_LINE = re.compile(r"^# pipmodels inputs digest: sha256:([0-9a-f]{64})$", re.M)
DIGEST_RECORD = re.compile(r"^# pipmodels inputs digest: sha256:[0-9a-f]{64}\n#\n", re.M)
# A requirement line's name, at the start of a line: what pip-sync will install.
_PINNED_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|@|===)", re.M)


def without_prefix(text: str, prefix: str) -> str:
    """Paths under the scratch copy of the inputs, written as the user's own paths."""
    return text.replace(prefix, "")


def with_paths_as_given(text: str, paths: Mapping[str, str]) -> str:
    """``# via app (/abs/pyproject.toml)`` as ``(pyproject.toml)``, as the user named it."""
    for absolute, given in paths.items():
        text = text.replace(f"({absolute})", f"({given})")
    return text


def pin_references(text: str, versions: Mapping[str, str], forbidden: str) -> str | None:
    """Each `` @ URL`` of ``versions`` as ``==VERSION``; None when a ``forbidden`` text (the
    cache's folder) is left, which only an unexpected form of reference would leave."""
    for url, version in versions.items():
        text = text.replace(f" @ {url}", f"=={version}")
    return None if forbidden in text else text


def add_digest(text: str, header_command: str, digest: str) -> str:
    """The digest line right after the header's command (and pip-compile's closing ``#``),
    or first when there is no header."""
    lines = text.splitlines(keepends=True)
    record = [f"# pipmodels inputs digest: sha256:{digest}\n", "#\n"]
    command_line = f"#    {header_command}\n"
    at = lines.index(command_line) + 1 if command_line in lines else 0
    if at and lines[at : at + 1] == ["#\n"]:  # pip-compile closes its header with "#"; uv not
        at += 1
    return "".join(lines[:at] + record + lines[at:])


def without_digest(text: str) -> str:
    """The text as the engine wrote it, without the digest record :func:`add_digest` put in."""
    return DIGEST_RECORD.sub("", text, count=1)


def with_projects_named(text: str, sources: Mapping[str, str]) -> str:
    """``-r <scratch copy of pyproject.toml>`` as ``app (pyproject.toml)``: a pyproject.toml
    read as requirements is named as the project it is."""
    for argument, via in sources.items():
        text = text.replace(f"-r {argument}", via)
    return text


def recorded_digest(text: str) -> str | None:
    match = DIGEST_LINE.search(text)
    return match.group(1) if match else None


# name==version and the --hash lines under it, as pip-compile writes them
_PINNED_WITH_HASHES = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)[ \t]*\\?\n((?:[ \t]+--hash=\S+[ \t]*\\?\n)*)", re.M
)


def pins_with_hashes(text: str) -> dict[str, tuple[str, str]]:
    """Each ``name==version`` pin (by its normalised name): its version and its hash lines."""
    return {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): (m.group(2), m.group(3))
        for m in _PINNED_WITH_HASHES.finditer(text)
    }


def pinned_names(text: str) -> list[str]:
    """The names of every requirement line, as written (``name==``, ``name @``)."""
    return [match.group(1) for match in _PINNED_NAME.finditer(text)]


def pins_as_references(text: str, references: Iterable[tuple[str, str, str]]) -> str:
    """Each ``name==version`` pin of ``references`` (name, version, url), in any spelling of
    the name and with its extras and marker, as ``name @ url``."""
    for name, version, url in references:
        spelled = "[-_.]+".join(re.escape(part) for part in name.split("-"))
        pin = re.compile(
            rf"^{spelled}(\[[^\]\n]*\])?[ \t]*==[ \t]*{re.escape(version)}([ \t]*;[^\\\n]*)?$",
            re.M | re.I,
        )
        text = pin.sub(functools.partial(_as_reference, name, url), text)
    return text


def _as_reference(name: str, url: str, match: re.Match[str]) -> str:
    """The pin as a file reference; its extras and marker, if any, stay."""
    return f"{name}{match.group(1) or ''} @ {url}{match.group(2) or ''}"


def pinned_version(text: str, name: str) -> str | None:
    """The version ``name==VERSION`` pins in compiled text (the name as the engine writes it)."""
    match = re.search(rf"^{re.escape(name)}==([^\s;\\]+)", text, re.M | re.I)
    return match.group(1) if match else None
