"""Every place a run fetches from, resolved once: its kind, its public URL, its credential.

An index, find-links or direct-reference line is read here and nowhere else. ``${VAR}`` is
expanded *inside* the component it stands in, after the URL has been split, so a value holding
``/``, ``#``, ``?``, ``@`` or ``:`` (base64 and JWT-like tokens do) stays a key: it cannot move
the host, become a path, or escape the user-info. A ``${VAR}`` anywhere else in a URL (host,
path, query) is refused: it cannot reach pip without its value.

Every consumer (the child environment, the compile and download request files, the engines,
diagnosis, the redactor) takes these values; none re-reads the raw text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from pipmodels import pipconfig
from pipmodels.credentials import ENV_VAR, MASK, Credential, Origin, env_var_names
from pipmodels.errors import PipmodelsError

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# pip's option names, by the setting each one feeds.
INDEX_URL = "index-url"
EXTRA_INDEX_URL = "extra-index-url"
FIND_LINKS = "find-links"
DIRECT = "direct"  # a direct reference: name @ URL


@dataclass(frozen=True)
class Location:
    """One place to fetch from, as the whole run sees it."""

    kind: str  # INDEX_URL, EXTRA_INDEX_URL, FIND_LINKS or DIRECT
    public: str  # ${VAR} expanded, without user-info: safe to show, write and pass on
    credential: Credential | None
    where: str  # the line or setting it came from, for messages
    # A user name written out with no password (https://__token__@host/): the user's keyring
    # may hold the password, as pip would ask it.
    keyring_login: bool = False
    # The variables that hold its key: children, which never need them, do not get them.
    key_variables: tuple[str, ...] = ()

    @property
    def origin(self) -> Origin | None:
        return Origin.of(self.public)

    @property
    def shown(self) -> str:
        """The URL for messages: ``https://****@host/...`` when it carries a key."""
        if self.credential is None:
            return self.public
        scheme, _, rest = self.public.partition("://")
        return f"{scheme}://{MASK}@{rest}"


class Unset(PipmodelsError):
    """A ``${VAR}`` in a location names a variable that is not set."""

    def __init__(self, message: str, hint: str, name: str) -> None:
        super().__init__(message, hint)
        self.name = name


def resolve(
    kind: str,
    raw: str,
    environ: Mapping[str, str],
    where: str,
    *,
    env_file: Path | None = None,
    unset_hint: str = "",
) -> Location:
    """``raw`` as written by the user (``${VAR}`` unexpanded) as a :class:`Location`."""
    scheme = SCHEME.match(raw)
    if scheme is None or scheme.group(0).lower() not in ("http://", "https://"):
        # A local path or file: URL, where nothing is a key; or a whole URL in one variable,
        # split after expansion, as pip would.
        text = _expand(raw, environ, where, env_file, unset_hint)
        if scheme is None and SCHEME.match(text):
            return _from_literal(kind, text, where)
        return Location(kind, text, None, where)
    scheme_text, userinfo, hostport, tail = _split(raw)
    outside = env_var_names(hostport) + env_var_names(tail)
    if outside:
        raise _outside_userinfo(where, outside[0])
    public = f"{scheme_text}{hostport}{tail}"
    origin = Origin.of(public)
    if userinfo is None or origin is None:
        return Location(kind, public, None, where)
    login_raw, _, password_raw = userinfo.partition(":")
    login = _component(login_raw, environ, where, env_file, unset_hint)
    password = _component(password_raw, environ, where, env_file, unset_hint)
    credential = Credential(origin, login, password) if login or password else None
    written = bool(login) and not password_raw and not env_var_names(login_raw)
    names = tuple(env_var_names(userinfo))
    return Location(kind, public, credential, where, keyring_login=written, key_variables=names)


def _split(url: str) -> tuple[str, str | None, str, str]:
    """``scheme://``, the user-info (None without ``@``), ``host[:port]`` and the rest. The
    authority ends at the first ``/``, ``?`` or ``#`` (a ``${VAR}`` holds none); a password
    holding ``@`` is taken whole, up to the last ``@`` there."""
    scheme = SCHEME.match(url)
    assert scheme is not None
    rest = url[scheme.end() :]
    match = re.search(r"[/?#]", rest)
    end = match.start() if match else len(rest)
    userinfo, at, hostport = rest[:end].rpartition("@")
    return scheme.group(0), userinfo if at else None, hostport, rest[end:]


