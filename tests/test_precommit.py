"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real pre-commit in a user's repo.

pre-commit installs the hooks' environment from a commit of this repository. The test commits a
snapshot of the working tree (tracked files and new ones git would not ignore) so that it checks
the code as it is now, and builds the environment once per module with the machine's own pip
configuration, captured here before the autouse fixture hides it: that step needs the package
index. The hooks then run in the isolated environment, on local wheels only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MACHINE_ENV = dict(os.environ)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@dataclass(frozen=True)
class HookRepo:
    path: Path
    rev: str
    home: Path  # PRE_COMMIT_HOME, where the hooks' environment is built once


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> HookRepo:
    root = tmp_path_factory.mktemp("hook-repo")
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    git(root, "init", "-q")
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "snapshot")
    repo = HookRepo(root, git(root, "rev-parse", "HEAD"), tmp_path_factory.mktemp("pre-commit"))
    # Build the hooks' environment now, from the real index, in a throwaway user repo.
    user = tmp_path_factory.mktemp("install-hooks")
    git(user, "init", "-q")
    (user / ".pre-commit-config.yaml").write_text(config(repo, "pipmodels-compile"))
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install-hooks"],
        cwd=user,
        env={**MACHINE_ENV, "PRE_COMMIT_HOME": str(repo.home)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo


def config(repo: HookRepo, hook: str) -> str:
    return f"repos:\n  - repo: {repo.path}\n    rev: {repo.rev}\n    hooks:\n      - id: {hook}\n"


@dataclass
class UserRepo:
    root: Path
    hooks: HookRepo
    env: dict[str, str]

    def pre_commit(self, *args: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", *args],
            cwd=self.root,
            env={**self.env, **GIT_IDENTITY, "PRE_COMMIT_HOME": str(self.hooks.home)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def pipmodels(self, *args: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "pipmodels", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        assert proc.returncode == 0, run.output
        return run

    @property
    def lock(self) -> Path:
        return self.root / "requirements.txt"


def make_user_repo(root: Path, hooks: HookRepo, env: dict[str, str]) -> UserRepo:
    """A repo whose requirements.txt, made by pipmodels compile, is committed and current."""
    root.mkdir()
    build_wheel(root / "wheels", "demo_model", "1.0.0")
    build_wheel(root / "wheels", "other_model", "2.0.0")
    (root / "requirements.in").write_text("./wheels/demo_model-1.0.0-py3-none-any.whl\n")
    (root / ".gitignore").write_text(".pipmodels-cache/\n")
    (root / ".pre-commit-config.yaml").write_text(config(hooks, "pipmodels-compile"))
    repo = UserRepo(root, hooks, env)
    repo.pipmodels("compile")
    git(root, "init", "-q")
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "models")
    return repo


@pytest.fixture
def user_repo(hook_repo: HookRepo, tmp_path: Path) -> UserRepo:
    return make_user_repo(tmp_path / "user", hook_repo, dict(os.environ))


def add_other_model(repo: UserRepo) -> None:
    with (repo.root / "requirements.in").open("a") as stream:
        stream.write("./wheels/other_model-2.0.0-py3-none-any.whl\n")


def test_compile_hook_passes_when_requirements_txt_is_current(user_repo: UserRepo) -> None:
    before = user_repo.lock.read_text()
    run = user_repo.pre_commit("run", "--all-files")
    assert run.returncode == 0, run.output
    assert "pipmodels compile" in run.output and "Passed" in run.output
    assert user_repo.lock.read_text() == before


def test_compile_hook_fails_and_updates_a_stale_requirements_txt(user_repo: UserRepo) -> None:
    add_other_model(user_repo)

    run = user_repo.pre_commit("run", "--all-files")
    print(run.output)

    assert run.returncode == 1
    assert "files were modified by this hook" in run.output
    text = user_repo.lock.read_text()
    assert "other-model==2.0.0" in text and "demo-model==1.0.0" in text
    git(user_repo.root, "add", "--all")
    assert user_repo.pre_commit("run", "--all-files").returncode == 0


def test_check_hook_by_try_repo_fails_without_writing(hook_repo: HookRepo, tmp_path: Path) -> None:
    # try-repo builds the hooks' environment afresh in a store of its own, from the real index.
    user_repo = make_user_repo(tmp_path / "user", hook_repo, MACHINE_ENV)
    hooks = user_repo.hooks
    try_repo = ("try-repo", str(hooks.path), "pipmodels-check", "--ref", hooks.rev, "--all-files")
    assert user_repo.pre_commit(*try_repo).returncode == 0
    add_other_model(user_repo)
    before = user_repo.lock.read_text()

    run = user_repo.pre_commit(*try_repo)
    print(run.output)

    assert run.returncode == 1
    assert "out of date" in run.output
    assert user_repo.lock.read_text() == before
