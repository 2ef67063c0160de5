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
    pip = [venv.python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*pip, "pipmodels[uv,publish]", "stray"], check=True)
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


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "app"
version = "0.1.0"
dependencies = [
    "tinyspacy>=3.8,<3.9",
    "en_core_web_sm @ {sm}",
]

[project.optional-dependencies]
german = ["de_core_news_sm @ {de}"]
all = ["app[german]"]

[dependency-groups]
dev = ["helperlib"]
"""


def test_pyproject_dependencies_extras_and_groups_go_through_the_cache(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path, engine: str
) -> None:
    dist = tmp_path / "dist"
    sm = build_wheel(dist, "en_core_web_sm", "3.8.0", payload=200_000)
    de = build_wheel(dist, "de_core_news_sm", "3.8.0", payload=150_000)
    sm_url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", sm)
    de_url = server.add_release_asset("explosion/spacy-models", "de_core_news_sm-3.8.0", de)
    project.write("pyproject.toml", PYPROJECT.format(sm=sm_url, de=de_url))
    project.env["PIP_INDEX_URL"] = index
    sync = ("sync", "pyproject.toml", "--extra", "all", "--group", "dev")

    project.pipmodels(*sync, "--python-executable", venv.python)

    text = (project.root / "requirements.txt").read_text()
    for pin in ("en-core-web-sm==3.8.0", "de-core-news-sm==3.8.0", "tinyspacy==3.8.2"):
        assert pin in text
    assert "helperlib==1.0.0" in text
    assert "# via app (pyproject.toml)" in text
    assert "@ http" not in text and "releases/download" not in text
    assert server.bytes_of(sm.name) == sm.stat().st_size  # once, into the cache
    assert server.bytes_of(de.name) == de.stat().st_size
    assert (project.root / ".pipmodels-cache" / sm.name).is_file()
    packages = venv.freeze()
    assert packages["en-core-web-sm"] == "3.8.0" and packages["de-core-news-sm"] == "3.8.0"
    assert packages["helperlib"] == "1.0.0"

    server.reset_counts()
    installed_at = venv.installed_times()
    again = project.pipmodels(*sync, "--python-executable", venv.python)
    assert "Up to date: nothing changed" in again.stderr
    assert server.bytes_of(sm.name) == server.bytes_of(de.name) == 0
    assert venv.installed_times() == installed_at

    # Without the group and the extra, their packages leave the environment, as with pip-sync.
    project.pipmodels("sync", "pyproject.toml", "--python-executable", venv.python)
    packages = venv.freeze()
    assert "de-core-news-sm" not in packages and "helperlib" not in packages
    assert packages["en-core-web-sm"] == "3.8.0"
    assert server.bytes_of(sm.name) == 0  # recompiled from the cache
