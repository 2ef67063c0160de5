"""The user's keyring, asked for a password as pip asks it.

Cloud registries (Google Artifact Registry, AWS CodeArtifact, Azure Artifacts) hand out
short-lived tokens through keyring backends: the URL carries a user name only
(``https://oauth2accesstoken@REGION-python.pkg.dev/...``), and pip, told to
(``--keyring-provider``, ``PIP_KEYRING_PROVIDER``, pip.conf's ``keyring-provider``), asks the
keyring for the password. pip and uv never see keys here (they reach keyed origins through the
gateway), so pipmodels asks the keyring itself, for the same URLs: with ``import``, in this
process, through the ``keyring`` package; with ``subprocess`` (or when ``keyring`` cannot be
imported), through the ``keyring`` command, as ``keyring get URL USER``, whose answer is never
shown. Only a user name written out in a file is passed (a key held in a ``${VAR}`` user name,
Prodigy's form, is never put on a command line).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence

from pipmodels import console, pipconfig
from pipmodels.runner import Result

PROVIDERS = ("import", "subprocess")


def provider(environ: Mapping[str, str]) -> str | None:
    """The keyring provider the user told pip to use, or None (pip's default asks none)."""
    chosen = pipconfig.settings(environ, ("keyring-provider",)).get("keyring-provider", "")
    return chosen.strip().lower() if chosen.strip().lower() in PROVIDERS else None


def password(
    services: Sequence[str],
    login: str,
    chosen: str,
    environ: Mapping[str, str],
    run: Callable[[list[str]], Result],
) -> str | None:
    """The keyring's password for ``login`` at the first of ``services`` that has one."""
    if chosen == "import":
        try:
            import keyring
        except ImportError:
            console.debug("keyring is not importable here; asking the keyring command")
        else:
            for service in services:
                found = keyring.get_password(service, login)
                if found:
                    return str(found)
            return None
    command = shutil.which("keyring", path=environ.get("PATH"))
    if command is None:
        console.debug("no keyring command on PATH")
        return None
    for service in services:
        result = run([command, "get", service, login])
        if result.returncode == 0 and result.output.strip():
            return result.output.strip().splitlines()[-1]
    return None
