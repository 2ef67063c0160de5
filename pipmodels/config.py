"""``[tool.pipmodels]`` in pyproject.toml: project defaults that command-line options override.

[tool.pipmodels]
cache-dir = ".pipmodels-cache"
models = ["requirements-models.txt"]
sources = ["requirements.in"]
generate-hashes = true
pip-compile-args = ["--strip-extras"]
pip-sync-args = []
spacy-check = true
mirror = "https://pypi.example.com/team/models/+simple/"
engine = "pip-tools"          # or "uv"
format = "requirements"       # or "pylock": a PEP 751 pylock.toml
uv-compile-args = []          # used instead of pip-compile-args with the uv engine
uv-sync-args = []
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipmodels import engines
from pipmodels.errors import PipmodelsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {
    "cache-dir": str,
    "models": list,
    "sources": list,
    "generate-hashes": bool,
    "env-file": str,
    "jobs": int,
    "spacy-check": bool,
    "mirror": str,
    "engine": str,
    "format": str,
    **engines.config_keys(),  # pip-compile-args, uv-sync-args, ...
}
PATH_KEYS = ("cache-dir", "models", "sources", "env-file")


def load(pyproject: Path) -> dict[str, Any]:
    """The table's values, paths made relative to the pyproject's folder; {} when absent."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PipmodelsError(f"Cannot read {pyproject}: {exc}.", "Fix the TOML.") from None
    table = data.get("tool", {}).get("pipmodels", {})
    settings: dict[str, Any] = {}
    for key, value in table.items():
        expected = KEYS.get(key)
        if expected is None:
            raise PipmodelsError(
                f"{pyproject}: [tool.pipmodels] has no setting {key!r}.",
                f"Use one of: {', '.join(KEYS)}.",
            )
        wrong_items = isinstance(value, list) and not all(isinstance(v, str) for v in value)
        if not isinstance(value, expected) or wrong_items:
            raise PipmodelsError(
                f"{pyproject}: [tool.pipmodels] {key} should be a {expected.__name__}"
                + (" of strings" if expected is list else "")
                + ".",
                "Fix the value.",
            )
        settings[key] = _relative_paths(key, value, pyproject.parent)
    return settings


def _relative_paths(key: str, value: Any, base: Path) -> Any:
    if key not in PATH_KEYS:
        return value
    if isinstance(value, list):
        return [_join(base, v) for v in value]
    return _join(base, value)


def _join(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() or base == Path(".") else base / path
