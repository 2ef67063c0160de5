"""One run's settings and what it works with: inputs, cache, environment, redactor.

Kept light: a no-op ``pipmodels sync`` needs this module and little else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipmodels.cache import DEFAULT_DIRNAME, Cache
from pipmodels.credentials import (
    Redactor,
    child_environment,
    env_var_names,
    expand,
    load_env_file,
)
from pipmodels.inputs import Inputs, gather

DEFAULT_SOURCE = Path("requirements.in")


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
    compile_args: tuple[str, ...] = ()
    sync_args: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def output_path(self) -> Path:
        if self.output is not None:
            return self.output
        first = self.sources[0]
        return (
            first.with_suffix(".txt")
            if first.suffix == ".in"
            else first.parent / "requirements.txt"
        )

    @property
    def cache_path(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return self.sources[0].parent / DEFAULT_DIRNAME


@dataclass
class Session:
    """Everything one run works with, loaded once."""

    options: Options
    inputs: Inputs
    cache: Cache
    environ: dict[str, str]
    redactor: Redactor

    @classmethod
    def open(cls, options: Options) -> Session:
        inputs = gather(list(options.sources), list(options.models_files))
        env_values = _env_file_values(options)
        environ = child_environment(env_values)
        redactor = Redactor()
        redactor.add(env_values.values())
        for parsed in inputs.files:
            for line in parsed.lines:
                redactor.add(environ[n] for n in env_var_names(line.text) if n in environ)
                redactor.add_url_userinfo(expand(line.text, environ))
        cache = Cache(options.cache_path)
        cache.ensure()
        return cls(options, inputs, cache, environ, redactor)


def _env_file_values(options: Options) -> dict[str, str]:
    """``--env-file``, else a ``.env`` beside the first input when one exists."""
    if options.env_file is not None:
        return load_env_file(options.env_file)
    beside = options.sources[0].parent / ".env"
    return load_env_file(beside) if beside.is_file() else {}
