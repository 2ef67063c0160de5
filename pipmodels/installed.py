"""What is installed in the environment being synced, and whether it is safe to sync.

One look at the target interpreter (in this process when it is our own, else one child) gives
its import path, whether it is a virtual environment, and its distributions.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipmodels import pipcommands
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name

if TYPE_CHECKING:
    from pipmodels.context import Context

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# The marker of an extra's requirement, as wheels write it: extra == "uv" (or 'uv').
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Installed:
    version: str
    requires: tuple[str, ...]
    direct: str | None = None  # the file or URL pip installed it from, with its hash


@dataclass(frozen=True)
class Target:
    """An interpreter's environment as pip-sync will see it."""

    python: str | None  # None: the interpreter running pipmodels
    search_path: list[str]
    is_virtual: bool
    packages: dict[str, Installed]

    @property
    def shown(self) -> str:
        return self.python or "this environment"


def describe(python: str | None, ctx: Context) -> Target:
    if python is None or python == sys.executable:
        # The very function the target interpreter runs, here without a child.
        namespace: dict[str, Any] = {}
        exec(pipcommands.DESCRIBE_ENVIRONMENT, namespace)
        raw: dict[str, Any] = namespace["describe_environment"]()
    else:
        result = ctx.run(
            pipcommands.describe_python(python),
            what=f"Asking {python} what it has installed",
            hint="Check that --python-executable names a working Python.",
        )
        raw = json.loads(result.output.strip().splitlines()[-1])
    packages = {
        canonical_name(k): Installed(v[0], tuple(v[1]), v[2] if len(v) > 2 else None)
        for k, v in raw["distributions"].items()
    }
    folders = [e for e in raw["path"] if e and os.path.isdir(e)]
    return Target(python, folders, raw["prefix"] != raw["base_prefix"], packages)


def refuse_system_python(target: Target, allowed: bool) -> None:
    """pip-sync removes every package that requirements.txt does not list: in a Python that is
    not a virtual environment that means the system's own packages."""
    if target.is_virtual or allowed:
        return
    raise PipmodelsError(
        f"{target.shown} is not a virtual environment: syncing it would uninstall every package "
        f"requirements.txt does not list ({len(target.packages)} installed there now).",
        "Create a virtual environment (python -m venv .venv) and sync that, or pass "
        "--allow-system if you really mean to sync this Python.",
    )


def closure(root: str, packages: Mapping[str, Installed]) -> dict[str, str]:
    """``root``, the extras it was installed with, and what they need, as installed:
    {canonical name: version}.

    An installed distribution does not record which extras it was installed with; an extra
    counts as installed when every distribution it names is (``pip install 'pipmodels[uv]'``
    put uv there). Extras of what ``root`` needs are not followed: their packages are only
    kept when something kept needs them.
    """
    found: dict[str, str] = {}
    todo = [canonical_name(root)]
    if todo[0] in packages:
        todo += installed_extras_needs(packages[todo[0]].requires, packages)
    while todo:
        name = todo.pop()
        if name in found or name not in packages:
            continue
        found[name] = packages[name].version
        for requirement in packages[name].requires:
            if _EXTRA.search(requirement):
                continue
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                todo.append(canonical_name(match.group(1)))
    return found


def installed_extras_needs(requires: Sequence[str], packages: Mapping[str, Installed]) -> list[str]:
    """The distributions named by each extra in ``requires`` whose distributions are all
    installed."""
    extras: dict[str, list[str]] = {}
    for requirement in requires:
        extra, match = _EXTRA.search(requirement), _REQUIREMENT_NAME.match(requirement)
        if extra and match:
            extras.setdefault(extra.group(1), []).append(canonical_name(match.group(1)))
    return [
        name for names in extras.values() if all(n in packages for n in names) for name in names
    ]
