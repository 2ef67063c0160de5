"""The engines that compile and sync, by name: the one registry of them.

The command line's ``--engine`` choice, the ``[tool.pipmodels]`` keys of each engine's own
arguments and the resolution of options all read this registry. A new engine is one module
that implements :class:`pipmodels.engines.base.Engine`, and one line in ``_ALL`` below.
"""

from __future__ import annotations

from pipmodels.engines import pip_tools, uv_pip
from pipmodels.engines.base import Command, Engine, Header
from pipmodels.errors import PipmodelsError

__all__ = ["DEFAULT", "NAMES", "Command", "Engine", "Header", "config_keys", "get"]

_ALL: tuple[Engine, ...] = (pip_tools.ENGINE, uv_pip.ENGINE)
_BY_NAME = {engine.name: engine for engine in _ALL}
NAMES = tuple(_BY_NAME)
DEFAULT = pip_tools.ENGINE.name


def get(name: str) -> Engine:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise PipmodelsError(
            f"There is no engine {name!r}.", f"Choose one of: {', '.join(NAMES)}."
        ) from None


def config_keys() -> dict[str, type]:
    """Each engine's ``[tool.pipmodels]`` keys for its own compile and sync arguments."""
    keys: dict[str, type] = {}
    for engine in _ALL:
        keys[f"{engine.config_prefix}-compile-args"] = list
        keys[f"{engine.config_prefix}-sync-args"] = list
    return keys


def settings_prefixes() -> tuple[str, ...]:
    """The environment variables through which any engine's settings can change a result."""
    return tuple(engine.settings_prefix for engine in _ALL)
