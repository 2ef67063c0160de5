"""The user's inputs: requirement sources, models files, and the models found in them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipmodels.credentials import (
    URL_USERINFO,
    env_var_names,
    expand,
    redact_url,
    strip_all_userinfo,
)
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import LOCK_NAME
from pipmodels.locations import (
    DIRECT,
    EXTRA_INDEX_URL,
    FIND_LINKS,
    INDEX_URL,
    Location,
    Unset,
    resolve,
)
from pipmodels.reqfile import (
    Line,
    ReqLine,
    RequirementsFile,
    read_one_tree,
    split_option,
)

if TYPE_CHECKING:
    from pipmodels.cache import Entry

# Direct references that name an archive pipmodels can cache; VCS URLs and local folders are
# left to pip-compile as written.
MODEL_SCHEMES = ("http://", "https://", "file:")
LOCATION_OPTIONS = ("-f", "--find-links", "-i", "--index-url", "--extra-index-url")
OPTION_KINDS = {
    "-f": FIND_LINKS,
    "--find-links": FIND_LINKS,
    "-i": INDEX_URL,
    "--index-url": INDEX_URL,
    "--extra-index-url": EXTRA_INDEX_URL,
}
INDEX_OPTIONS = ("-i", "--index-url", "--extra-index-url")
FIND_LINKS_OPTIONS = ("-f", "--find-links")
ANY_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
# spaCy's pipeline names (en_core_web_sm, de_dep_news_trf, xx_sent_ud_sm): on the public index
# these are unclaimed or 999.9.9 placeholder sdists, never the model.
SPACY_MODEL_NAME = re.compile(r"^[a-z]{2,3}-(core|dep|ent|sent)-[a-z0-9]+-(sm|md|lg|trf)$")


@dataclass(frozen=True)
class Model:
    """A requirement whose package must come from the cache."""

    req: ReqLine
    options: tuple[Line, ...] = ()  # -f/-i/--no-index lines of its models file's whole tree

    @property
    def shown(self) -> str:
        return redact_url(self.req.requirement)

    def source(self) -> str:
        """What identifies this model's download, free of any credential value: the line as
        written (``${VAR}`` names, not values) without user-info, and its tree's options."""
        parts = [self.req.requirement, self.req.options, *(o.text for o in self.options)]
        if self.req.url and self.req.url.startswith("file:"):
            parts.append(_stamp(local_path(self.req.url)))  # a rebuilt local archive is new
        return "\n".join(strip_all_userinfo(p) for p in parts)

    @property
    def public_url(self) -> str | None:
        """The direct reference's URL without its user-info, ``${VAR}`` there unexpanded."""
        return strip_all_userinfo(self.req.url) if self.req.url else None


@dataclass(frozen=True)
class Pin:
    """A model and the cached archive that satisfies it."""

    model: Model
    entry: Entry

    @property
    def text(self) -> str:
        return f"{self.entry.name}=={self.entry.version}"


# Sources that pip-compile reads as a project (its dependencies), not as a requirements file.
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class Inputs:
    sources: tuple[Path, ...]  # requirements files, as the user named them
    models_files: tuple[Path, ...]
    source_trees: tuple[tuple[RequirementsFile, ...], ...]  # one per source, as pip reads it
    models_trees: tuple[tuple[RequirementsFile, ...], ...]  # one per models file
    projects: tuple[Path, ...] = ()  # pyproject.toml and the like

    @property
    def source_tree(self) -> tuple[RequirementsFile, ...]:
        return _unique(f for tree in self.source_trees for f in tree)

    @property
    def models_tree(self) -> tuple[RequirementsFile, ...]:
        return _unique(f for tree in self.models_trees for f in tree)

    @property
    def files(self) -> tuple[RequirementsFile, ...]:
        return _unique((*self.source_tree, *self.models_tree))

    def models(self, environ: Mapping[str, str]) -> list[Model]:
        """Every requirement whose archive goes into the cache."""
        found = [
            Model(req, option_lines(tree))
            for tree in self.source_trees
            for parsed in tree
            for req in parsed.requirements
            if is_model_reference(req, environ)
        ]
        for tree in self.models_trees:
            options = option_lines(tree)
            for parsed in tree:
                for req in parsed.requirements:
                    found.append(Model(_models_file_requirement(req, environ), options))
        return _unique_models(found)


def _models_file_requirement(req: ReqLine, environ: Mapping[str, str]) -> ReqLine:
    if req.requirement.startswith(("-e", "--editable")):
        raise PipmodelsError(
            f"{req.line.where}: a models file lists archives to cache; an editable install "
            "is not one.",
            "Move the -e line to your requirements.in.",
        )
    if req.url is not None and not is_model_reference(req, environ):
        raise PipmodelsError(
            f"{req.line.where}: a models file lists archives to cache; "
            f"{redact_url(req.requirement)!r} is not one.",
            "Move it to your requirements.in, or point it at a .whl, .tar.gz or .zip.",
        )
    return req


def option_lines(tree: Sequence[RequirementsFile]) -> tuple[Line, ...]:
    """Every option line of a tree, in pip's reading order: they apply to the whole tree."""
    return tuple(line for parsed in tree for line in parsed.options)


def spacy_model_name(name: str | None) -> bool:
    return bool(name and SPACY_MODEL_NAME.match(name))


def is_model_reference(req: ReqLine, environ: Mapping[str, str]) -> bool:
    if req.url is None:
        return False
    url = expand(req.url, environ)
    return url.startswith(MODEL_SCHEMES) and _is_archive_url(url)


