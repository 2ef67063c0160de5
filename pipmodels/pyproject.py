"""A pyproject.toml given as an input: its static requirements, read as requirements.in lines.

pip-compile builds a project to learn its dependencies and hands every ``name @ URL`` in them
to pip as is, so a model there would bypass the cache: downloaded on every resolve, kept as a
URL in requirements.txt and reinstalled by every sync. When ``[project] dependencies`` are
static (PEP 621), their lines, those of the optional dependencies selected with ``--extra``
and those of the dependency groups selected with ``--group`` (PEP 735) are exactly a
requirements file, and pipmodels reads them as one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name
from pipmodels.reqfile import Line, RequirementsFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def static_requirements(
    path: Path, extras: Sequence[str], groups: Sequence[str]
) -> RequirementsFile | None:
    """The project's requirements as a requirements file, or None when pip-compile must build
    the project to know them (dependencies declared dynamic)."""
    data = _load(path)
    project: dict[str, Any] = data.get("project") or {}
    dynamic = set(project.get("dynamic") or ())
    if "dependencies" in dynamic or (extras and "optional-dependencies" in dynamic):
        if groups:
            raise PipmodelsError(
                f"{path}: --group needs the project's dependencies declared statically.",
                "List [project] dependencies in pyproject.toml, or put the group's lines in a "
                "requirements file.",
            )
        return None
    optional: dict[str, list[str]] = project.get("optional-dependencies") or {}
    lines = [*_strings(project.get("dependencies"), path, "[project] dependencies")]
    own = canonical_name(str(project.get("name", "")))
    for extra in _with_self_references(extras, optional, own, path):
        lines += _strings(optional[extra], path, f"[project.optional-dependencies] {extra}")
    table: dict[str, list[Any]] = data.get("dependency-groups") or {}
    for group in groups:
        lines += _group(table, group, path, ())
    raw = path.read_text(encoding="utf-8")
    parsed = RequirementsFile(path)
    for text in dict.fromkeys(lines):
        if own and _named(text) == own:
            continue  # "app[dev]" inside app's own extras: already followed above
        line = Line(path, _line_number(raw, text), text)
        parsed.lines.append(line)
        parsed.requirement_lines.append(line)
    return parsed


def project_name(path: Path) -> str:
    """The name ``[project]`` gives, as pip-compile names a project in its ``# via`` lines."""
    return str((_load(path).get("project") or {}).get("name") or path.parent.name)


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        raise PipmodelsError(f"{path} does not exist.", "Check the path.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PipmodelsError(f"Cannot read {path}: {exc}.", "Fix the file.") from None


def _strings(value: object, path: Path, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PipmodelsError(f"{path}: {where} must be a list of strings.", "Fix the file.")
    return [v.strip() for v in value]


def _with_self_references(
    extras: Sequence[str], optional: dict[str, list[str]], own: str, path: Path
) -> list[str]:
    """The extras asked for and those they pull in through ``own[other]`` lines."""
    found: list[str] = []
    todo = list(extras)
    while todo:
        extra = todo.pop(0)
        key = _declared(optional, extra, path, "optional dependencies", "--extra")
        if key in found:
            continue
        found.append(key)
        for text in optional[key]:
            match = _NAME.match(text)
            if match and own and canonical_name(match.group(1)) == own and match.group(2):
                todo += [e.strip() for e in match.group(2).split(",") if e.strip()]
    return found


def _group(
    table: dict[str, list[Any]], group: str, path: Path, chain: tuple[str, ...]
) -> list[str]:
    key = _declared(table, group, path, "dependency group", "--group")
    if key in chain:
        raise PipmodelsError(
            f"{path}: the dependency groups include each other: {' -> '.join((*chain, key))}.",
            "Remove one of the include-group entries.",
        )
    lines: list[str] = []
    for item in table[key]:
        if isinstance(item, str):
            lines.append(item.strip())
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            lines += _group(table, item["include-group"], path, (*chain, key))
        else:
            raise PipmodelsError(
                f"{path}: [dependency-groups] {key} holds {item!r}, which is neither a "
                "requirement nor an include-group table.",
                "Fix the file.",
            )
    return lines


def _named(text: str) -> str | None:
    match = _NAME.match(text)
    return canonical_name(match.group(1)) if match else None


def _line_number(raw: str, text: str) -> int:
    """Where the requirement is written, for messages; 1 when it cannot be told."""
    for number, line in enumerate(raw.splitlines(), 1):
        if text in line:
            return number
    return 1


def _declared(table: Mapping[str, Any], name: str, path: Path, what: str, option: str) -> str:
    """The key of ``table`` that ``name`` spells (names compare normalised), or an error that
    lists what ``path`` declares."""
    key = next((k for k in table if canonical_name(k) == canonical_name(name)), None)
    if key is None:
        known = ", ".join(sorted(table)) or "none"
        raise PipmodelsError(
            f"{path} declares no {what} {name!r} (it declares: {known}).",
            f"Check the {option} name.",
        )
    return key
