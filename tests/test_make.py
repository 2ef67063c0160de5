"""examples/ as a user meets it: a fresh copy, the real make, the real package index.

Installing pipmodels into the example's venv needs the package index, so make runs with the
machine's own pip configuration, captured here before the autouse fixture hides it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import SECRET, Run, Venv
from tests.servers import Server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MACHINE_ENV = dict(os.environ)
EDITABLE_INPUTS = ("requirements.in", "requirements-models.txt", ".env")
TOOLS_RUN = ("pip ", "pipmodels ", "python")


def copy_examples(dest: Path) -> list[Path]:
    """Copy what a fresh clone has in examples/: tracked files and new ones git would not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "examples"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    copied = []
    for name in filter(None, out.split("\0")):
        if not (REPO / name).is_file():
            continue  # deleted in the working tree
        target = dest / Path(name).relative_to("examples")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
        copied.append(target)
    return copied


@dataclass
class Example:
    root: Path
    first_install: Run
    first_install_seconds: float

    @property
    def venv(self) -> Venv:
        return Venv(self.root / ".venv")

    def make(self, *targets: str, check: bool = True) -> Run:
        env = {
            name: value
            for name, value in MACHINE_ENV.items()
            if not name.startswith(("PIPMODELS_", "MAKE", "MFLAGS"))
        }
        proc = subprocess.run(
            ["make", *targets, f"PIPMODELS_SRC={REPO}"],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        run = Run(proc.returncode, proc.stdout, "")
        if check and proc.returncode != 0:
            raise AssertionError(f"make {' '.join(targets)} failed:\n{run.output}")
        return run

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def read(self, name: str) -> str:
        return (self.root / name).read_text()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Example:
    """One copy of examples/ after its first ``make install``, shared to save a venv per test."""
    root = tmp_path_factory.mktemp("example")
    copy_examples(root)
    example = Example(root, Run(0, "", ""), 0.0)
    started = time.monotonic()
    example.first_install = example.make("install")
    example.first_install_seconds = time.monotonic() - started
    return example


@pytest.fixture
def example(installed: Example) -> Iterator[Example]:
    """The installed example; whatever a test edits is put back and installed again after it."""
    saved = {
        name: installed.read(name) if (installed.root / name).exists() else None
        for name in EDITABLE_INPUTS
    }
    yield installed
    changed = False
    for name, text in saved.items():
        path = installed.root / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        changed = True
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    if changed:
        installed.make("install")


def assert_did_nothing(run: Run) -> None:
    assert "Nothing to be done for 'install'" in run.output, run.output
    assert not any(tool in run.output for tool in TOOLS_RUN), run.output


def test_first_install_puts_the_demo_model_in_the_venv(example: Example) -> None:
    print(f"first make install: {example.first_install_seconds:.1f} s")
    print(example.first_install.output)
    assert "pipmodels sync" in example.first_install.output
    version = example.venv.run("import en_demo_pipeline as m; print(m.__version__, m.load()[0])")
    assert version == "1.0.0 hello"
    freeze = example.venv.freeze()
    assert freeze["en-demo-pipeline"] == "1.0.0"
    assert "six" in freeze
    assert "en-demo-pipeline==1.0.0" in example.read("requirements.txt")


def test_second_install_does_nothing(example: Example) -> None:
    lock = example.root / "requirements.txt"
    lock_time = lock.stat().st_mtime_ns
    installed_times = example.venv.installed_times()
    cache = example.root / ".pipmodels-cache"
    cached = sorted(p.name for p in cache.iterdir())

    started = time.monotonic()
    again = example.make("install")
    print(f"second make install: {time.monotonic() - started:.2f} s")

    assert_did_nothing(again)
    assert lock.stat().st_mtime_ns == lock_time
    assert example.venv.installed_times() == installed_times
    assert sorted(p.name for p in cache.iterdir()) == cached


def test_editing_requirements_in_recompiles(example: Example) -> None:
    lock = example.root / "requirements.txt"
    example.write("requirements.in", example.read("requirements.in").replace("six\n", "six<1.17\n"))

    assert example.make("check", check=False).returncode != 0
    assert "six==1.17.0" in lock.read_text(), "make check changed requirements.txt"

    run = example.make("install")
    print(run.output)
    assert "pipmodels compile" in run.output
    assert "six==1.16.0" in lock.read_text()
    assert example.venv.freeze()["six"] == "1.16.0"
    assert example.make("check").returncode == 0
    assert_did_nothing(example.make("install"))


def test_private_page_key_comes_from_env_and_is_never_shown(
    example: Example, server: Server, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path / "dist", "prodigy", "1.15.3")
    page = server.add_find_links_page("/prodigy", SECRET, [wheel])
    example.write(".env", f"PRODIGY_KEY={SECRET}\n")
    # --no-index keeps the lookup of this stand-in off the real index, where "prodigy" may exist.
    private_page = page.replace("http://", "http://${PRODIGY_KEY}@")
    example.write(
        "requirements-models.txt",
        example.read("requirements-models.txt")
        + f"-f {private_page}\n--no-index\nprodigy==1.15.3\n",
    )

    run = example.make("install")
    print(run.output)
    again = example.make("install")

    assert example.venv.run("import prodigy; print(prodigy.__version__)") == "1.15.3"
    assert "prodigy==1.15.3" in example.read("requirements.txt")
    assert server.bytes_of(wheel.name) == wheel.stat().st_size
    assert SECRET not in run.output + again.output
    assert_did_nothing(again)
    leaks = [
        path
        for path in example.root.rglob("*")
        if path.name != ".env" and path.is_file() and SECRET.encode() in path.read_bytes()
    ]
    assert leaks == []


def test_clean_leaves_what_a_clone_has(tmp_path: Path) -> None:
    root = tmp_path / "example"
    shipped = {path.relative_to(root).parts[0] for path in copy_examples(root)}
    for name in ("dist", ".venv", ".pipmodels-cache", "requirements.txt", "pylock.toml"):
        (root / name).mkdir()
    Example(root, Run(0, "", ""), 0.0).make("clean")
    assert {path.name for path in root.iterdir()} == shipped
