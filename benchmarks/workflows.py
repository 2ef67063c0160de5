"""The workflows compared: pipmodels with each engine and the ways it replaces."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.proctree import Trace, traced_run
from benchmarks.world import (
    MODEL,
    PYTHON,
    REQS,
    UV,
    World,
    base_env,
    run,
)


@dataclass
class Site:
    """One workflow's project folder, target venv and environment."""

    project: Path
    python: str
    env: dict[str, str]
    world: World
    requirements: str  # what the project needs besides the model, one per line
    ran: list[tuple[str, float]] = field(default_factory=list)  # the last run's steps, seconds
    traces: list[tuple[str, Trace]] | None = None  # each step's process tree, when watched
    output: str = ""  # what the last step printed

    def step(self, label: str, cmd: Sequence[str]) -> str:
        start = time.perf_counter()
        if self.traces is None:
            self.output = run(cmd, env=self.env, cwd=self.project)
        else:
            self.output, trace = traced_run(
                cmd, env=self.env, cwd=self.project, served=lambda: self.world.model_bytes
            )
            trace.host_requests = list(self.world.log.requests)
            self.traces.append((label, trace))
        self.ran.append((label, time.perf_counter() - start))
        return self.output

    def write_inputs(self) -> None:
        text = f"{self.requirements}\n{MODEL} @ {self.world.model_url}\n"
        (self.project / REQS).write_text(text)

    @property
    def cache(self) -> Path:
        return self.project / ".pipmodels-cache"


def is_stale(target: Path, *sources: Path) -> bool:
    """make's rule: rebuild a target that is missing or older than one of its sources."""
    if not target.exists():
        return True
    return any(s.stat().st_mtime_ns > target.stat().st_mtime_ns for s in sources)


def pipmodels_cmd(site: Site, *options: str) -> list[str]:
    return [PYTHON, "-m", "pipmodels", "sync", *options, "--python-executable", site.python, REQS]


def pipmodels_sync(site: Site, *options: str) -> None:
    site.step("pipmodels sync", pipmodels_cmd(site, *options))


def pipmodels_uv(site: Site) -> None:
    site.step("pipmodels sync --engine uv", pipmodels_cmd(site, "--engine", "uv"))


@functools.cache
def has_uv_engine() -> bool:
    """The lead is adding ``--engine``; until it lands the uv-engine rows are skipped."""
    try:
        text = run([PYTHON, "-m", "pipmodels", "sync", "--help"], env=base_env(), cwd=Path.cwd())
    except Exception:
        return False
    return "--engine" in text and UV is not None


def pip_url(site: Site) -> None:
    site.step(
        "pip install",
        [*venv_pip(site.python, "install"), site.world.model_url, *site.requirements.split("\n")],
    )


def piptools_url(site: Site) -> None:
    """requirements.in with ``name @ URL``: pip-compile, then pip-sync."""
    site.step("pip-compile", [*pip_compile("req.txt"), REQS])
    site.step("pip-sync", [*pip_sync(site.python), "req.txt"])


def makefile(site: Site, *, make: bool = False) -> None:
    """The blog post's recipe: download to build/, pin by name==version, compile, sync.

    With ``make`` the steps follow make's rules: a target is rebuilt only when it is missing or
    older than its sources, so a warm run is pip-sync alone. Without it every step runs.
    """
    build, models_txt = site.project / "build", site.project / "requirements-model.txt"
    stamp, pinned_in = build / ".downloaded", site.project / "requirements-pinned.in"
    if not make or is_stale(stamp, models_txt):
        site.step(
            "pip download",
            [*venv_pip(PYTHON, "download"), "--no-deps", "-d", "build", "-r", models_txt.name],
        )
        stamp.touch()
    if not make or is_stale(pinned_in, stamp):
        pins = [pin_from_filename(p.name) for p in sorted(build.glob("*.whl"))]
        pinned_in.write_text(f"{site.requirements}\n" + "".join(f"{p}\n" for p in pins))
    if not make or is_stale(site.project / "req.txt", pinned_in):
        site.step(
            "pip-compile",
            [*pip_compile("req.txt"), "-f", "build", "--no-emit-find-links", pinned_in.name],
        )
    site.step("pip-sync", [*pip_sync(site.python), "--find-links", "build", "req.txt"])


def makefile_with_make(site: Site) -> None:
    makefile(site, make=True)


def uv_url(site: Site) -> None:
    """uv's pair over the same requirements.in: uv pip compile, then uv pip sync."""
    assert UV is not None
    site.step("uv pip compile", [UV, "pip", "compile", "-q", REQS, "-o", "req.txt"])
    site.step("uv pip sync", [UV, "pip", "sync", "-q", "--python", site.python, "req.txt"])


def venv_pip(python: str, command: str) -> list[str]:
    return [python, "-m", "pip", command, "--progress-bar", "off"]


def pip_compile(output: str) -> list[str]:
    return [PYTHON, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "-o", output]


def pip_sync(python: str) -> list[str]:
    return [PYTHON, "-m", "piptools", "sync", "--python-executable", python]


def pin_from_filename(filename: str) -> str:
    name, version = filename.split("-")[:2]
    return f"{name}=={version}"


def prepare_makefile(site: Site) -> None:
    (site.project / "requirements-model.txt").write_text(site.world.model_url + "\n")
    (site.project / "build").mkdir()


@dataclass(frozen=True)
class Workflow:
    name: str
    body: Callable[[Site], None]
    prepare: Callable[[Site], None] = Site.write_inputs
    # Other ways to run the same project warm, measured after this workflow's warm runs
    warm_variants: tuple[tuple[str, Callable[[Site], None]], ...] = ()
    inspect: bool = False  # the warm no-op's extra measurements, once warm

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.name.lower())


PIPMODELS = "pipmodels (pip-tools)"
PIPMODELS_UV = "pipmodels --engine uv"
PIP_URL = "pip + URL"
PIPTOOLS_URL = "pip-tools + URL"
MAKEFILE = "Makefile (blog)"
MAKE_DRIVEN = "Makefile, run by make"
UV_URL = "uv + URL"


def workflows() -> list[Workflow]:
    """Every workflow this machine can run: the uv ones only with uv, and the uv engine only
    once ``pipmodels sync --help`` lists ``--engine``."""
    found = [
        Workflow(PIPMODELS, pipmodels_sync, inspect=True),
        Workflow(PIPMODELS_UV, pipmodels_uv),
        Workflow(PIP_URL, pip_url),
        Workflow(PIPTOOLS_URL, piptools_url),
        Workflow(MAKEFILE, makefile, prepare_makefile, ((MAKE_DRIVEN, makefile_with_make),)),
        Workflow(UV_URL, uv_url),
    ]
    return [w for w in found if available(w.name)]


def available(name: str) -> bool:
    if name == PIPMODELS_UV:
        return has_uv_engine()
    return name != UV_URL or UV is not None


def skipped_note() -> list[str]:
    notes = []
    if not has_uv_engine():
        notes.append(
            f"{PIPMODELS_UV}: skipped, `pipmodels sync --help` lists no --engine option yet"
            + ("" if UV else " (and uv is not installed)")
        )
    if UV is None:
        notes.append(f"{UV_URL}: skipped, uv is not installed")
    return notes
