"""What is installed in the environment being synced."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipmodels import runner
from pipmodels.credentials import Redactor

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


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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
    return {canonical(k): Installed(v[0], tuple(v[1])) for k, v in raw.items()}


def closure(root: str, packages: Mapping[str, Installed]) -> dict[str, str]:
    """``root`` and what it needs, as installed: {canonical name: version}."""
    found: dict[str, str] = {}
    todo = [canonical(root)]
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
                todo.append(canonical(match.group(1)))
    return found
