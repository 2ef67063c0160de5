"""Where credentials live, and how they are kept out of everything pipmodels shows or writes.

Credentials reach pip only through requirement files that pip expands itself (``${VAR}``) and
through the child's environment. Every line of output passes through a :class:`Redactor` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipmodels.errors import PipmodelsError

# The same pattern pip uses: only ${UPPER_CASE} names are expanded in requirement files.
ENV_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")
# user-info in any URL: scheme://USER[:PASSWORD]@host
URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
MASK = "****"
# Values shorter than this are too common ("1", "yes") to scrub from output without mangling it.
MIN_SECRET_LENGTH = 4


def env_var_names(text: str) -> list[str]:
    return [m.group("name") for m in ENV_VAR.finditer(text)]


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` as pip does in requirement files; unset variables stay as written."""
    return ENV_VAR.sub(lambda m: environ.get(m.group("name"), m.group(0)), text)


def redact_url(url: str) -> str:
    """``https://KEY:@host/x`` -> ``https://****@host/x``, whatever form the user-info takes."""
    return URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)


def strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Redactor:
    """Scrubs known secret values and any URL user-info from text."""

    secrets: set[str] = field(default_factory=set)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if len(value) >= MIN_SECRET_LENGTH:
                self.secrets.add(value)

    def add_url_userinfo(self, text: str) -> None:
        """Remember the user-info of every URL in ``text`` (and its parts) as a secret."""
        for m in URL_USERINFO.finditer(text):
            userinfo = m.group("userinfo")
            self.add([userinfo, *userinfo.split(":", 1)])

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is scrubbed whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return redact_url(text)


def load_env_file(path: Path) -> dict[str, str]:
    """Read a ``.env`` file of ``NAME=value`` lines (``export``, quotes and comments allowed)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PipmodelsError(
            f"Cannot read the env file {path}: {exc.strerror}.",
            "Create it with NAME=value lines, or leave out --env-file.",
        ) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise PipmodelsError(
                f"{path}, line {number}: expected NAME=value.",
                "Fix or remove that line of the env file.",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for pip and pip-tools: the user's, plus ``.env`` values not set there."""
    env = dict(os.environ)
    for name, value in extra.items():
        env.setdefault(name, value)
    return env
