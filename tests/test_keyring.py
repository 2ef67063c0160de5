"""Keys from the user's keyring, as the cloud registries document them (issue 21's keyring part).

A URL with a user name only (``https://__token__@host/simple/``), the password in a keyring
backend, ``PIP_KEYRING_PROVIDER=subprocess`` (a ``keyring`` command on PATH, as pip 26 and uv
call it) or ``import`` (the ``keyring`` package with a real backend): pipmodels asks the keyring
for what it fetches itself and for what pip and uv fetch through its gateway. The password is on
no command line, in no output and in no file.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import CommandLineSpy, Project, Venv, files_containing, secret_forms
from tests.servers import Server

pytestmark = pytest.mark.slow

TOKEN = "ya29.short-lived/token+from=keyring-91c4"


def keyring_command(bin_dir: Path, log: Path) -> Path:
    """A ``keyring`` executable as backends install one: ``keyring get SERVICE USER`` prints the
    password for a service on 127.0.0.1 and user ``oauth2accesstoken`` (Google Artifact
    Registry's user name); every call is logged (without
    the password)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "keyring"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[1:]\n"
        "if args[:1] == ['get'] and '127.0.0.1' in args[1] and args[2] == 'oauth2accesstoken':\n"
        f"    print({TOKEN!r})\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def keyring_backend(folder: Path) -> str:
    """A real keyring backend module (what keyrings.alt and the cloud backends are)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "standin_backend.py").write_text(
        "from keyring.backend import KeyringBackend\n"
        "class Backend(KeyringBackend):\n"
        "    priority = 1\n"
        "    def get_password(self, service, username):\n"
        f"        if '127.0.0.1' in service and username == '__token__':\n"
        f"            return {TOKEN!r}\n"
        "        return None\n"
        "    def set_password(self, service, username, password):\n"
        "        raise NotImplementedError\n"
        "    def delete_password(self, service, username):\n"
        "        raise NotImplementedError\n"
    )
    return "standin_backend.Backend"


def registry(server: Server, tmp_path: Path, user: str = "__token__") -> str:
    prodigy = build_wheel(tmp_path / "reg", "prodigy", "1.15.3")
    return server.add_index([prodigy], prefix="/registry", auth=f"{user}:{TOKEN}")


def check_nothing_leaked(runs: list[str], tmp_path: Path) -> None:
    for output in runs:
        assert not any(form in output for form in secret_forms(TOKEN)), output
    stand_ins = (tmp_path / "bin", tmp_path / "backend")  # the keyring itself holds it
    found = files_containing(TOKEN, tmp_path)
    assert [f for f in found if not any(f.is_relative_to(s) for s in stand_ins)] == []


def test_an_index_line_with_a_user_name_takes_its_password_from_the_keyring_command(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str, engine: str
) -> None:
    """README's Google Artifact Registry recipe, with a local stand-in for the registry and for
    ``keyrings.google-artifactregistry-auth``'s keyring."""
    user = "oauth2accesstoken"
    url = registry(server, tmp_path, user).replace("http://", f"http://{user}@")
    log = tmp_path / "keyring-calls.log"
    keyring_command(tmp_path / "bin", log)
    project.env.update(
        PIP_INDEX_URL=index,
        PIP_KEYRING_PROVIDER="subprocess",
        PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
    )
    project.write("models.txt", f"--extra-index-url {url}\nprodigy==1.15.3\n")
    project.write("requirements.in", "tinyspacy<3.9\n")
    with CommandLineSpy(TOKEN) as spy:
        run = project.pipmodels(
            "sync", "-v", "-m", "models.txt", "--python-executable", venv.python
        )
    assert spy.leaks == set()
    assert "prodigy" in venv.freeze()
    assert "get http://127.0.0.1:" in log.read_text()  # asked with the index's URL and user
    check_nothing_leaked([run.output], tmp_path)


def test_a_direct_reference_with_a_user_name_takes_its_password_from_a_keyring_backend(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str
) -> None:
    """``PIP_KEYRING_PROVIDER=import``: the keyring package, with a real backend, in the
    pipmodels process; nothing is started for it."""
    registry(server, tmp_path)
    backend = keyring_backend(tmp_path / "backend")
    wheel = f"{server.url}/registry/packages/prodigy-1.15.3-py3-none-any.whl"
    project.env.update(
        PIP_INDEX_URL=index,
        PIP_KEYRING_PROVIDER="import",
        PYTHON_KEYRING_BACKEND=backend,
        PYTHONPATH=str(tmp_path / "backend"),
    )
    project.write("requirements.in", f"prodigy @ {wheel.replace('http://', 'http://__token__@')}\n")
    with CommandLineSpy(TOKEN) as spy:
        run = project.pipmodels("sync", "--python-executable", venv.python)
    assert spy.leaks == set()
    assert "prodigy" in venv.freeze()
    assert "prodigy==1.15.3" in (project.root / "requirements.txt").read_text()
    check_nothing_leaked([run.output], tmp_path)


def test_without_a_keyring_provider_the_keyring_is_not_asked(
    server: Server, project: Project, tmp_path: Path, index: str
) -> None:
    """pip's default asks no keyring: neither does pipmodels, and the refusal names the URL."""
    url = registry(server, tmp_path, "oauth2accesstoken").replace(
        "http://", "http://oauth2accesstoken@"
    )
    log = tmp_path / "keyring-calls.log"
    keyring_command(tmp_path / "bin", log)
    project.env.update(
        PIP_INDEX_URL=index, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    )
    project.write("models.txt", f"--extra-index-url {url}\nprodigy==1.15.3\n")
    run = project.pipmodels("download", "-m", "models.txt", check=False)
    assert run.returncode == 1
    assert "refused the credentials" in run.output or "asks for credentials" in run.output
    assert not log.exists()
