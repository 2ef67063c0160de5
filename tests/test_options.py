"""Options a pip-tools user reaches for, [tool.pipmodels], --check and --dry-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Project, Venv, requirements_body


@pytest.fixture
def demo(project: Project, index: str, tmp_path: Path) -> Path:
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0", requires=["tinyspacy"])
    project.write("requirements.in", f"en_demo @ {model.as_uri()}\ntinyspacy<3.9\n")
    project.env["PIP_INDEX_URL"] = index
    return model


@pytest.mark.slow
def test_check_names_what_differs_and_writes_nothing(demo: Path, project: Project) -> None:
    missing = project.pipmodels("compile", "--check", check=False)
    assert missing.returncode == 1
    assert "requirements.txt does not exist" in missing.stderr
    assert not (project.root / "requirements.txt").exists()

    project.pipmodels("compile")
    assert project.pipmodels("compile", "--check").returncode == 0

    project.write(
        "requirements.in",
        project.root.joinpath("requirements.in")
        .read_text()
        .replace("tinyspacy<3.9", "tinyspacy>=3.9"),
    )
    before = (project.root / "requirements.txt").read_text()
    stale = project.pipmodels("compile", "--check", check=False)
    assert stale.returncode == 1
    assert "requirements.txt is out of date with its inputs" in stale.stderr
    assert "-tinyspacy==3.8.2" in stale.stderr
    assert "+tinyspacy==3.9.0" in stale.stderr
    assert (project.root / "requirements.txt").read_text() == before


@pytest.mark.slow
def test_sync_check_and_dry_run_change_nothing(demo: Project, project: Project, venv: Venv) -> None:
    project.pipmodels("compile")
    run = project.pipmodels("sync", "--check", "--python-executable", venv.python, check=False)
    assert run.returncode == 1
    assert "en-demo" in run.stderr.lower().replace("_", "-")
    dry = project.pipmodels("sync", "--dry-run", "--python-executable", venv.python)
    assert "Would install" in dry.stdout
    assert "en-demo" not in venv.freeze()
    project.pipmodels("sync", "--python-executable", venv.python)
    assert project.pipmodels("sync", "--check", "--python-executable", venv.python).returncode == 0


@pytest.mark.slow
def test_compile_dry_run_prints_instead_of_writing(demo: Path, project: Project) -> None:
    run = project.pipmodels("compile", "--dry-run", "--no-generate-hashes")
    assert "en-demo==1.0.0\n" in run.stdout
    assert not (project.root / "requirements.txt").exists()


@pytest.mark.slow
def test_pyproject_settings_and_command_line_override(
    demo: Path, project: Project, tmp_path: Path
) -> None:
    project.write(
        "pyproject.toml",
        '[tool.pipmodels]\ncache-dir = "build/models"\ngenerate-hashes = false\n'
        'pip-compile-args = ["--no-emit-index-url"]\n',
    )
    project.pipmodels("compile")
    text = (project.root / "requirements.txt").read_text()
    assert "--hash" not in text
    assert "--index-url" not in text
    assert (project.root / "build" / "models" / demo.name).is_file()

    project.pipmodels("compile", "--generate-hashes", "--cache-dir", str(tmp_path / "c"))
    assert "--hash=sha256:" in (project.root / "requirements.txt").read_text()
    assert (tmp_path / "c" / demo.name).is_file()


def test_unknown_pyproject_setting_is_an_error(demo: Path, project: Project) -> None:
    project.write("pyproject.toml", '[tool.pipmodels]\ncache_dir = "x"\n')
    run = project.pipmodels("compile", check=False)
    assert run.returncode == 1
    assert "[tool.pipmodels] has no setting 'cache_dir'" in run.stderr


@pytest.mark.slow
def test_upgrade_package_passes_through(demo: Path, project: Project) -> None:
    project.write(
        "requirements.in",
        project.root.joinpath("requirements.in").read_text().replace("tinyspacy<3.9", "tinyspacy"),
    )
    (project.root / "requirements.txt").write_text("tinyspacy==3.8.2\n")
    project.pipmodels("compile", "--no-generate-hashes")
    assert "tinyspacy==3.8.2" in (project.root / "requirements.txt").read_text()
    project.pipmodels("compile", "--no-generate-hashes", "-P", "tinyspacy")
    assert "tinyspacy==3.9.0" in (project.root / "requirements.txt").read_text()


def test_help_shows_an_example(project: Project) -> None:
    for command in ("download", "compile", "sync", "links"):
        assert "Example" in project.pipmodels(command, "--help").stdout


@pytest.mark.slow
def test_pyproject_as_an_input(project: Project, index: str, tmp_path: Path) -> None:
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    project.write(
        "pyproject.toml",
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "my-app"\nversion = "0.1"\ndependencies = ["tinyspacy<3.9"]\n\n'
        # pip-compile builds the project's metadata; offline, with this environment's setuptools
        '[tool.pipmodels]\npip-compile-args = ["--no-build-isolation"]\n',
    )
    project.write("models.txt", f"{model}\n")
    project.env["PIP_INDEX_URL"] = index

    project.pipmodels("compile", "--no-generate-hashes", "-m", "models.txt", "pyproject.toml")

    body = requirements_body((project.root / "requirements.txt").read_text())
    assert body == (
        "en-demo==1.0.0\n    # via -r models.txt\n"
        "tinyspacy==3.8.2\n    # via my-app (pyproject.toml)\n"
    )


@pytest.mark.slow
def test_the_users_pip_configuration_is_respected(
    project: Project, index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index set in pip.conf, not in the environment, is what compile resolves from; it
    is not written into requirements.txt."""
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0", requires=["helperlib"])
    project.write("requirements.in", f"{model}\n")
    config = project.write("pip.conf", f"[global]\nindex-url = {index}\n")
    monkeypatch.delenv("PIP_INDEX_URL")
    project.env["PIP_CONFIG_FILE"] = str(config)

    project.pipmodels("compile", "--no-generate-hashes")

    text = (project.root / "requirements.txt").read_text()
    # Resolved from the user's index, which stays out of the committed lock: other machines
    # and CI have their own.
    assert "--index-url" not in text
    assert index not in text
    assert "helperlib==1.0.0\n    # via en-demo\n" in text
