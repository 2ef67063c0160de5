"""Habits of real users (issue 19): what they install, what they pass, what they add by hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Project, Venv
from tests.servers import Server

pytestmark = pytest.mark.slow


def _stand_ins(wheels: Path) -> None:
    """pipmodels' dependencies and its extras' dependencies as small wheels, so that
    ``pip install 'pipmodels[uv,publish]'`` resolves offline as it would from an index."""
    for name in ("pip-tools", "click", "packaging", "requests", "filelock", "python-dotenv"):
        build_wheel(wheels, name, "99.0")
    build_wheel(wheels, "uv", "0.13.9")
    build_wheel(wheels, "twine", "6.0.0", requires=["keyring>=15"])
    build_wheel(wheels, "keyring", "25.0.0", requires=["jaraco.classes"])
    build_wheel(wheels, "jaraco.classes", "3.4.0")
    build_wheel(wheels, "stray", "1.0")


def test_sync_keeps_pipmodels_and_the_extras_it_was_installed_with(
    project: Project,
    venv: Venv,
    tmp_path: Path,
    pipmodels_wheel: Path,
    engine: str,
    server: Server,
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(pipmodels_wheel, wheels)
    _stand_ins(wheels)
    subprocess.run(
        [venv.python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
        + ["pipmodels[uv,publish]", "stray"],
        check=True,
    )
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    project.write("requirements.in", f"{model}\n")
    if engine == "uv":
        project.env["PIP_INDEX_URL"] = server.add_index([])

    run = project.pipmodels("sync", "--python-executable", venv.python)

    packages = venv.freeze()
    assert packages["en-demo"] == "1.0.0"
    for kept in ("pipmodels", "uv", "twine", "keyring", "jaraco-classes", "pip-tools", "click"):
        assert kept in packages, f"{kept} was removed:\n{run.output}"
    assert "stray" not in packages
    assert "removed: stray" in run.stderr