def resolve_literal(kind: str, url: str, where: str, *, written: bool = False) -> Location:
    """A URL taken as written, ``${`` included (pip's configuration expands no variables);
    ``written``: in a file, where a user name is not a key held in a variable."""
    if SCHEME.match(url):
        return _from_literal(kind, url, where, written=written)
    return Location(kind, url, None, where)


def _from_literal(kind: str, url: str, where: str, *, written: bool = False) -> Location:
    """A URL with no ``${VAR}`` left in it (a whole URL held in one variable)."""
    scheme_text, userinfo, hostport, tail = _split(url)
    public = f"{scheme_text}{hostport}{tail}"
    origin = Origin.of(public)
    if userinfo is None or origin is None:
        return Location(kind, public, None, where)
    login, _, password = userinfo.partition(":")
    credential = Credential(origin, unquote(login), unquote(password))
    asks = written and bool(login) and not password
    return Location(kind, public, credential if login or password else None, where, asks)


def _component(
    raw: str, environ: Mapping[str, str], where: str, env_file: Path | None, unset_hint: str
) -> str:
    """A user-info part with its ``${VAR}`` values put in, then percent-decoded as pip decodes
    user-info: a value already encoded for a URL (``p%40ss``) means what it meant to pip, and
    a raw ``/``, ``#``, ``?``, ``@`` or ``:`` in a value stays part of the key, since the URL
    was split before the value went in."""
    out, at = [], 0
    for match in ENV_VAR.finditer(raw):
        out.append(raw[at : match.start()])
        name = match.group("name")
        if name not in environ:
            raise _unset(name, where, env_file, unset_hint)
        out.append(environ[name])
        at = match.end()
    out.append(raw[at:])
    return unquote("".join(out))


def _expand(
    raw: str, environ: Mapping[str, str], where: str, env_file: Path | None, unset_hint: str
) -> str:
    for name in env_var_names(raw):
        if name not in environ:
            raise _unset(name, where, env_file, unset_hint)
    return ENV_VAR.sub(lambda m: environ[m.group("name")], raw)


def _unset(name: str, where: str, env_file: Path | None, hint: str) -> Unset:
    looked = "the environment" + (f" and {env_file}" if env_file else " (no .env file)")
    return Unset(
        f"{where}: {name} is not set (pipmodels looked in {looked}).",
        f"Set {name} in your environment or in a .env file beside your inputs.{hint}",
        name,
    )


def _outside_userinfo(where: str, name: str) -> PipmodelsError:
    return PipmodelsError(
        f"{where}: ${{{name}}} is in the URL's host, path or query, where pipmodels "
        "cannot keep it off pip's command line and out of requirements.txt.",
        "Put the key in the user-info instead (https://${KEY}@host/path, or "
        "https://USER:${KEY}@host/path), or in your netrc file, and run again.",
    )


# -- locations from the tools' own configuration -------------------------------------------

# uv's own index variables, which uv reads beside the arguments pipmodels gives it.
UV_URL_VARIABLES = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_FIND_LINKS",
)
UV_INDEX_NAME = re.compile(r"^([A-Za-z0-9_.-]+=)(?=[a-zA-Z][a-zA-Z0-9+.-]*://)")


def uv_url_settings(environ: Mapping[str, str]) -> dict[str, list[tuple[str, Location]]]:
    """uv's own index variables, resolved; ``UV_INDEX`` entries keep their ``name=``."""
    found: dict[str, list[tuple[str, Location]]] = {}
    for variable in UV_URL_VARIABLES:
        if not environ.get(variable):
            continue
        entries = []
        for word in environ[variable].split():
            named = UV_INDEX_NAME.match(word)
            name = named.group(1) if named else ""
            entries.append((name, resolve_literal(FIND_LINKS, word[len(name) :], variable)))
        found[variable] = entries
    return found


def pip_url_settings(environ: Mapping[str, str]) -> dict[str, list[Location]]:
    """The user's pip index and find-links settings (pip.conf, ``PIP_*``), resolved."""
    settings = {}
    for key, urls in pipconfig.url_settings(environ).items():
        variable = pipconfig.variable(key)
        where = variable if variable in environ else f"pip's {key} setting"
        written = variable not in environ  # a pip.conf line, not a shell-expanded value
        settings[key] = [resolve_literal(key, url, where, written=written) for url in urls]
    return settings
