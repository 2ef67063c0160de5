"""The user's inputs: requirement sources, models files, and the models found in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipmodels.credentials import env_var_names, expand, redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.reqfile import Line, ReqLine, RequirementsFile, read_tree

# Direct references that name an archive pipmodels can cache; VCS URLs and local folders are
# left to pip-compile as written.
MODEL_SCHEMES = ("http://", "https://", "file:")


@dataclass(frozen=True)
class Model:
    """A requirement whose package must come from the cache."""

    req: ReqLine
    options: tuple[Line, ...] = ()  # -f/-i/--extra-index-url lines of its models file

    @property
    def shown(self) -> str:
        return redact_url(self.req.requirement)

    def source(self, environ: Mapping[str, str]) -> str:
        """What identifies this model's download: the expanded requirement and its indexes."""
        parts = [self.req.requirement, self.req.options, *(o.text for o in self.options)]
        url = self.url(environ)
        if url and url.startswith("file:"):
            parts.append(_stamp(local_path(url)))  # a rebuilt local archive is new
        return expand("\n".join(parts), environ)

    def url(self, environ: Mapping[str, str]) -> str | None:
        """The direct reference's URL with ``${VAR}`` expanded: keep it in memory only."""
        return expand(self.req.url, environ) if self.req.url else None


# Sources that pip-compile reads as a project (its dependencies), not as a requirements file.
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")


@dataclass(frozen=True)
class Inputs:
    sources: tuple[Path, ...]  # requirements files, as the user named them
    models_files: tuple[Path, ...]
    source_tree: tuple[RequirementsFile, ...]
    models_tree: tuple[RequirementsFile, ...]
    projects: tuple[Path, ...] = ()  # pyproject.toml and the like

    @property
    def files(self) -> tuple[RequirementsFile, ...]:
        return self.source_tree + self.models_tree

    def models(self, environ: Mapping[str, str]) -> list[Model]:
        """Every requirement whose archive goes into the cache, ``${VAR}`` expanded to decide."""
        found = [
            Model(req)
            for parsed in self.source_tree
            for req in parsed.requirements
            if is_model_reference(req, environ)
        ]
        for parsed in self.models_tree:
            for req in parsed.requirements:
                if req.url is not None and not is_model_reference(req, environ):
                    raise PipmodelsError(
                        f"{req.line.where}: a models file lists archives to cache; "
                        f"{redact_url(req.requirement)!r} is not one.",
                        "Move it to your requirements.in, or point it at a .whl, .tar.gz or .zip.",
                    )
                found.append(Model(req, tuple(parsed.options)))
        return found


def is_model_reference(req: ReqLine, environ: Mapping[str, str]) -> bool:
    if req.url is None:
        return False
    url = expand(req.url, environ)
    unset = env_var_names(url)
    if unset:
        raise PipmodelsError(
            f"{req.line.where}: {', '.join(unset)} is not set.",
            "Set it in the environment or in a .env file beside your inputs.",
        )
    return url.startswith(MODEL_SCHEMES) and _is_archive_url(url)


def _is_archive_url(url: str) -> bool:
    # GitHub release and Hugging Face URLs end with the archive's name; a download endpoint
    # whose path does not (".../download?id=1") is still worth trying: the archive check after
    # the download tells the user if it is not a package.
    return not url.startswith("file:") or not Path(url[len("file:") :]).is_dir()


def gather(sources: list[Path], models_files: list[Path]) -> Inputs:
    for path in models_files:
        if not path.is_file():
            raise PipmodelsError(
                f"The models file {path} does not exist.",
                "Check the -m/--models path, or create the file.",
            )
    projects = [s for s in sources if s.name in PROJECT_FILES]
    for project in projects:
        if not project.is_file():
            raise PipmodelsError(f"{project} does not exist.", "Check the path.")
    files = [s for s in sources if s not in projects]
    return Inputs(
        tuple(files),
        tuple(models_files),
        tuple(read_tree(files)),
        tuple(read_tree(models_files)) if models_files else (),
        tuple(projects),
    )


def local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def _stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"
