"""The warm no-op up close: what it starts, how it compares with `uv pip sync`, its imports."""

from __future__ import annotations

import shutil
import statistics
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pipmodels
from benchmarks.world import PYTHON, REQS, UV, run

if TYPE_CHECKING:
    from benchmarks.workflows import Site

INSTALLED = "pipmodels sync (warm no-op), installed as users install it"
# Modules a no-op should not need (issue 12): the check runs before any of them is useful.
HEAVY = ("click", "requests", "packaging", "piptools", "pip", "urllib3", "tomllib", "email")


@dataclass(frozen=True)
class Import:
    name: str
    self_us: int
    cumulative_us: int
    depth: int


@dataclass
class NoopFindings:
    said: list[str] = field(default_factory=list)  # what a warm run prints
    commands: list[str] = field(default_factory=list)  # the commands a warm -v run starts
    timings: dict[str, float] = field(default_factory=dict)  # label -> median seconds
    imports: list[Import] = field(default_factory=list)

    @property
    def import_total_us(self) -> int:
        return sum(i.self_us for i in self.imports)

    def by_package(self) -> dict[str, tuple[int, int]]:
        """Top-level package -> (modules, microseconds of their own import time)."""
        found: dict[str, tuple[int, int]] = {}
        for item in self.imports:
            root = item.name.split(".")[0]
            count, total = found.get(root, (0, 0))
            found[root] = (count + 1, total + item.self_us)
        return dict(sorted(found.items(), key=lambda kv: kv[1][1], reverse=True))

    def heavy_imports(self) -> dict[str, tuple[int, int]]:
        return {k: v for k, v in self.by_package().items() if k in HEAVY}


def inspect_noop(site: Site, repeat: int) -> NoopFindings:
    findings = NoopFindings(said=site.output.strip().splitlines())
    findings.commands = started_commands(site)
    findings.timings = side_by_side(site, max(5, repeat))
    findings.imports = import_times(site)
    return findings


def started_commands(site: Site) -> list[str]:
    """The commands a warm ``pipmodels sync -v`` starts (``$ ...`` lines)."""
    verbose = site.step(
        "pipmodels sync -v",
        [PYTHON, "-m", "pipmodels", "sync", "-v", "--python-executable", site.python, REQS],
    )
    return [
        line[2:].rstrip().replace(str(site.project.parent), "...").replace(PYTHON, "python")
        + (" <script>" if line.rstrip().endswith(" -c") else "")
        for line in verbose.splitlines()
        if line.startswith("$ ")
    ]


def side_by_side(site: Site, runs: int) -> dict[str, float]:
    """Median times of the warm no-op, of ``uv pip sync`` of the same requirements.txt, and of
    the bare interpreter start-up that bounds any Python no-op from below."""
    commands: dict[str, list[str]] = {
        "pipmodels sync (warm no-op)": [
            PYTHON,
            "-m",
            "pipmodels",
            "sync",
            "--python-executable",
            site.python,
            REQS,
        ],
        "python -c pass (tool venv)": [PYTHON, "-c", "pass"],
        "python -I -S -c pass": [PYTHON, "-I", "-S", "-c", "pass"],
    }
    copied = installed_copy(site.project.parent / "noop-installed", site)
    no_op_args = ["-m", "pipmodels", "sync", "--python-executable", site.python, REQS]
    commands[INSTALLED] = [copied, *no_op_args]
    commands["python -c pass (that venv)"] = [copied, "-c", "pass"]
    run([copied, *no_op_args], env=site.env, cwd=site.project)  # its own record, once
    if UV is not None:
        commands["uv pip sync (same requirements.txt)"] = [
            UV,
            "pip",
            "sync",
            "-q",
            "--python",
            site.python,
            "--find-links",
            str(site.cache),
            "requirements.txt",
        ]
    return {label: median_time(site, cmd, runs) for label, cmd in commands.items()}


def installed_copy(folder: Path, site: Site) -> str:
    """A venv holding a plain copy of pipmodels, as ``pip install pipmodels`` leaves it, its
    dependencies read from the tool venv: this checkout's editable install makes every start
    import pathlib, re and its finder, which a user's installation does not."""
    run([PYTHON, "-m", "venv", "--without-pip", str(folder)], env=site.env, cwd=site.project)
    python = folder / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        env=site.env,
        cwd=site.project,
    ).strip()
    source = Path(pipmodels.__file__).parent
    shutil.copytree(
        source, Path(purelib) / "pipmodels", ignore=shutil.ignore_patterns("__pycache__")
    )
    tool = sysconfig.get_paths()["purelib"]  # click, requests, pip-tools: for the priming run
    (Path(purelib) / "pipmodels-bench-tool.pth").write_text(tool + "\n")
    return str(python)


def median_time(site: Site, cmd: Sequence[str], runs: int) -> float:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run(cmd, env=site.env, cwd=site.project)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def import_times(site: Site) -> list[Import]:
    """``python -X importtime -m pipmodels sync`` of the warm no-op, parsed."""
    output = run(
        [
            PYTHON,
            "-X",
            "importtime",
            "-m",
            "pipmodels",
            "sync",
            "--python-executable",
            site.python,
            REQS,
        ],
        env=site.env,
        cwd=site.project,
    )
    return parse_importtime(output)


def parse_importtime(output: str) -> list[Import]:
    found = []
    for line in output.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        found.append(Import(name.strip(), int(self_us), int(cumulative), depth))
    return found
