"""One run's settings: what the user asked for on the command line, over ``[tool.pipmodels]``,
over the defaults. Plain values only; nothing here reads the inputs or the network."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from pipmodels import engines
from pipmodels.cache import DEFAULT_DIRNAME
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import LOCK_NAME

DEFAULT_SOURCE = Path("requirements.in")
# What compile writes: requirements.txt, or a PEP 751 lock (see pipmodels.pylock)
REQUIREMENTS, PYLOCK = "requirements", "pylock"
FORMATS = (REQUIREMENTS, PYLOCK)
DEFAULT_FORMAT = REQUIREMENTS


@dataclass(frozen=True)
class Options:
    sources: tuple[Path, ...] = (DEFAULT_SOURCE,)
    models_files: tuple[Path, ...] = ()
    cache_dir: Path | None = None
    output: Path | None = None
    hashes: bool = True
    env_file: Path | None = None
    jobs: int = 4
    upgrade: bool = False
    python_executable: str | None = None
    allow_system: bool = False
    compile_args: tuple[str, ...] = ()
    sync_args: tuple[str, ...] = ()
    dry_run: bool = False
    spacy_check: bool = True  # refuse a model whose meta.json does not admit the spaCy pinned
    mirror: str | None = None  # a team mirror asked before each model's origin
    engine: str = engines.DEFAULT  # what compiles and syncs; see pipmodels.engines
    # What the header names besides the fields above, so that it reproduces the lock
    header_args: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()  # a pyproject.toml's optional dependencies to include
    groups: tuple[str, ...] = ()  # a pyproject.toml's dependency groups to include
    format: str = DEFAULT_FORMAT

    @property
    def output_path(self) -> Path:
        if self.output is not None:
            return self.output
        first = self.sources[0]
        if self.format == PYLOCK:
            return first.parent / "pylock.toml"
        return (
            first.with_suffix(".txt")
            if first.suffix == ".in"
            else first.parent / "requirements.txt"
        )

    @property
    def upgrades(self) -> bool:
        """Whether this run asks the index for newer versions (--upgrade, --upgrade-package, or
        either among the engine's arguments): no record of an earlier run can answer it."""
        return self.upgrade or any(
            arg in ("-U", "--upgrade", "-P", "--upgrade-package")
            or arg.startswith(("--upgrade=", "--upgrade-package=", "-P"))
            for arg in self.compile_args
        )

    @property
    def cache_path(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return self.sources[0].parent / DEFAULT_DIRNAME

    @property
    def env_file_path(self) -> Path | None:
        """``--env-file``, else a ``.env`` beside the first input when one exists."""
        if self.env_file is not None:
            return self.env_file
        beside = self.sources[0].parent / ".env"
        return beside if beside.is_file() else None

    @property
    def header_command(self) -> str:
        """The command pip-compile's header names for regenerating requirements.txt."""
        words = ["pipmodels", "compile"]
        for path in self.models_files:
            words += ["-m", str(path)]
        if not self.hashes:
            words.append("--no-generate-hashes")
        if not self.spacy_check:
            words.append("--no-spacy-check")
        if self.output is not None:
            words += ["-o", str(self.output)]
        words += self.header_args
        if self.sources != (DEFAULT_SOURCE,):
            words += [str(s) for s in self.sources]
        return shlex.join(words)


@dataclass(frozen=True)
class CommandLine:
    """The values a download, compile or sync command line can carry; None: not given."""

    sources: tuple[Path, ...] = ()
    models_files: tuple[Path, ...] = ()
    cache_dir: Path | None = None
    env_file: Path | None = None
    jobs: int | None = None
    upgrade: bool = False
    output: Path | None = None
    hashes: bool | None = None
    upgrade_packages: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    resolver: str | None = None
    pip_args: str | None = None
    dry_run: bool = False
    python_executable: str | None = None
    allow_system: bool = False
    spacy_check: bool | None = None
    quiet: bool = False  # read by the fast entry point only; the CLI sets the console level
    mirror: str | None = None
    engine: str | None = None
    format: str | None = None


def resolve(given: CommandLine, project: dict[str, object]) -> Options:
    """Command-line values over [tool.pipmodels] (``project``, from config.load) over defaults."""
    configured = str(project.get("engine", engines.DEFAULT))
    engine = engines.get(given.engine or configured)
    prefix = engine.config_prefix
    compile_args = [
        *_strings(project.get(f"{prefix}-compile-args")),
        *(["--upgrade"] if given.upgrade else []),
    ]
    for package in given.upgrade_packages:
        compile_args += ["--upgrade-package", package]
    for extra in given.extras:
        compile_args += ["--extra", extra]
    sync_args = _strings(project.get(f"{prefix}-sync-args"))
    _refuse(engine, given)
    if given.resolver:
        compile_args.append(f"--resolver={given.resolver}")
    if given.pip_args:
        compile_args += ["--pip-args", given.pip_args]
        sync_args += ["--pip-args", given.pip_args]
    hashes = project.get("generate-hashes", True) if given.hashes is None else given.hashes
    output_format = _format(given, project.get("format"), hashes=bool(hashes))
    return Options(
        sources=given.sources or tuple(_paths(project.get("sources"))) or (DEFAULT_SOURCE,),
        models_files=given.models_files or tuple(_paths(project.get("models"))),
        cache_dir=given.cache_dir or _path(project.get("cache-dir")),
        output=given.output,
        hashes=bool(hashes),
        env_file=given.env_file or _path(project.get("env-file")),
        jobs=given.jobs or int(project.get("jobs", 4)),  # type: ignore[call-overload]
        upgrade=given.upgrade,
        python_executable=given.python_executable,
        allow_system=given.allow_system,
        compile_args=tuple(compile_args),
        sync_args=tuple(sync_args),
        dry_run=given.dry_run,
        spacy_check=bool(
            project.get("spacy-check", True) if given.spacy_check is None else given.spacy_check
        ),
        mirror=given.mirror or _string(project.get("mirror")),
        engine=engine.name,
        header_args=_header_args(given, engine.name, configured),
        extras=given.extras,
        groups=given.groups,
        format=output_format,
    )


def _format(given: CommandLine, configured: object, *, hashes: bool) -> str:
    """``--format``, else pylock when -o names a lock, else ``format`` in [tool.pipmodels]."""
    named_lock = given.output is not None and bool(LOCK_NAME.match(given.output.name))
    chosen = given.format or (PYLOCK if named_lock else None) or configured or DEFAULT_FORMAT
    if chosen not in FORMATS:
        raise PipmodelsError(
            f"[tool.pipmodels] format is {chosen!r}.", f"Use one of: {', '.join(FORMATS)}."
        )
    if given.output is not None and named_lock != (chosen == PYLOCK):
        raise PipmodelsError(
            f"-o {given.output} and the {chosen} format disagree: a PEP 751 lock is named "
            "pylock.toml or pylock.NAME.toml, and only a lock is.",
            "Write the lock as -o pylock.toml (or pylock.NAME.toml), or requirements to "
            "another name.",
        )
    if chosen == PYLOCK and not hashes:
        raise PipmodelsError(
            "A PEP 751 lock records every file with its hash; --no-generate-hashes (or "
            "generate-hashes = false) leaves them out.",
            "Leave hashes on for --format pylock.",
        )
    return str(chosen)


def _header_args(given: CommandLine, engine: str, configured: str) -> tuple[str, ...]:
    """The options that change what requirements.txt holds and that pyproject.toml does not
    give: with them, the command in the header compiles the same lock on another machine."""
    words = ["--engine", engine] if engine != configured else []
    if given.format and given.output is None:
        words += ["--format", given.format]
    for extra in given.extras:
        words += ["--extra", extra]
    for group in given.groups:
        words += ["--group", group]
    if given.resolver:
        words.append(f"--resolver={given.resolver}")
    if given.pip_args:
        words += ["--pip-args", given.pip_args]
    return tuple(words)


def _refuse(engine: engines.Engine, given: CommandLine) -> None:
    """Options of the command line that the engine has no counterpart for."""
    for field_name, flag in engine.refused_options.items():
        if getattr(given, field_name):
            raise PipmodelsError(
                f"{flag} is a pip-tools option; --engine {engine.name} has no counterpart.",
                f"Leave it out, or give {engine.name}'s own options in "
                f"{engine.config_prefix}-compile-args and {engine.config_prefix}-sync-args "
                "under [tool.pipmodels].",
            )


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _paths(value: object) -> list[Path]:
    return [Path(v) for v in value] if isinstance(value, list) else []


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _path(value: object) -> Path | None:
    return Path(value) if isinstance(value, (str, Path)) else None
