"""The options that download, compile, sync and publish share, as click decorators."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _apply(func: F, decorators: list[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def common_options(func: F) -> F:
    return _apply(
        func,
        [
            click.argument("sources", nargs=-1, type=click.Path(path_type=Path)),
            click.option(
                "-m",
                "--models",
                "models_files",
                multiple=True,
                type=click.Path(path_type=Path),
                help="A requirements file whose every requirement is a model to cache "
                "(its -f, -i and ${VAR} lines work as for pip). Repeatable.",
            ),
            click.option(
                "--cache-dir",
                type=click.Path(path_type=Path),
                envvar="PIPMODELS_CACHE_DIR",
                help="The model cache folder [env PIPMODELS_CACHE_DIR; default "
                ".pipmodels-cache beside the first input].",
            ),
            click.option(
                "--env-file",
                type=click.Path(path_type=Path),
                help="A NAME=value file for ${VAR} credentials [default: .env beside the "
                "first input, when present].",
            ),
            click.option(
                "--mirror",
                envvar="PIPMODELS_MIRROR",
                metavar="URL",
                help="A team mirror (a simple index, or a find-links page ending in .html) asked "
                "for each model the cache lacks before its origin [env PIPMODELS_MIRROR].",
            ),
            click.option("-j", "--jobs", type=int, help="Models downloaded at once [default: 4]."),
            click.option(
                "-U",
                "--upgrade",
                is_flag=True,
                help="Resolve version ranges of models again, and pass --upgrade to pip-compile.",
            ),
            click.option(
                "-v", "--verbose", count=True, help="Show the commands run and their output."
            ),
            click.option("-q", "--quiet", is_flag=True, help="Print errors only."),
        ],
    )


def compile_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "-o",
                "--output-file",
                "output",
                type=click.Path(path_type=Path),
                help="Where to write the pins [default: requirements.txt beside the first input].",
            ),
            click.option(
                "--generate-hashes/--no-generate-hashes",
                "hashes",
                default=None,
                help="Pin every package with its sha256 [default: on].",
            ),
            click.option(
                "-P",
                "--upgrade-package",
                "upgrade_packages",
                multiple=True,
                help="Passed to pip-compile: upgrade this package. Repeatable.",
            ),
            click.option(
                "--extra",
                "extras",
                multiple=True,
                help="Include these optional dependencies of a pyproject.toml input. Repeatable.",
            ),
            click.option(
                "--group",
                "groups",
                multiple=True,
                help="Include this dependency group of a pyproject.toml input. Repeatable.",
            ),
            click.option(
                "--resolver",
                type=click.Choice(["backtracking", "legacy"]),
                help="Passed to pip-compile.",
            ),
            click.option(
                "--check",
                is_flag=True,
                help="Change nothing; exit 1 when requirements.txt is out of date with its "
                "inputs (or, for sync, the environment with requirements.txt), naming what "
                "differs.",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Fill the cache, but write and install nothing: show what would change.",
            ),
            click.option(
                "--pip-args", help="Extra arguments for pip, passed to pip-compile and pip-sync."
            ),
            spacy_check_option,
            engine_option,
        ],
    )


engine_option = click.option(
    "--engine",
    type=click.Choice(["pip-tools", "uv"]),
    envvar="PIPMODELS_ENGINE",
    help="What compiles and syncs: pip-tools, or uv (pip install 'pipmodels[uv]') "
    "[env PIPMODELS_ENGINE; default: pip-tools, or engine in [tool.pipmodels]].",
)
spacy_check_option = click.option(
    "--spacy-check/--no-spacy-check",
    "spacy_check",
    default=None,
    help="Refuse to compile when a model's meta.json does not admit the spaCy version that "
    "requirements.txt pins [default: on].",
)
