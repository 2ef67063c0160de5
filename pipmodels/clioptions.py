"""The options of :mod:`pipmodels.grammar` as click decorators, for each command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pipmodels import grammar

F = TypeVar("F", bound=Callable[..., Any])


def _decorator(option: grammar.Option) -> Callable[[F], F]:
    settings: dict[str, Any] = {"help": option.help}
    if option.envvar:
        settings["envvar"] = option.envvar
    if option.metavar:
        settings["metavar"] = option.metavar
    if option.multiple:
        settings["multiple"] = True
    if option.kind == grammar.PATH:
        settings["type"] = click.Path(path_type=Path)
    elif option.kind == grammar.INT:
        settings["type"] = int
    elif option.kind == grammar.CHOICE:
        settings["type"] = click.Choice(option.choices)
    elif option.kind == grammar.FLAG:
        settings["is_flag"] = True
    elif option.kind == grammar.COUNT:
        settings["count"] = True
    flags = list(option.flags)
    if option.kind == grammar.SWITCH:
        flags = [f"{on}/{off}" for on, off in zip(option.flags, option.off_flags)]
        settings["default"] = None
    decorator: Callable[[F], F] = click.option(*flags, option.field, **settings)
    return decorator


def options_for(command: str, *, sources: bool = True) -> Callable[[F], F]:
    """The command's options from the one table, in its order; ``sources``: the inputs too."""
    decorators = [_decorator(option) for option in grammar.options_of(command)]
    if sources:
        argument = click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
        decorators.insert(0, argument)

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply
