"""README.md's pre-commit and CI snippets, run as written: each test reads its YAML block from
README.md itself, so what the README says is what is tested.

The pre-commit block runs with the real pre-commit in a throwaway git repository; the CI job's
Linux `run:` steps run in order in bash, as GitHub's runner runs them, with the secrets as
environment variables. The model, the keyed find-links page and the package index are local
servers, as everywhere in the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.builders import build_wheel
from tests.conftest import (
    MACHINE_ENV,
    SECRET,
    CommandLineSpy,
    Project,
    Run,
    copy_venv,
    files_containing,
)
from tests.indexes import Index, devpi
from tests.servers import Server
from tests.test_precommit import GIT_IDENTITY, git

pytestmark = pytest.mark.slow
__all__ = ["devpi"]  # fixtures

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_yaml_blocks(heading: str) -> list[str]:
    """The ```yaml blocks of README.md's section ``### heading``, in order."""
    text = README.read_text()
    start = text.index(f"\n### {heading}\n")
    end = re.compile(r"^#{1,3} ", re.M).search(text, start + 5)
    section = text[start : end.start() if end else len(text)]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, re.S | re.M)
    assert blocks, f"README.md's section {heading!r} has no yaml block"
    return blocks


@dataclass
class Models:
    """README's Usage: a spaCy model by release URL in requirements.in, Prodigy behind a key
    in requirements-models.txt."""

    project: Project
    server: Server
    dist: Path

    def add_model(self, name: str) -> None:
        wheel = build_wheel(self.dist, name, "1.0.0", payload=50_000)
        url = self.server.add_release_asset("acme/models", f"{name}-1.0.0", wheel)
        with (self.project.root / "requirements.in").open("a") as stream:
            stream.write(f"{name} @ {url}\n")


@pytest.fixture
def models(server: Server, index: str, project: Project, tmp_path: Path) -> Models:
    dist = tmp_path / "dist"
    model = build_wheel(dist, "en_core_web_sm", "3.8.0", requires=["tinyspacy>=3.8,<3.9"])
    prodigy = build_wheel(dist, "prodigy", "1.15.3", requires=["helperlib"])
    url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", model)
    page = server.add_find_links_page("/prodigy", SECRET, [prodigy])
    project.write("requirements.in", f"tinyspacy>=3.8,<3.9\nen_core_web_sm @ {url}\n")
    project.write(
        "requirements-models.txt",
        "-f " + page.replace("http://", "http://${PRODIGY_KEY}@") + "\nprodigy==1.15.3\n",
    )
    project.write(".gitignore", ".venv/\n")
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    return Models(project, server, dist)


def commit_all(root: Path) -> None:
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "change")


def no_secret_anywhere(runs: list[Run], root: Path) -> None:
    for run in runs:
        assert SECRET not in run.output
    assert files_containing(SECRET, root) == []


def pre_commit(project: Project, home: Path) -> Run:
    """`pre-commit run --all-files` with the project's environment active: its bin on PATH."""
    tool_bin = str(Path(sys.executable).parent)
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=project.root,
        env={
            **os.environ,
            **project.env,
            **GIT_IDENTITY,
            "PRE_COMMIT_HOME": str(home),
            "PATH": tool_bin + os.pathsep + os.environ["PATH"],
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def test_the_readme_pre_commit_hook_works_as_written(models: Models, tmp_path: Path) -> None:
    (block,) = readme_yaml_blocks("pre-commit")
    project = models.project
    project.write(".pre-commit-config.yaml", block)
    project.pipmodels("compile", "-m", "requirements-models.txt")
    git(project.root, "init", "-q")
    commit_all(project.root)
    lock = project.root / "requirements.txt"
    before = lock.read_text()
    home = tmp_path / "pre-commit-home"

    current = pre_commit(project, home)
    assert current.returncode == 0, current.output
    assert "pipmodels compile" in current.output and "Passed" in current.output
    assert lock.read_text() == before

    models.add_model("en_core_web_md")
    stale = pre_commit(project, home)
    assert stale.returncode == 1, stale.output
    assert "files were modified by this hook" in stale.output
    assert "en-core-web-md==1.0.0" in lock.read_text()
    assert "prodigy==1.15.3" in lock.read_text()

    commit_all(project.root)
    again = pre_commit(project, home)
    assert again.returncode == 0, again.output
    no_secret_anywhere([current, stale, again], project.root)


@pytest.fixture(scope="session")
def pipmodels_dependencies(tmp_path_factory: pytest.TempPathFactory, pipmodels_wheel: Path) -> Path:
    """pipmodels' dependencies (its publish extra's included) as wheels, from the index once."""
    dest = tmp_path_factory.mktemp("pipmodels-dependencies")
    wanted = f"{pipmodels_wheel}[publish]"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), wanted],
        env=MACHINE_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (dest / pipmodels_wheel.name).unlink()
    return dest


@pytest.fixture
def new_runner(
    venv_template: Path, tmp_path: Path, pipmodels_wheel: Path, pipmodels_dependencies: Path
) -> Callable[[str, str], Path]:
    """A new runner's `python`, as actions/setup-python puts it first on PATH: its bin folder.
    pipmodels' dependencies (and those of ``extras``) are already there: on a runner the
    install step fetches them from the index; here the only index is the test's own."""

    def make(name: str, extras: str = "") -> Path:
        root = copy_venv(venv_template, tmp_path / f"runner-{name}").root
        pip = [str(root / "bin" / "python"), "-m", "pip", "-q"]
        wheels = ["--no-index", "--find-links", str(pipmodels_dependencies)]
        subprocess.run([*pip, "install", *wheels, f"{pipmodels_wheel}{extras}"], check=True)
        subprocess.run([*pip, "uninstall", "-y", "pipmodels"], check=True)
        return root / "bin"

    return make


def step_env(env: dict[str, Any] | None, secrets: dict[str, str]) -> dict[str, str]:
    """A step's or job's `env:`, with `${{ secrets.NAME }}` filled in."""

    def value(text: str) -> str:
        return re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m: secrets[m.group(1)], text)

    return {name: value(str(text)) for name, text in (env or {}).items()}


def run_linux_steps(
    job: dict[str, Any], cwd: Path, env: dict[str, str], secrets: dict[str, str]
) -> list[tuple[str, Run]]:
    """Each `run:` step of ``job`` that runs on Linux, in order, as GitHub's runner does:
    `bash --noprofile --norc -eo pipefail`; `uses:` steps are the test's to stand in for."""
    ran = []
    for step in job["steps"]:
        if "uses" in step:
            continue
        condition = step.get("if")
        assert condition in (None, "runner.os != 'Windows'", "runner.os == 'Windows'"), condition
        if condition == "runner.os == 'Windows'":
            continue
        step_environ = {
            **env,
            **step_env(job.get("env"), secrets),
            **step_env(step.get("env"), secrets),
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env=step_environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        assert run.returncode == 0, f"{step['run']} failed:\n{run.output}"
        ran.append((step["run"], run))
    return ran


def committed(project: Project, pipmodels_wheel: Path, dest: Path) -> Path:
    """What actions/checkout gives a job: the inputs, the compiled requirements.txt and the
    wheel of pipmodels the README says to keep in tools/, and no cache."""
    if not (project.root / "requirements.txt").exists():
        project.pipmodels("compile", "-m", "requirements-models.txt")  # a developer did
    dest.mkdir()
    for name in ("requirements.in", "requirements-models.txt", "requirements.txt"):
        shutil.copy2(project.root / name, dest / name)
    (dest / "tools").mkdir()
    shutil.copy(pipmodels_wheel, dest / "tools")
    return dest


def runner_environ(runner: Path, index: str) -> dict[str, str]:
    """The runner's environment: no key in it (the steps' `env:` bring secrets), the runner's
    Python first on PATH, and the test's package index."""
    env = {name: value for name, value in os.environ.items() if name != "PRODIGY_KEY"}
    return {**env, "PIP_INDEX_URL": index, "PATH": f"{runner}{os.pathsep}{os.environ['PATH']}"}


def installed(checkout: Path) -> str:
    python = checkout / ".venv" / "bin" / "python"
    return subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def assert_synced(checkout: Path, lock: str) -> None:
    assert (checkout / "requirements.txt").read_text() == lock
    frozen = installed(checkout)
    for name, version in (
        ("en[-_]core[-_]web[-_]sm", "3.8.0"),
        ("prodigy", "1.15.3"),
        ("tinyspacy", "3.8.2"),
        ("helperlib", "1.0.0"),
    ):
        assert re.search(rf"^{name}=={version}$", frozen, re.M | re.I), frozen


def test_the_readme_ci_job_works_as_written(
    models: Models, new_runner: Callable[[str, str], Path], pipmodels_wheel: Path, tmp_path: Path
) -> None:
    job = yaml.safe_load(readme_yaml_blocks("CI")[0])["jobs"]["test"]
    checkout = committed(models.project, pipmodels_wheel, tmp_path / "checkout")
    lock = (checkout / "requirements.txt").read_text()
    env = runner_environ(new_runner("test", ""), models.project.env["PIP_INDEX_URL"])

    with CommandLineSpy(SECRET) as spy:
        ran = run_linux_steps(job, checkout, env, {"PRODIGY_KEY": SECRET})

    commands = [command for command, _ in ran]
    assert commands[1].startswith("python -m pip install tools/"), commands
    assert any(c.startswith("pipmodels compile --check") for c in commands)
    assert_synced(checkout, lock)
    assert spy.leaks == set()
    no_secret_anywhere([run for _, run in ran], tmp_path)


# The README's team index, and the user named in its URL, stand in for this test's devpi.
TEAM_INDEX = "https://models.example.com/team/models/"
TEAM_USER = "TWINE_USERNAME: team"


def test_the_readme_ci_jobs_with_a_team_mirror_work_as_written(
    models: Models,
    new_runner: Callable[[str, str], Path],
    pipmodels_wheel: Path,
    devpi: Index,
    tmp_path: Path,
) -> None:
    block = readme_yaml_blocks("CI")[1]
    assert TEAM_INDEX in block and TEAM_USER in block
    block = block.replace(TEAM_INDEX, devpi.upload_url)
    block = block.replace(TEAM_USER, f"TWINE_USERNAME: {devpi.username}")
    jobs = yaml.safe_load(block)["jobs"]
    secrets = {"PRODIGY_KEY": SECRET, "MODELS_INDEX_PASSWORD": devpi.password}
    index = models.project.env["PIP_INDEX_URL"]
    publisher = committed(models.project, pipmodels_wheel, tmp_path / "publisher")
    lock = (publisher / "requirements.txt").read_text()

    with CommandLineSpy(SECRET) as spy:
        published = run_linux_steps(
            jobs["publish-models"],
            publisher,
            runner_environ(new_runner("publish", "[publish]"), index),
            secrets,
        )
        models.server.reset_counts()
        tester = committed(models.project, pipmodels_wheel, tmp_path / "tester")
        tested = run_linux_steps(
            jobs["test"], tester, runner_environ(new_runner("test", ""), index), {}
        )

    assert any(c.startswith("pipmodels publish") for c, _ in published)
    assert_synced(tester, lock)
    # The test job never reached the model's host nor the keyed page: every model came from
    # the mirror. (The package index, /simple/, is asked about names, as for any sync.)
    origin = ("/prodigy/", "/explosion/", "/blob/")
    origin_paths = [p for p in models.server.requests if p.startswith(origin)]
    assert origin_paths == []
    assert spy.leaks == set()
    no_secret_anywhere([run for _, run in published + tested], tmp_path / "tester")
    no_secret_anywhere([], tmp_path / "publisher")
