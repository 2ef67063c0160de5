"""The user's pip configuration, read the way pip reads it, without starting pip.

pipmodels needs three things from it: the index and find-links URLs (to take credentials out of
them before pip-sync copies them onto a command line), the certificate settings (for its own
downloads), and a digest of everything in it (so the no-op fast path sees a changed setting).
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

# Settings that name where packages come from; each holds whitespace-separated URLs.
URL_SETTINGS = ("index-url", "extra-index-url", "find-links")
# pip applies [global] first, then the section of the command being run.
SECTIONS = ("global", "download", "install", "wheel")


def config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files in the order pip loads them (later ones win)."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []  # pip's own rule: PIP_CONFIG_FILE=os.devnull loads no file at all
    files = [*_global_files(environ), *_user_files(environ), Path(sys.prefix) / _name()]
    if env_file:
        files.append(Path(env_file))
    return files


def _name() -> str:
    return "pip.ini" if sys.platform == "win32" else "pip.conf"


def _global_files(environ: Mapping[str, str]) -> list[Path]:
    if sys.platform == "win32":
        return [Path(environ.get("PROGRAMDATA", "C:\\ProgramData")) / "pip" / "pip.ini"]
    if sys.platform == "darwin":
        return [Path("/Library/Application Support/pip/pip.conf")]
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    return [*(Path(d) / "pip" / "pip.conf" for d in dirs.split(os.pathsep)), Path("/etc/pip.conf")]


def _user_files(environ: Mapping[str, str]) -> list[Path]:
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    if sys.platform == "win32":
        appdata = Path(environ.get("APPDATA", home / "AppData" / "Roaming"))
        return [appdata / "pip" / "pip.ini", home / "pip" / "pip.ini"]
    if sys.platform == "darwin":
        return [home / ".pip" / "pip.conf", home / "Library/Application Support/pip/pip.conf"]
    config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".pip" / "pip.conf", config / "pip" / "pip.conf"]


# Settings pipmodels' gateway applies to its own requests, as pip would to the same origins.
TRANSPORT_SETTINGS = ("cert", "client-cert", "proxy", "trusted-host")


def url_settings(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """The effective index and find-links URLs: config files, then ``PIP_*`` variables."""
    return {key: value.split() for key, value in settings(environ, URL_SETTINGS).items()}


def settings(environ: Mapping[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    """The effective values of pip settings ``keys``: config files, then ``PIP_*`` variables."""
    found: dict[str, str] = {}
    for key, value in _settings(environ):
        if key in keys:
            found[key] = value
    for key in keys:
        if variable(key) in environ:
            found[key] = environ[variable(key)]
    return found


def _settings(environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """Every setting of every configuration file, as pip applies them (later ones win)."""
    for path in config_files(environ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # pip reports a broken file itself, more precisely than we could
        for section in SECTIONS:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    yield key.replace("_", "-"), value


def variable(key: str) -> str:
    """The ``PIP_*`` variable that overrides setting ``key`` in every pip and pip-tools process."""
    return "PIP_" + key.upper().replace("-", "_")


def setting(environ: Mapping[str, str], key: str) -> list[str]:
    """The effective whitespace-separated values of one setting (``constraint``): config files
    in pip's order, the last one that sets it winning, then its ``PIP_*`` variable."""
    return settings(environ, (key,)).get(key, "").split()
