"""Which spaCy model fits which spaCy: the compatibility table and each model's meta.json.

Since spaCy 3.8, model wheels do not declare spaCy as a dependency, so pip installs a 3.7 model
beside spaCy 3.8 without a word. The only statements of fit are the table that
``spacy download`` reads and ``spacy_version`` in the model's meta.json. pipmodels reads the
first to pick a model (``pipmodels add``) and the second to refuse a compile that would pair a
model with a spaCy it does not fit.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pipmodels import console, http, locktext
from pipmodels.credentials import Redactor, redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name

COMPATIBILITY_URL = (
    "https://raw.githubusercontent.com/explosion/spacy-models/master/compatibility.json"
)
COMPATIBILITY_URL_VARIABLE = "PIPMODELS_SPACY_COMPATIBILITY_URL"
MODELS_URL = "https://github.com/explosion/spacy-models/releases/download"
MODELS_URL_VARIABLE = "PIPMODELS_SPACY_MODELS_URL"
# requirements.txt as pip-compile writes it: "spacy==3.8.2 \" or "spacy==3.8.2" at a line start.


# -- the compatibility table -------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """spaCy minor version ("3.8") -> model name -> compatible model versions, newest first."""

    by_minor: Mapping[str, Mapping[str, tuple[str, ...]]]
    source: str = "spaCy's compatibility table"  # for messages; the URL is redacted

    @classmethod
    def from_json(cls, data: Any, source: str) -> Table:
        shown = redact_url(source)
        spacy = data.get("spacy") if isinstance(data, dict) else None
        if not isinstance(spacy, dict):
            raise PipmodelsError(
                f'{shown} is not a spaCy compatibility table (no "spacy" object).',
                f"Point {COMPATIBILITY_URL_VARIABLE} at a copy of spacy-models' "
                "compatibility.json.",
            )
        by_minor = {
            _table_minor(minor, shown): {
                _table_name(name, minor, shown): _table_versions(versions, name, shown)
                for name, versions in _table_object(models, f'"spacy"."{minor}"', shown).items()
            }
            for minor, models in spacy.items()
        }
        return cls(by_minor, f"spaCy's compatibility table at {shown}")

    def names(self) -> list[str]:
        return sorted({name for models in self.by_minor.values() for name in models})

    def spelling(self, name: str) -> str | None:
        """The table's own spelling of ``name`` (``en-core-web-sm`` -> ``en_core_web_sm``)."""
        wanted = canonical_name(name)
        return next((n for n in self.names() if canonical_name(n) == wanted), None)

    def versions(self, minor: str, name: str) -> tuple[str, ...]:
        models = self.by_minor.get(minor, {})
        wanted = canonical_name(name)
        return next((v for n, v in models.items() if canonical_name(n) == wanted), ())

    def minors_for(self, name: str) -> list[str]:
        return [minor for minor in self.by_minor if self.versions(minor, name)]


# What the table's values must be before any of them reaches requirements.in or a URL: a
# version is a PEP 440 version written without spaces, a name a PEP 508 project name.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION_TEXT = re.compile(r"[0-9A-Za-z.!+_-]+")


def _table_error(shown: str, what: str) -> PipmodelsError:
    return PipmodelsError(
        f"{shown} is not a valid spaCy compatibility table: {what}. Nothing was written.",
        f"Point {COMPATIBILITY_URL_VARIABLE} at a copy of spacy-models' compatibility.json, or "
        "report the broken table.",
    )


