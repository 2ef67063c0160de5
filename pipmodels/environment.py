"""What is installed in the environment being synced."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipmodels import runner
from pipmodels.credentials import Redactor
from pipmodels.reqfile import canonical_name

# Run inside the target interpreter, which may lack every third-party package.
_SCRIPT = r"""
import json, importlib.metadata as md
out = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        out[name] = [dist.version, dist.requires or []]
print(json.dumps(out))
"""
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Installed:
    version: str
    requires: tuple[str, ...]


def installed(
    python: str | None, *, env: Mapping[str, str], redactor: Redactor
) -> dict[str, Installed]:
    """Every distribution in ``python``'s environment, by canonical name."""
    if python is None or python == sys.executable:
        import importlib.metadata as md

        raw: dict[str, list[Any]] = {
            d.metadata["Name"]: [d.version, d.requires or []]
            for d in md.distributions()
            if d.metadata["Name"]
        }
    else:
        result = runner.run(
            [python, "-c", _SCRIPT],
            env=env,
            redactor=redactor,
            what=f"Listing the packages of {python}",
            hint="Check that --python-executable names a working Python.",
        )
        raw = json.loads(result.output.strip().splitlines()[-1])
    return {canonical_name(k): Installed(v[0], tuple(v[1])) for k, v in raw.items()}


def closure(root: str, packages: Mapping[str, Installed]) -> dict[str, str]:
    """``root`` and what it needs, as installed: {canonical name: version}."""
    found: dict[str, str] = {}
    todo = [canonical_name(root)]
    while todo:
        name = todo.pop()
        if name in found or name not in packages:
            continue
        found[name] = packages[name].version
        for requirement in packages[name].requires:
            if "extra ==" in requirement:
                continue
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                todo.append(canonical_name(match.group(1)))
    return found


def search_path(python: str | None, *, env: Mapping[str, str], redactor: Redactor) -> list[str]:
    """The folders ``python`` imports from, where its distributions are installed."""
    if python is None or python == sys.executable:
        entries = list(sys.path)
    else:
        result = runner.run(
            [python, "-c", "import json, sys; print(json.dumps(sys.path))"],
            env=env,
            redactor=redactor,
            what=f"Asking {python} where it installs packages",
            hint="Check that --python-executable names a working Python.",
        )
        entries = json.loads(result.output.strip().splitlines()[-1])
    return [e for e in entries if e and os.path.isdir(e)]


def distribution_folders(folders: list[str]) -> list[str]:
    """Every ``*.dist-info`` and ``*.egg-info`` in ``folders``: their names carry name and
    version, so listing them is a cheap way to see a package added, removed or changed."""
    found = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            names = ["<unreadable>"]
        found += [f"{folder}/{n}" for n in names if n.endswith((".dist-info", ".egg-info"))]
    return sorted(found)
