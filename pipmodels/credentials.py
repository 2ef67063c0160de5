"""Where credentials come from, the one way they travel to pip, and how they are kept out of sight.

Users write keys as URL user-info (``https://${PRODIGY_KEY}@download.prodi.gy``,
``https://__token__:TOKEN@gitlab.example.com/...``), in ``${VAR}`` references filled from the
environment or ``.env``, in ``PIP_*`` variables, in pip.conf and in netrc. Whatever the form, a
URL that reaches pip, pip-tools or a file leaves pipmodels *without* its user-info; the
credentials travel in a private netrc file that pip (through requests) and uv read from
``NETRC``. pip-sync and pip's build subprocesses copy index URLs onto command lines, so only a
URL with nothing secret left in it may reach them.

A ``${VAR}`` outside the user-info (in a host, path or query) cannot travel that way; such a URL
is refused for indexes and find-links pages (see :func:`require_userinfo_only`).
"""

from __future__ import annotations

import base64
import contextlib
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


@dataclass(frozen=True)
class Credential:
    host: str  # as netrc names a machine: the host name, without port
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
    host = (parts.hostname or "").lower()
    return stripped, Credential(host, unquote(login), unquote(password))


def strip_userinfo(url: str) -> str:
    return split_userinfo(url)[0]


def require_userinfo_only(raw: str, where: str) -> None:
    """Refuse an index or find-links URL with a ``${VAR}`` outside its user-info.

    Such a URL cannot reach pip without the variable's value: pip-tools writes index URLs into
    requirements.txt and pip-sync puts them on pip's command line, and netrc carries only a
    login and a password for a host.
    """
    scheme = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", raw)
    rest = raw[scheme.end() :] if scheme else raw
    if scheme:
        userinfo, at, after = rest.partition("@")
        authority_end = re.search(r"[/?#]", userinfo)
        rest = after if at and authority_end is None else rest
    names = env_var_names(rest) if scheme else []
    if names:
        raise PipmodelsError(
            f"{where}: ${{{names[0]}}} is in the URL's host, path or query, where pipmodels "
            "cannot keep it off pip's command line and out of requirements.txt.",
            "Put the key in the user-info instead (https://${KEY}@host/path, or "
            "https://USER:${KEY}@host/path), or in your netrc file, and run again.",
        )


@dataclass
class Redactor:
    """Scrubs known secret values, their encoded forms and any URL user-info from text."""

    secrets: set[str] = field(default_factory=set)

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
            self.add_credential(Credential("", unquote(login), unquote(password)))

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is scrubbed whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return redact_url(text)


# -- netrc: the one way credentials reach pip, pip-tools and uv ---------------------------------


def user_netrc(environ: Mapping[str, str]) -> Path | None:
    """The netrc file the user's tools read today: ``NETRC``, else ``~/.netrc`` (``_netrc``)."""
    if environ.get("NETRC"):
        return Path(environ["NETRC"])
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    for name in (".netrc", "_netrc"):
        if (home / name).is_file():
            return home / name
    return None


def netrc_text(credentials: Iterable[Credential], user_file: Path | None) -> str:
    """A netrc with the user's own entries first and ours after them, so ours win a host."""
    lines = []
    if user_file is not None:
        with contextlib.suppress(OSError):
            lines.append(user_file.read_text(encoding="utf-8").rstrip("\n"))
    for cred in credentials:
        lines.append(f"machine {_token(cred.host)}\n  login {_token(cred.login)}")
        if cred.password:
            lines.append(f"  password {_token(cred.password)}")
    return "\n".join(lines) + "\n"


def _token(value: str) -> str:
    """A netrc token; quoted (Python 3.10 and later read quotes) only where it must be."""
    if value and not re.search(r"[\s\"'\\#]", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_one_per_host(credentials: Iterable[Credential]) -> list[Credential]:
    """The distinct credentials, at most one per host (netrc cannot hold two)."""
    by_host: dict[str, Credential] = {}
    for cred in credentials:
        other = by_host.setdefault(cred.host, cred)
        if other != cred:
            raise PipmodelsError(
                f"Two different credentials are given for {cred.host}; pip can send only one "
                "per host.",
                "Use one key for that host in your inputs, PIP_* variables and pip.conf.",
            )
    return list(by_host.values())


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