def _table_object(value: Any, where: str, shown: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _table_error(shown, f"{where} is a {_kind(value)}, not an object")
    return value


def _table_minor(minor: str, shown: str) -> str:
    if not _is_version_text(minor):
        raise _table_error(shown, f"the key {minor[:40]!a} is not a spaCy version (3.8)")
    return minor


def _table_name(name: str, minor: str, shown: str) -> str:
    if not _PROJECT_NAME.fullmatch(name):
        raise _table_error(shown, f"{name[:40]!a} under spaCy {minor} is not a model name")
    return name


def _table_versions(versions: Any, name: str, shown: str) -> tuple[str, ...]:
    if not isinstance(versions, list):
        raise _table_error(shown, f"the versions of {name} are a {_kind(versions)}, not a list")
    for version in versions:
        if not _is_version_text(version):
            shown_version = ascii(version)[:40] if isinstance(version, str) else _kind(version)
            raise _table_error(shown, f"{shown_version} in the versions of {name} is not a version")
    return tuple(versions)


def _is_version_text(value: Any) -> bool:
    if not isinstance(value, str) or not _VERSION_TEXT.fullmatch(value):
        return False
    try:
        Version(value)
    except InvalidVersion:
        return False
    return True


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def minor_of(version: Version) -> str:
    """The table's key for a spaCy version: 3.8.2 -> "3.8"."""
    return f"{version.major}.{version.minor}"


def parse_version(text: str, what: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise PipmodelsError(
            f"{text!r} is not a valid {what} version.", "Write it as e.g. 3.8.2."
        ) from None


def split_request(text: str) -> tuple[str, str | None]:
    """``en_core_web_sm`` or ``en_core_web_sm==3.8.0`` -> (name, version or None)."""
    name, sep, version = text.strip().partition("==")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name.strip()) or (sep and not version):
        raise PipmodelsError(
            f"{text!r} is not a model name.",
            "Write NAME or NAME==VERSION, e.g. en_core_web_sm or en_core_web_sm==3.8.0.",
        )
    return name.strip(), (version.strip() or None)


def pick(table: Table, request: str, spacy: Version) -> tuple[str, str]:
    """The model's table spelling and the version to install for ``spacy``, or an error."""
    asked, requested = split_request(request)
    name = table.spelling(asked)
    if name is None:
        close = difflib.get_close_matches(asked.replace("-", "_"), table.names(), 3, 0.75)
        raise PipmodelsError(
            f"{asked} is not in {table.source}.",
            f"Did you mean {_either(close)}?" if close else "Check the model's name.",
        )
    minor = minor_of(spacy)
    versions = table.versions(minor, name)
    if not versions:
        others = table.minors_for(name)
        raise PipmodelsError(
            f"{table.source} has no version of {name} for spaCy {minor}"
            + (f"; it has versions for spaCy {', '.join(others)}." if others else "."),
            "Choose another spaCy version (--spacy-version) or another model.",
        )
    if requested is not None and requested not in versions:
        raise PipmodelsError(
            f"{name} {requested} does not fit spaCy {minor}: {table.source} lists "
            f"{', '.join(versions)}.",
            f"Leave out ==VERSION to get {name} {versions[0]}, or choose another spaCy version.",
        )
    return name, requested or versions[0]


def _either(names: Sequence[str]) -> str:
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def release_url(base: str, name: str, version: str) -> str:
    """Where ``spacy download`` fetches a model wheel from."""
    stem = f"{name}-{version}"
    return f"{base.rstrip('/')}/{stem}/{stem}-py3-none-any.whl"


def compatibility_url(environ: Mapping[str, str]) -> str:
    return environ.get(COMPATIBILITY_URL_VARIABLE) or COMPATIBILITY_URL


def models_url(environ: Mapping[str, str]) -> str:
    return environ.get(MODELS_URL_VARIABLE) or MODELS_URL


def fetch_table(url: str, environ: Mapping[str, str] | None = None) -> Table:
    """The table at ``url`` (http(s), ``file:`` or a path), or a PipmodelsError naming it.

    Over http(s) it comes through pipmodels' one HTTP door: retries, a user agent, and the
    size, time and nesting limits of every page.
    """
    environ = os.environ if environ is None else environ
    limits = http.Limits.from_environment(environ)
    shown = redact_url(url)
    if not re.match(r"^https?://", url):
        path = Path(url.removeprefix("file://"))
        try:
            data = _read_local(path, limits)
            return Table.from_json(http.parse_json(data, url, limits), url)
        except (OSError, ValueError) as exc:
            raise PipmodelsError(
                f"Cannot read spaCy's compatibility table {shown}: {exc}.", "Check the path."
            ) from None

    web = http.Client(http.Policy.from_environment(environ), Redactor())
    with web.session:
        try:
            page = web.fetch_page(url)
            if page.status_code != 200:
                reason = f"HTTP {page.status_code}"
            else:
                return Table.from_json(page.json(), url)
        except requests.exceptions.RequestException as exc:
            reason = type(exc).__name__
        except ValueError:
            reason = "not JSON"
    raise PipmodelsError(
        f"Cannot fetch spaCy's compatibility table from {shown} ({reason}).",
        f"Check the network, or set {COMPATIBILITY_URL_VARIABLE} to a reachable copy.",
    )


def _read_local(path: Path, limits: http.Limits) -> bytes:
    with path.open("rb") as stream:
        data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ValueError(f"larger than {limits.max_bytes >> 20} MB")
    return data


# -- meta.json inside a model archive ----------------------------------------------------------


@dataclass(frozen=True)
class ModelMeta:
    """What a model archive's meta.json says about the spaCy it needs."""

    name: str  # as spaCy spells it: en_core_web_sm
    version: str
    spacy_version: str  # a specifier, e.g. ">=3.8.0,<3.9.0"


def meta_member(members: Iterable[str], package: str, *, sdist: bool) -> str | None:
    """The archive member holding the model's meta.json, or None.

    A wheel made by ``spacy package`` holds ``<pkg>/meta.json`` and a copy in
    ``<pkg>/<pkg>-<version>/meta.json``; its sdist holds the same under one root folder, and
    a ``meta.json`` beside setup.py. The package folder must be the archive's own package, so
    another project's ``meta.json`` is never mistaken for a spaCy model's.
    """
    wanted = canonical_name(package)
    ranked: list[tuple[int, str]] = []
    for member in members:
        parts = member.split("/")
        if parts[-1] != "meta.json" or len(parts) < 2:
            continue
        folders = parts[1:-1] if sdist else parts[:-1]  # an sdist has one root folder
        if folders and canonical_name(folders[0]) != wanted:
            continue
        if len(folders) == 2 and not canonical_name(folders[1]).startswith(wanted + "-"):
            continue
        rank = {1: 0, 2: 1, 0: 2}.get(len(folders))
        if rank is not None:
            ranked.append((rank, member))
    return min(ranked)[1] if ranked else None


def read_meta(path: Path, package: str) -> ModelMeta | None:
    """The spaCy meta.json of the model archive at ``path``; None when it holds none."""
    try:
        data = _meta_bytes(path, package)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return None
    if data is None:
        return None
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        console.warn(f"{path.name}: its meta.json is not valid JSON; not checked against spaCy")
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("spacy_version"), str):
        return None
    lang, short = meta.get("lang"), meta.get("name")
    name = f"{lang}_{short}" if lang and short else package.replace("-", "_")
    return ModelMeta(name, str(meta.get("version", "?")), meta["spacy_version"])