def _is_archive_url(url: str) -> bool:
    # GitHub release and Hugging Face URLs end with the archive's name; a download endpoint
    # whose path does not (".../download?id=1") is still worth trying: the archive check after
    # the download tells the user if it is not a package.
    return not url.startswith("file:") or not local_path(url).is_dir()


def resolve_locations(
    files: Sequence[RequirementsFile],
    environ: Mapping[str, str],
    env_file: Path | None,
    *,
    defer_unset: bool = False,
    unset_hint: str = "",
) -> dict[Line, Location | PipmodelsError]:
    """Every index and find-links line of ``files``, resolved once (see
    :mod:`pipmodels.locations`). A ``${VAR}`` outside user-info is refused here; an unset one
    too, except where ``defer_unset`` keeps the error for the step that needs the location.
    (Model URLs are resolved when a download needs them: see :func:`model_location`.)"""
    found: dict[Line, Location | PipmodelsError] = {}
    for parsed in files:
        for line in parsed.options:
            flag, value = split_option(line.text)
            if flag in OPTION_KINDS:
                found[line] = _resolved(
                    OPTION_KINDS[flag], value, environ, line, env_file, unset_hint, defer_unset
                )
    return found


def model_location(req: ReqLine, environ: Mapping[str, str], env_file: Path | None) -> Location:
    """A model's ``name @ URL`` resolved, when it is to be downloaded: a model already in the
    cache needs no key, and a no-op run parses no requirement."""
    assert req.url is not None
    return resolve(DIRECT, req.url, environ, req.line.where, env_file=env_file)


def _resolved(
    kind: str,
    raw: str,
    environ: Mapping[str, str],
    line: Line,
    env_file: Path | None,
    unset_hint: str,
    defer_unset: bool,
) -> Location | PipmodelsError:
    try:
        return resolve(kind, raw, environ, line.where, env_file=env_file, unset_hint=unset_hint)
    except Unset as unset:
        if defer_unset:
            return unset
        raise


def refuse_keyed_references(files: Sequence[RequirementsFile], environ: Mapping[str, str]) -> None:
    """Refuse a key in a URL that pipmodels leaves to pip-compile (``git+https://``, ``-e``).

    pip-compile writes such a line, expanded, into requirements.txt, and pip hands its URL to
    ``git clone`` on the command line; pipmodels' gateway does not reach git. A user name
    alone (``git+ssh://git@host``) is not a key.
    """
    for parsed in files:
        for req in parsed.requirements:
            if is_model_reference(req, environ):
                continue
            text = req.requirement
            keyed = any(
                env_var_names(m.group("userinfo"))
                or ":" in m.group("userinfo")
                or "http" in m.group("scheme")
                for m in URL_USERINFO.finditer(text)
            )
            if keyed or (env_var_names(text) and ANY_URL.search(text)):
                raise PipmodelsError(
                    f"{req.line.where}: {redact_url(text)!r} carries a key, which pip-compile "
                    "would write into requirements.txt and pip would put on git's command line.",
                    "Write the URL without the key and let git find it: a git credential "
                    "helper (git config --global credential.helper store) or ~/.netrc.",
                )


def gather(
    sources: list[Path],
    models_files: list[Path],
    *,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> Inputs:
    """Read the inputs. A pyproject.toml with static dependencies is read as a requirements
    file (its dependencies, the ``extras`` and the dependency ``groups`` asked for), so that
    its models go through the cache like requirements.in lines; other project files are left
    to pip-compile to build."""
    from pipmodels.pyproject import static_requirements

    for path in models_files:
        if not path.is_file():
            raise PipmodelsError(
                f"The models file {path} does not exist.",
                "Check the -m/--models path, or create the file.",
            )
    projects, trees = [], {}
    for source in sources:
        if LOCK_NAME.match(source.name):  # a PEP 751 lock: its archives are models
            from pipmodels import pylock

            trees[source] = (pylock.requirements_file(source, pylock.load(source)),)
            continue
        if source.name not in PROJECT_FILES:
            continue
        if not source.is_file():
            raise PipmodelsError(f"{source} does not exist.", "Check the path.")
        static = static_requirements(source, extras, groups) if source.name == PYPROJECT else None
        if static is None:
            projects.append(source)
        else:
            trees[source] = (static,)
    if groups and not trees:
        raise PipmodelsError(
            "--group selects dependency groups of a pyproject.toml, and no input is one.",
            "Name the pyproject.toml as an input: pipmodels sync pyproject.toml --group NAME.",
        )
    files = [s for s in sources if s not in projects]
    return Inputs(
        tuple(files),
        tuple(models_files),
        tuple(trees.get(f) or tuple(read_one_tree(f)) for f in files),
        tuple(tuple(read_one_tree(m)) for m in models_files),
        tuple(projects),
    )


def local_path(url: str) -> Path:
    from urllib.request import url2pathname

    return Path(url2pathname(urlsplit(url).path))


def _stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _unique(files: Iterable[RequirementsFile]) -> tuple[RequirementsFile, ...]:
    seen: dict[Path, RequirementsFile] = {}
    for parsed in files:
        seen.setdefault(parsed.path.resolve(), parsed)
    return tuple(seen.values())


def _unique_models(models: list[Model]) -> list[Model]:
    """Each requirement line once, even when two trees both pull its file in."""
    seen: dict[Line, Model] = {}
    for model in models:
        seen.setdefault(model.req.line, model)
    return list(seen.values())
