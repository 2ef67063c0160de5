"""Warning when a model's name also exists on the package index.

Model names are unclaimed on the public index or held by placeholders (``en-core-web-trf``
999.9.9): an unpinned install elsewhere would take that package instead of the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from pipmodels import console, runner
from pipmodels.credentials import Redactor

_AVAILABLE = re.compile(r"^Available versions: (.+)$", re.M)


def index_versions(name: str, environ: Mapping[str, str], redactor: Redactor) -> list[str]:
    """The versions of ``name`` on the user's configured index (empty if none or unreachable)."""
    cmd = runner.python_module("pip", "index", "versions", "--pre", "--retries", "0", name)
    result = runner.run(cmd, env=environ, redactor=redactor, what="pip index", check=False)
    match = _AVAILABLE.search(result.output)
    return match.group(1).split(", ") if result.returncode == 0 and match else []


def warn_about_namesakes(
    names: Iterable[str], environ: Mapping[str, str], redactor: Redactor, *, jobs: int = 4
) -> None:
    names = sorted(set(names))
    if not names:
        return
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        found = list(pool.map(lambda n: index_versions(n, environ, redactor), names))
    for name, versions in zip(names, found):
        if versions:
            console.warn(
                f"{name} also exists on your package index (versions: {', '.join(versions)}). "
                "pipmodels pins it to the file in its cache; an install without that pin would "
                "take the index's package instead."
            )
