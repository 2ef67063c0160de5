"""Where credentials come from, whom they belong to, and how they are kept out of sight.

Users write keys as URL user-info (``https://${PRODIGY_KEY}@download.prodi.gy``,
``https://__token__:TOKEN@gitlab.example.com/...``), in ``${VAR}`` references filled from the
environment or ``.env``, in ``PIP_*`` variables and in pip.conf. Whatever the form, a URL that
reaches pip, pip-tools, uv or a file leaves pipmodels *without* its user-info, and a key
belongs to one :class:`Origin` (scheme, host and port): pipmodels sends it there and nowhere
else, and pip and uv reach that origin through the run's loopback gateway (``gateway.py``),
which adds the key in memory. No key is written to a file.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pipmodels.errors import PipmodelsError

# The same pattern pip uses: only ${UPPER_CASE} names are expanded in requirement files.
ENV_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")
# user-info in any URL: scheme://USER[:PASSWORD]@host. Greedy up to the authority's last "@",
# so that a password holding "@" is taken whole.
URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
MASK = "****"
# Values shorter than this are too common ("1", "yes") to scrub from output without mangling it.
MIN_SECRET_LENGTH = 4


def env_var_names(text: str) -> list[str]:
    return [m.group("name") for m in ENV_VAR.finditer(text)]


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` as pip does in requirement files; unset variables stay as written."""
    return ENV_VAR.sub(lambda m: environ.get(m.group("name"), m.group(0)), text)


# User-info made of ${VAR} references only names variables: showing it helps and reveals nothing.
_NAMES_ONLY = re.compile(r"^(\$\{[A-Z0-9_]+\})?(:(\$\{[A-Z0-9_]+\})?)?$")


def redact_url(text: str) -> str:
    """``https://KEY:@host/x`` -> ``https://****@host/x``, whatever form the user-info takes;
    ``https://${KEY}@host`` stays as written."""

    def mask(match: re.Match[str]) -> str:
        if _NAMES_ONLY.match(match.group("userinfo")):
            return match.group(0)
        return f"{match.group('scheme')}{MASK}@"

    return URL_USERINFO.sub(mask, text)


def strip_all_userinfo(text: str) -> str:
    """``text`` with the user-info of every URL in it removed."""
    return URL_USERINFO.sub(lambda m: m.group("scheme"), text)


DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    """Where a key may go: a scheme, a host and a port, as a browser scopes a password."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an http(s) URL; None for anything else (a path, a file: URL)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return cls(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class Credential:
    origin: Origin | None  # None: not tied to a URL (a value only known to redact)
    login: str
    password: str


def split_userinfo(url: str) -> tuple[str, Credential | None]:
    """``url`` without its user-info, and the credential it carried (percent-decoded)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    login, _, password = userinfo.partition(":")
    stripped = urlunsplit(parts._replace(netloc=hostport))
    return stripped, Credential(Origin.of(stripped), unquote(login), unquote(password))


def strip_userinfo(url: str) -> str:
    return split_userinfo(url)[0]


@dataclass
class Redactor:
    """Scrubs known secret values, their encoded forms and any URL user-info from text, and
    shows each gateway address as the origin it stands for."""

    secrets: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if len(value) >= MIN_SECRET_LENGTH:
                self.secrets.update({value, quote(value, safe=""), quote(value)})

    def add_credential(self, credential: Credential) -> None:
        self.add([credential.login, credential.password])
        # The forms an Authorization header and a URL carry it in.
        pair = f"{credential.login}:{credential.password}"
        self.add([pair, base64.b64encode(pair.encode()).decode()])

    def add_urls(self, text: str) -> None:
        """Remember the user-info of every URL in ``text`` as a secret."""
        for match in URL_USERINFO.finditer(text):
            login, _, password = match.group("userinfo").partition(":")
            self.add([match.group("userinfo")])
            self.add_credential(Credential(None, unquote(login), unquote(password)))

    def __call__(self, text: str) -> str:
        for alias, shown in self.aliases.items():
            text = text.replace(alias, shown)
        # Longest first, so a secret that contains another is scrubbed whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return redact_url(text)


# -- netrc: the user's own, which pip and uv read for what pipmodels carries no key for -------


def user_netrc_candidates(environ: Mapping[str, str]) -> list[Path]:
    """Where the user's netrc is looked for: ``NETRC``, else ``~/.netrc`` then ``~/_netrc``."""
    if environ.get("NETRC"):
        return [Path(environ["NETRC"])]
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    return [home / ".netrc", home / "_netrc"]


def one_per_origin(credentials: Iterable[Credential]) -> list[Credential]:
    """The distinct credentials, at most one per origin."""
    by_origin: dict[Origin, Credential] = {}
    for cred in credentials:
        if cred.origin is None:
            continue
        other = by_origin.setdefault(cred.origin, cred)
        if other != cred:
            raise PipmodelsError(
                f"Two different credentials are given for {cred.origin}; pip can send only one "
                "per origin.",
                "Use one key for that origin in your inputs, PIP_* variables and pip.conf.",
            )
    return list(by_origin.values())


# -- .env files -----------------------------------------------------------------------------------


def load_env_file(path: Path) -> dict[str, str]:
    """Read a ``.env`` file as python-dotenv does (quotes, ``export``, comments, CRLF)."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipmodelsError(
            f"Cannot read the env file {path}: {getattr(exc, 'strerror', None) or exc}.",
            "Create it with NAME=value lines, or leave out --env-file.",
        ) from None
    import io

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise PipmodelsError(
                f"{path}, line {binding.original.line}: expected NAME=value.",
                "Fix or remove that line of the env file.",
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {k: v for k, v in values.items() if v is not None}


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for pip and pip-tools: the user's, plus ``.env`` values not set there."""
    env = dict(os.environ)
    for name, value in extra.items():
        env.setdefault(name, value)
    return env