def _meta_bytes(path: Path, package: str) -> bytes | None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            sdist = not path.name.endswith(".whl")
            member = meta_member(archive.namelist(), package, sdist=sdist)
            return archive.read(member) if member else None
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            member = meta_member(archive.getnames(), package, sdist=True)
            stream = archive.extractfile(member) if member else None
            return stream.read() if stream else None
    return None


# -- the compile-time check -------------------------------------------------------------------


def allows(meta: ModelMeta, spacy: Version) -> bool | None:
    """Whether the model's range admits ``spacy``; None when the range cannot be read."""
    try:
        return SpecifierSet(meta.spacy_version).contains(spacy, prereleases=True)
    except InvalidSpecifier:
        return None


def resolved_spacy(requirements_text: str) -> Version | None:
    """The spaCy version a compiled requirements.txt pins, if it pins one."""
    pinned = locktext.pinned_version(requirements_text, "spacy")
    if pinned is None:
        return None
    try:
        return Version(pinned)
    except InvalidVersion:
        return None


def check(metas: Sequence[ModelMeta], spacy: Version | None, output: str) -> list[ModelMeta]:
    """The models that do not fit ``spacy``; warns about what cannot be checked."""
    if spacy is None:
        for meta in metas:
            if not meta.spacy_version.strip():
                continue  # the model names no spaCy version: nothing to check against
            console.warn(
                f"{meta.name} {meta.version} needs spaCy {meta.spacy_version}, but {output} "
                "pins no spacy: add spacy to your inputs."
            )
        return []
    misfits = []
    for meta in metas:
        fits = allows(meta, spacy)
        if fits is None:
            console.warn(
                f"{meta.name} {meta.version}: cannot read its spacy_version "
                f"{meta.spacy_version!r}; not checked"
            )
        elif not fits:
            misfits.append(meta)
    return misfits


def misfit_error(
    misfits: Sequence[ModelMeta], spacy: Version, output: str, table: Table | str
) -> PipmodelsError:
    """The error for models that do not fit; ``table`` is the table, or why it was not read."""
    minor = minor_of(spacy)
    lines = [
        f"{m.name} {m.version} needs spaCy {m.spacy_version}, but {output} resolves spacy to "
        f"{spacy}."
        for m in misfits
    ]
    if isinstance(table, Table):
        fits = [
            f"{m.name} {versions[0]}"
            if (versions := table.versions(minor, m.name))
            else f"no version of {m.name}"
            for m in misfits
        ]
        known = f"{table.source} lists {', '.join(fits)} for spaCy {minor}."
        names = " ".join(m.name for m in misfits)
        switch = f" To switch, delete the model's line and run: pipmodels add {names}."
    else:
        known, switch = f"No fitting version can be named: {table.rstrip('.')}.", ""
    return PipmodelsError(
        "\n".join(lines),
        f"{known}{switch} Or pin a spacy in the model's range. {output} was left as it was "
        "(--no-spacy-check skips this check).",
    )


def check_compiled(
    requirements_text: str,
    archives: Sequence[tuple[Path, str]],
    *,
    output: str,
    environ: Mapping[str, str],
) -> None:
    """Raise when a model archive's meta.json does not admit the spaCy requirements.txt pins.

    ``archives`` are the cached files of this run's models with their package names. The table
    is fetched only when something does not fit, to name the version that would.
    """
    metas = [m for path, name in archives if (m := read_meta(path, name)) is not None]
    if not metas:
        return
    spacy = resolved_spacy(requirements_text)
    misfits = check(metas, spacy, output)
    if not misfits or spacy is None:
        return
    table: Table | str
    try:
        table = fetch_table(compatibility_url(environ), environ)
    except PipmodelsError as exc:
        table = exc.message
    raise misfit_error(misfits, spacy, output, table)
