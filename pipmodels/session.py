"""One run: its options, the inputs they name, the cache, and the context every step shares.

Kept light: a no-op ``pipmodels sync`` needs this module and little else.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipmodels import statedir
from pipmodels.cache import Cache
from pipmodels.context import Context
from pipmodels.credentials import Redactor, child_environment, env_var_names, load_env_file
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import FIND_LINKS_OPTIONS, Inputs, gather, model_location, resolve_locations
from pipmodels.locations import FIND_LINKS, Location, resolve_literal
from pipmodels.options import DEFAULT_SOURCE, Options
from pipmodels.reqfile import URL_START, Line, ReqLine, split_option

# An index or find-links line as pip-compile and pipmodels write them into requirements.txt.
COMPILED_LOCATION = re.compile(
    r"^(-i|--index-url|--extra-index-url|-f|--find-links)([ \t]+|=)(\S+)[ \t]*$", re.M
)
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
    # Each index and find-links line of the inputs, resolved once; or why not (a
    # variable left unset where a team mirror may make it unneeded).
    locations: dict[Line, Location | PipmodelsError]

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
                redactor.add_urls(line.text)  # keys written out in the line itself
        if options.mirror:
            redactor.add_urls(options.mirror)
        # A models file's locations serve downloads only: through a team mirror, a key left
        # unset there matters only for a model the mirror lacks (see mirror.require_origin).
        models_only = [f for f in inputs.models_tree if f not in inputs.source_tree]
        strict = [f for f in inputs.files if f not in models_only]
        locations = resolve_locations(strict, environ, env_file)
        locations.update(
            resolve_locations(
                models_only,
                environ,
                env_file,
                defer_unset=bool(options.mirror),
                unset_hint=NO_KEY_HINT,
            )
        )
        resolved = [loc for loc in locations.values() if isinstance(loc, Location)]
        ctx = Context.create(environ, redactor, resolved)
        check_output_path(options.output_path)
        cache = Cache(options.cache_path, statedir.state_home(environ) / "locks")
        return cls(options, inputs, cache, ctx, env_file, locations)

    def location(self, line: Line) -> Location:
        """The resolved location of an index or find-links line."""
        found = self.locations[line]
        if isinstance(found, PipmodelsError):
            raise found
        return found

    def model_location(self, req: ReqLine) -> Location:
        """A model URL's location, resolved now that it is to be downloaded (its key, known
        to the redactor, goes with that one download)."""
        location = model_location(req, self.ctx.base_environ, self.env_file)
        credential = self.ctx.keyring_credential(location)
        if credential is not None:
            self.ctx.redactor.add_credential(credential)
        return replace(location, credential=credential)

    def child_option(self, line: Line) -> str:
        """An option line for a requirements file that pip, pip-tools or uv read: no
        user-info, a keyed origin through the gateway, a relative ``-f`` path made absolute
        (pip reads it from the requirements file's folder)."""
        return self._option(line, child=True)

    def public_option(self, line: Line) -> str:
        """An option line as requirements.txt may carry it: no user-info, the real origin."""
        return self._option(line, child=False)

    def _option(self, line: Line, *, child: bool) -> str:
        if line not in self.locations:
            return line.text
        flag = split_option(line.text)[0]
        value = self.location(line).public
        if child:
            value = self.ctx.child_url(value)
        if flag in FIND_LINKS_OPTIONS and not URL_START.match(value):
            beside = line.path.parent / value
            if not Path(value).is_absolute() and beside.exists():
                value = str(beside.absolute())
        return f"{flag} {value}"

    def child_requirements(self, text: str) -> str:
        """A compiled requirements text (requirements.txt) as pip-sync must read it: each index
        and find-links option without user-info, a keyed origin through the gateway."""

        def route(match: re.Match[str]) -> str:
            public = resolve_literal(FIND_LINKS, match.group(3), "requirements.txt").public
            return f"{match.group(1)} {self.ctx.child_url(public)}"

        return COMPILED_LOCATION.sub(route, text)

    def find_links_pages(self) -> list[str]:
        """The find-links pages the requirement sources name, as pip-sync must read them: a
        package they provide is installed from there, as pip-compile found it."""
        pages = []
        for parsed in self.inputs.source_tree:
            for line in parsed.options:
                if split_option(line.text)[0] in FIND_LINKS_OPTIONS:
                    pages.append(split_option(self.child_option(line))[1])
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
