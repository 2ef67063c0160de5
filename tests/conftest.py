from __future__ import annotations

import ensurepip
import importlib.metadata
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from pipmodels import engines
from tests.builders import build_wheel
from tests.servers import Server

SECRET = "s3cr3t-prodigy-key-7f2a9c"
UNREACHABLE_INDEX = "http://127.0.0.1:9/simple/"
# The machine's own environment, pip configuration included, taken before the autouse fixture
# hides it: fixtures that install from the package index (a pip release) run with it.
MACHINE_ENV = dict(os.environ)
# The oldest pip the test environment may hold (setup.cfg's test extra asks for it): the newest
# release when the pip-version tests were written.
NEWEST_PIP = "26.3"


@pytest.fixture(autouse=True)
def isolated_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the machine's pip configuration and caches out of every test."""
    for name in list(os.environ):
        if name.startswith(("PIP_", "PIPMODELS_", "GITHUB_", "GH_", "UV_", "TWINE_")) or name in (
            "NO_COLOR",
            "NETRC",
        ):
            monkeypatch.delenv(name)
    # pipmodels' own state (fast-path records, run folders) and the user's netrc stay per test.
    monkeypatch.setenv("PIPMODELS_STATE_DIR", str(tmp_path / "pipmodels-state"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "10")
    monkeypatch.setenv("PIP_RETRIES", "0")
    # Nothing reaches the real package index: tests that need one start their own.
    monkeypatch.setenv("PIP_INDEX_URL", UNREACHABLE_INDEX)
    # uv: no uv.toml of the machine's, its cache per test, and no retrying a refused connection.
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "10")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


class CommandLineSpy:
    """Samples the command line of every process this test started, directly or not, while a
    run goes, to catch a secret on one. (Other tests' processes, on a shared machine or under
    parallel workers, are not this run's.)"""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.needles = [n.encode() for n in secret_forms(secret)]
        self.leaks: set[str] = set()
        self.commands: set[str] = set()
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as stream:
                        raw = stream.read().replace(b"\0", b" ")
                except OSError:
                    continue
                cmdline = raw.decode(errors="replace")
                leaked = any(needle in raw for needle in self.needles)
                if "pip" not in cmdline and not leaked:
                    continue
                # Another test's process (pytest -n, a shared machine) is not this run's.
                ours = _descends_from(int(entry.name), os.getpid(), parents)
                if "pip" in cmdline and ours:
                    self.seen += 1
                    self.commands.add(cmdline)
                if leaked and ours is not False:  # gone before it was asked: count it
                    self.leaks.add(cmdline)
            self._stop.wait(0.005)

    def __enter__(self) -> CommandLineSpy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _parent(pid: int, known: dict[int, int]) -> int | None:
    """``pid``'s parent, read from /proc once per sample; None when it is gone."""
    if pid not in known:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:
            return None
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        known[pid] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return known[pid]


