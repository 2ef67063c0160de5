"""The command-line grammar of download, compile, sync, publish and add, declared once.

Each option is written here once: its flags, the ``CommandLine`` field it fills, its
environment variable, whether it takes a value, its help, and which commands carry it. Two
readers are built from this table and cannot drift apart: the click decorators of
:mod:`pipmodels.clioptions`, and :func:`parse`, the reader of :mod:`pipmodels.entry` that lets a
no-op ``pipmodels sync`` answer before click is imported. This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipmodels import engines

DOWNLOAD, COMPILE, SYNC, PUBLISH, ADD = "download", "compile", "sync", "publish", "add"
_COMMON = frozenset({DOWNLOAD, COMPILE, SYNC, PUBLISH})
_COMPILING = frozenset({COMPILE, SYNC})

# How an option's words become a value.
PATH, TEXT, INT, CHOICE = "path", "text", "int", "choice"  # each takes a value
FLAG, COUNT, SWITCH = "flag", "count", "switch"  # -q; -v -v; --x/--no-x


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    field: str  # the CommandLine field (click's parameter name)
    kind: str
    help: str
    commands: frozenset[str]
    envvar: str | None = None
    multiple: bool = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    off_flags: tuple[str, ...] = ()  # SWITCH: the flags that turn it off
    no_op: bool = True  # False: asking for it is asking for work (--check)

    @property
    def takes_value(self) -> bool:
        return self.kind in (PATH, TEXT, INT, CHOICE)


OPTIONS: tuple[Option, ...] = (
    Option(
        ("-m", "--models"),
        "models_files",
        PATH,
        "A requirements file whose every requirement is a model to cache "
        "(its -f, -i and ${VAR} lines work as for pip). Repeatable.",
        _COMMON | {ADD},
        multiple=True,
    ),
    Option(
        ("--cache-dir",),
        "cache_dir",
        PATH,
        "The model cache folder [env PIPMODELS_CACHE_DIR; default .pipmodels-cache beside the "
        "first input].",
        _COMMON | {ADD},
        envvar="PIPMODELS_CACHE_DIR",
    ),
    Option(
        ("--env-file",),
        "env_file",
        PATH,
        "A NAME=value file for ${VAR} credentials [default: .env beside the first input, when "
        "present].",
        _COMMON | {ADD},
    ),
    Option(
        ("--mirror",),
        "mirror",
        TEXT,
        "A team mirror (a simple index, or a find-links page ending in .html) asked for each "
        "model the cache lacks before its origin [env PIPMODELS_MIRROR].",
        _COMMON,
        envvar="PIPMODELS_MIRROR",
        metavar="URL",
    ),
    Option(("-j", "--jobs"), "jobs", INT, "Models downloaded at once [default: 4].", _COMMON),
    Option(
        ("-U", "--upgrade"),
        "upgrade",
        FLAG,
        "Resolve version ranges of models again, and pass --upgrade to pip-compile.",
        _COMMON,
    ),
    Option(
        ("-v", "--verbose"),
        "verbose",
        COUNT,
        "Show the commands run and their output.",
        _COMMON | {ADD},
    ),
    Option(("-q", "--quiet"), "quiet", FLAG, "Print errors only.", _COMMON | {ADD}),
    Option(
        ("-o", "--output-file"),
        "output",
        PATH,
        "Where to write the pins [default: requirements.txt beside the first input].",
        _COMPILING,
    ),
    Option(
        ("--generate-hashes",),
        "hashes",
        SWITCH,
        "Pin every package with its sha256 [default: on].",
        _COMPILING | {ADD},
        off_flags=("--no-generate-hashes",),
    ),
    Option(
        ("-P", "--upgrade-package"),
        "upgrade_packages",
        TEXT,
        "Passed to pip-compile: upgrade this package. Repeatable.",
        _COMPILING,
        multiple=True,
    ),
    Option(
        ("--extra",),
        "extras",
        TEXT,
        "Include these optional dependencies of a pyproject.toml input. Repeatable.",
        _COMPILING,
        multiple=True,
    ),
    Option(
        ("--group",),
        "groups",
        TEXT,
        "Include this dependency group of a pyproject.toml input. Repeatable.",
        _COMPILING,
        multiple=True,
    ),
    Option(
        ("--resolver",),
        "resolver",
        CHOICE,
        "Passed to pip-compile.",
        _COMPILING,
        choices=("backtracking", "legacy"),
    ),
    Option(
        ("--check",),
        "check",
        FLAG,
        "Change nothing; exit 1 when requirements.txt is out of date with its inputs (or, for "
        "sync, the environment with requirements.txt), naming what differs.",
        _COMPILING,
        no_op=False,
    ),
    Option(
        ("--dry-run",),
        "dry_run",
        FLAG,
        "Fill the cache, but write and install nothing: show what would change.",
        _COMPILING,
    ),
    Option(
        ("--pip-args",),
        "pip_args",
        TEXT,
        "Extra arguments for pip, passed to pip-compile and pip-sync.",
        _COMPILING,
    ),
    Option(
        ("--spacy-check",),
        "spacy_check",
        SWITCH,
        "Refuse to compile when a model's meta.json does not admit the spaCy version that "
        "requirements.txt pins [default: on].",
        _COMPILING | {ADD},
        off_flags=("--no-spacy-check",),
    ),
    Option(
        ("--engine",),
        "engine",
        CHOICE,
        "What compiles and syncs: pip-tools, or uv (pip install 'pipmodels[uv]') [env "
        "PIPMODELS_ENGINE; default: pip-tools, or engine in [tool.pipmodels]].",
        _COMPILING | {ADD},
        envvar="PIPMODELS_ENGINE",
        choices=engines.NAMES,
    ),
    Option(
        ("--format",),
        "format",
        CHOICE,
        "What to write: requirements (requirements.txt) or pylock (a PEP 751 pylock.toml) "
        "[default: pylock when -o names pylock.toml or pylock.NAME.toml, else format in "
        "[tool.pipmodels], else requirements].",
        _COMPILING,
        choices=("requirements", "pylock"),
    ),
    Option(
        ("--python-executable",),
        "python_executable",
        TEXT,
        "Sync this Python's environment instead of this one.",
        frozenset({SYNC, ADD}),
    ),
    Option(
        ("--allow-system",),
        "allow_system",
        FLAG,
        "Sync a Python that is not a virtual environment (pip-sync removes every package "
        "requirements.txt does not list).",
        frozenset({SYNC, ADD}),
    ),
)


def options_of(command: str) -> list[Option]:
    return [option for option in OPTIONS if command in option.commands]


def parse(command: str, args: Sequence[str], environ: Mapping[str, str]) -> dict[str, object]:
    """``args`` of ``command`` as click would give them to the command's function (sources
    included); raises ValueError for anything this reader leaves to click: an unknown or
    combined short option, a missing or invalid value, ``--``, or an option asking for work."""
    table = options_of(command)
    by_flag = {flag: o for o in table for flag in o.flags}
    off = {flag: o for o in table for flag in o.off_flags}
    values: dict[str, object] = {}
    sources: list[Path] = []
    words = iter(args)
    for word in words:
        flag, equals, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag in off and not equals:
            values[off[flag].field] = False
            continue
        option = by_flag.get(flag)
        if option is None:
            if word.startswith("-"):
                raise ValueError(word)
            sources.append(Path(word))
            continue
        if not option.no_op:
            raise ValueError(word)
        if not option.takes_value:
            if equals:
                raise ValueError(word)
            _set_flag(values, option)
            continue
        value = inline if equals else next(words, None)
        if value is None:
            raise ValueError(word)
        _set_value(values, option, value)
    for option in table:
        from_env = environ.get(option.envvar or "")
        if option.field not in values and from_env:
            _set_value(values, option, from_env)
    return {**_defaults(table), "sources": tuple(sources), **values}


def _set_flag(values: dict[str, object], option: Option) -> None:
    if option.kind == COUNT:
        count = values.get(option.field, 0)
        values[option.field] = (count if isinstance(count, int) else 0) + 1
    else:
        values[option.field] = True


def _set_value(values: dict[str, object], option: Option, word: str) -> None:
    value: object
    if option.kind == PATH:
        value = Path(word)
    elif option.kind == INT:
        value = int(word)  # ValueError: click says why
    elif option.kind == CHOICE and word not in option.choices:
        raise ValueError(word)  # click names the choices
    else:
        value = word
    if option.multiple:
        previous = values.get(option.field, ())
        values[option.field] = (*(previous if isinstance(previous, tuple) else ()), value)
    else:
        values[option.field] = value


def _defaults(table: Sequence[Option]) -> dict[str, object]:
    """What click gives for an option not on the command line."""
    defaults: dict[str, object] = {}
    for option in table:
        if option.multiple:
            defaults[option.field] = ()
        elif option.kind == FLAG:
            defaults[option.field] = False
        elif option.kind == COUNT:
            defaults[option.field] = 0
        else:
            defaults[option.field] = None
    return defaults
