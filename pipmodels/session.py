"""One run: its options, the inputs they name, the cache, and the context every step shares.

Kept light: a no-op ``pipmodels sync`` needs this module and little else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipmodels import statedir
from pipmodels.cache import Cache
from pipmodels.context import Context
from pipmodels.credentials import (
    Redactor,
    child_environment,
    env_var_names,
    expand,
    load_env_file,
    strip_userinfo,
)
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import (
    FIND_LINKS_OPTIONS,
    LOCATION_OPTIONS,
    Inputs,
    expand_or_fail,
    gather,
    location_credentials,
)
from pipmodels.options import DEFAULT_SOURCE, Options
from pipmodels.reqfile import URL_START, Line, split_option

NO_KEY_HINT = " Without it, a team mirror that holds the models will do (--mirror URL)."


def check_output_path(output: Path) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    problem = None
    if output.is_dir():
        problem = "is a folder"
    elif not output.parent.is_dir():
        problem = "is in a folder that does not exist"
    if problem:
        raise PipmodelsError(
            f"The output file {output} {problem}.",
            "Give -o a file path in an existing folder.",
        )


@dataclass
class Session:
    """Everything one run works with, loaded once."""

    options: Options
    inputs: Inputs
    cache: Cache
    ctx: Context
    env_file: Path | None  # where ${VAR} values were looked for besides the environment

    @classmethod
    @contextlib.contextmanager
    def open(cls, options: Options) -> Iterator[Session]:
        """The session, its private run folder removed at the end however the run ends."""
        session = cls.load(options)
        try:
            yield session
        finally:
            session.ctx.close()

    @classmethod
    def load(cls, options: Options) -> Session:
        sources = list(options.sources)
        if options.models_files and sources == [DEFAULT_SOURCE] and not DEFAULT_SOURCE.exists():
            sources = []  # `pipmodels download -m models.txt` needs no requirements.in
        inputs = gather(
            sources, list(options.models_files), extras=options.extras, groups=options.groups
        )
        env_file = options.env_file_path
        env_values = load_env_file(env_file) if env_file is not None else {}
        environ = child_environment(env_values)
        redactor = Redactor()
        redactor.add(env_values.values())
        for parsed in inputs.files:
            for line in parsed.lines:
                redactor.add(environ[n] for n in env_var_names(line.text) if n in environ)
                redactor.add_urls(expand(line.text, environ))
        # A models file's locations serve downloads only: through a team mirror, a key left
        # unset there matters only for a model the mirror lacks (see mirror.require_origin).
        models_only = [f for f in inputs.models_tree if f not in inputs.source_tree]
        strict = [f for f in inputs.files if f not in models_only]
        credentials = location_credentials(strict, environ, env_file)
        credentials += location_credentials(
            models_only,
            environ,
            env_file,
            skip_unset=bool(options.mirror),
            unset_hint=NO_KEY_HINT,
        )
        ctx = Context.create(environ, redactor, credentials)
        check_output_path(options.output_path)
        cache = Cache(options.cache_path, statedir.state_home(environ) / "locks")
        return cls(options, inputs, cache, ctx, env_file)

    def expand(self, text: str, line: Line) -> str:
        """``text`` from ``line`` with ``${VAR}`` expanded; an unset variable is an error."""
        return expand_or_fail(text, self.ctx.base_environ, line, self.env_file)

    def portable_option(self, line: Line) -> str:
        """An option line for a requirements file elsewhere: ``${VAR}`` expanded, user-info
        removed (credentials travel by netrc), a relative ``-f`` path made absolute (pip reads
        it from the requirements file's folder)."""
        flag, value = split_option(line.text)
        if flag not in LOCATION_OPTIONS:
            return line.text
        value = strip_userinfo(self.expand(value, line))
        if flag in FIND_LINKS_OPTIONS and not URL_START.match(value):
            beside = line.path.parent / value
            if not Path(value).is_absolute() and beside.exists():
                value = str(beside.absolute())
        return f"{flag} {value}"

    def find_links_pages(self) -> list[str]:
        """The find-links pages the requirement sources name, ready for pip-sync's command
        line: a package they provide is installed from there, as pip-compile found it."""
        pages = []
        for parsed in self.inputs.source_tree:
            for line in parsed.options:
                if split_option(line.text)[0] in FIND_LINKS_OPTIONS:
                    pages.append(split_option(self.portable_option(line))[1])
        return pages

    def warn_about_exposed_credentials(self) -> None:
        """Advice, never an error: a .env that git would commit, a key written out in a file."""
        from pipmodels import console
        from pipmodels.credentials import URL_USERINFO, redact_url

        for parsed in self.inputs.files:
            for line in parsed.lines:
                if any(
                    redact_url(m.group(0)) != m.group(0) for m in URL_USERINFO.finditer(line.text)
                ):
                    console.warn(
                        f"{line.where} holds a credential written out; write it as ${{VAR}} "
                        "(https://${PRODIGY_KEY}@host) and keep the value in the environment or "
                        "a git-ignored .env."
                    )
        if self.env_file is not None and not self._git_ignores(self.env_file):
            console.warn(
                f"{self.env_file} is not ignored by git: add it to .gitignore so that the keys "
                "in it are never committed."
            )

    def _git_ignores(self, path: Path) -> bool:
        """True unless ``path`` is in a git work tree that does not ignore it."""
        folder = path.absolute().parent
        if not any((p / ".git").exists() for p in (folder, *folder.parents)):
            return True
        try:
            result = self.ctx.run(
                ["git", "-C", str(folder), "check-ignore", "-q", path.name],
                what="git check-ignore",
                ok=(0, 1, 128),
            )
        except PipmodelsError:
            return True  # no git here: nothing will commit the file
        return result.returncode != 1