def _descends_from(pid: int, root: int, known: dict[int, int]) -> bool | None:
    """Whether ``pid`` is ``root`` or one of its descendants; None when it is gone before
    it could be asked (a leak seen on such a process still counts)."""
    for _ in range(64):
        if pid == root:
            return True
        parent = _parent(pid, known)
        if parent is None:
            return None
        if parent <= 1:
            return False
        pid = parent
    return False


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A user's project folder and the commands they run in it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    python: str = sys.executable  # the tool environment pipmodels runs in
    spy_secret: str | None = None
    spy_hits: int = 0

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def pipmodels(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300,
        python_args: tuple[str, ...] = (),
    ) -> Run:
        cmd = [self.python, *python_args, "-m", "pipmodels", *args]
        env = {**os.environ, **self.env}
        if self.spy_secret:
            with CommandLineSpy(self.spy_secret) as spy:
                proc = subprocess.run(
                    cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout
                )
            assert not spy.leaks, f"secret on a command line: {spy.leaks}"
            assert spy.seen, "the command-line spy saw no pip process"
        else:
            proc = subprocess.run(
                cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout
            )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(run)
        if check and proc.returncode != 0:
            raise AssertionError(f"pipmodels {' '.join(args)} failed:\n{run.output}")
        return run

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``pipmodels ARGS`` in the background, in a process group of its own."""
        return subprocess.Popen(
            [self.python, "-m", "pipmodels", *args],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def on_a_terminal(self, *args: str) -> tuple[int, bytes]:
        """``pipmodels ARGS`` with stderr on a pseudo-terminal: its exit code and what it
        wrote there, escape codes and carriage returns included."""
        import pty

        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipmodels", *args],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=120)
        os.close(leader)
        return proc.returncode, seen

    def files_containing(self, needle: str, root: Path | None = None) -> list[Path]:
        """Files under ``root`` (default: the project) whose name or content holds ``needle``."""
        return files_containing(needle, root or self.root)


def secret_forms(secret: str) -> list[str]:
    """The secret as it could appear anywhere: as is, percent-encoded, and in the base64 of a
    basic-auth header (as the user name with no password, or as the password)."""
    import base64
    from urllib.parse import quote

    forms = {secret, quote(secret, safe="")}
    for pair in (f"{secret}:", f"user:{secret}", f"__token__:{secret}"):
        forms.add(base64.b64encode(pair.encode()).decode())
    return sorted(forms)


def files_containing(needle: str, root: Path) -> list[Path]:
    """Files under ``root`` whose name or content holds ``needle`` in any of its forms."""
    forms = [f.encode() for f in secret_forms(needle)]
    hits = []
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        data = path.read_bytes() if path.is_file() else b""
        if any(f.decode() in path.name or f in data for f in forms):
            hits.append(path)
    return hits


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    return Project(root)


ENGINES = list(engines.NAMES)  # every registered engine


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, project: Project) -> str:
    """Each engine in turn, chosen the way CI would: PIPMODELS_ENGINE."""
    name: str = request.param
    project.env["PIPMODELS_ENGINE"] = name
    return name


@dataclass
class Venv:
    root: Path

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def freeze(self) -> dict[str, str]:
        out = subprocess.run(
            [self.python, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        pairs = (line.split("==", 1) for line in out.splitlines() if "==" in line)
        return {canonicalize_name(name): version for name, version in pairs}

    def installed_times(self) -> dict[str, float]:
        """When each dist-info folder was written: a reinstall changes it."""
        site = next((self.root / "lib").glob("python*/site-packages"))
        return {p.name: p.stat().st_mtime_ns for p in site.glob("*.dist-info")}

    def install_offline(self, wheels: Path, *names: str) -> None:
        """Install ``names`` from a folder of wheels, as from an index (no direct URL)."""
        subprocess.run(
            [
                self.python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-index",
                "--find-links",
                str(wheels),
                *names,
            ],
            check=True,
        )

    def run(self, code: str) -> str:
        return subprocess.run(
            [self.python, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()


@pytest.fixture(scope="session")
def venv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment, made once per session with `python -m venv` (bundled pip)."""
    root = tmp_path_factory.mktemp("venv-template") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    return root


def copy_venv(template: Path, root: Path) -> Venv:
    """What `python -m venv root` would make, copied from ``template`` in a tenth of the time
    (installing the bundled pip is most of venv's seconds). The text files in bin/ that name
    the template's folder (pip's scripts, activate) are rewritten to name the copy's."""
    shutil.copytree(template, root, symlinks=True)
    old, new = str(template).encode(), str(root).encode()
    for path in (root / "bin").iterdir():
        if path.is_file() and not path.is_symlink() and old in (data := path.read_bytes()):
            path.write_bytes(data.replace(old, new))
    return Venv(root)


@pytest.fixture
def venv(venv_template: Path, tmp_path: Path) -> Venv:
    return copy_venv(venv_template, tmp_path / "venv")


@pytest.fixture(scope="session")
def pipmodels_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel, to install into throwaway environments offline."""
    dest = tmp_path_factory.mktemp("pipmodels-wheel")
    # Built from a copy of the tree: a build writes build/ and *.egg-info beside the sources,
    # which parallel workers (pytest -n) and the make test's editable install would share.
    root = tmp_path_factory.mktemp("pipmodels-source")
    source = Path(__file__).resolve().parent.parent
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (source / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, root / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dest),
            str(root),
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    return next(dest.glob("pipmodels-*.whl"))


@pytest.fixture
def index(server: Server, tmp_path: Path) -> str:
    """A PEP 503 index with the ordinary dependencies of the demo models."""
    dist = tmp_path / "index-files"
    archives = [
        build_wheel(dist, "tinyspacy", "3.8.2"),
        build_wheel(dist, "tinyspacy", "3.9.0"),
        build_wheel(dist, "helperlib", "1.0.0"),
    ]
    return server.add_index(archives)


def requirements_body(text: str) -> str:
    """requirements.txt without its header of comment lines."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[start:])


# Which pip runs where. pipmodels runs `pip download` and pip-compile with the pip of its own
# environment (the tool's), and pip-sync installs with the target's pip (`python -m pip` of
# --python-executable). The test environment holds the newest pip (setup.cfg's test extra asks
# for NEWEST_PIP or later); `python -m venv` bundles an older one, which every other test's
# target keeps. The tests that take `pips` run their flow twice: the bundled pip on both sides,
# and the newest pip on both sides.
BUNDLED_PIP = ensurepip.version()
PIPS = {
    f"pip {BUNDLED_PIP} (bundled) on both sides": "bundled",
    "the newest pip on both sides": "newest",
}


def pip_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('pip'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def from_the_index(python: str, *args: str) -> None:
    """``python -m pip ARGS`` with the machine's own pip configuration, which reaches the index."""
    proc = subprocess.run(
        [python, "-m", "pip", *args],
        env=MACHINE_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def newest_pip_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test environment's own pip release as a wheel from the package index, fetched once."""
    version = importlib.metadata.version("pip")
    assert Version(version) >= Version(NEWEST_PIP), (
        f"the test environment holds pip {version}; its test extra asks for pip>={NEWEST_PIP}"
    )
    dest = tmp_path_factory.mktemp("newest-pip")
    from_the_index(
        sys.executable,
        "download",
        "-q",
        "--no-deps",
        "--only-binary",
        ":all:",
        "-d",
        str(dest),
        f"pip=={version}",
    )
    return next(dest.glob("pip-*.whl"))


@pytest.fixture(scope="session")
def bundled_pip_tool(
    tmp_path_factory: pytest.TempPathFactory, venv_template: Path, pipmodels_wheel: Path
) -> str:
    """A tool environment as a user makes it: `python -m venv`, its bundled pip kept, then
    pipmodels and what it needs from the package index. Its Python."""
    root = tmp_path_factory.mktemp("bundled-pip-tool") / "venv"
    python = copy_venv(venv_template, root).python
    from_the_index(python, "install", "-q", str(pipmodels_wheel))
    assert pip_version(python) == BUNDLED_PIP
    return python


@dataclass(frozen=True)
class ToolPip:
    """The Python that pipmodels runs in, and its pip."""

    python: str
    version: str


@pytest.fixture(params=list(PIPS.values()), ids=list(PIPS))
def tool_pip(request: pytest.FixtureRequest, project: Project) -> ToolPip:
    """The bundled pip, or the newest, in the tool's environment: the project's commands run
    there."""
    if request.param == "bundled":
        python: str = request.getfixturevalue("bundled_pip_tool")
    else:
        python = sys.executable
    project.python = python
    return ToolPip(python, pip_version(python))


@dataclass(frozen=True)
class Pips:
    """The pip on each side of one run: the tool's (pipmodels runs in it) and the target's."""

    tool: ToolPip
    venv: Venv


@pytest.fixture
def pips(request: pytest.FixtureRequest, tool_pip: ToolPip, tmp_path: Path) -> Pips:
    """The tool's pip, bundled or newest, and a target venv that holds the same pip."""
    venv = copy_venv(request.getfixturevalue("venv_template"), tmp_path / "target")
    if tool_pip.version != BUNDLED_PIP:
        wheel: Path = request.getfixturevalue("newest_pip_wheel")
        # As a user upgrades: from an index (here a folder of it), not from a file's path,
        # which pip records as a direct URL; pip-sync then takes pip for a package of the
        # user's and uninstalls it (pip-tools 7.6; with any pip).
        venv.install_offline(wheel.parent, f"pip=={tool_pip.version}")
    assert pip_version(venv.python) == tool_pip.version
    return Pips(tool_pip, venv)
