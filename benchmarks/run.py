"""Benchmark pipmodels against the workflows it replaces, on local throttled servers.

    .venv/bin/python benchmarks/run.py [--size-mb 50] [--repeat 3] [--quick]

Results go to stdout as Markdown; progress goes to stderr. The exit status is 1 when one of the
issue's targets or of the cache checks fails. See benchmarks/README.md for what each workflow runs.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.servers and tests.builders are reused, not copied

from tests.builders import build_wheel  # noqa: E402
from tests.servers import Request, Response, Server  # noqa: E402

PYTHON = sys.executable  # runs pipmodels, pip-compile and pip-sync, as a user's tool venv would
UV = shutil.which("uv", path=str(Path(PYTHON).parent)) or shutil.which("uv")
MODEL, MODEL_VERSION = "en_core_web_bench", "3.8.0"
DEPENDENCY, DEPENDENCY_VERSION = "tinyspacy", "3.8.2"
CHUNK = 1 << 16  # the test server sleeps once per 64 kB chunk
COMMAND_TIMEOUT = 900
REQS = "requirements.in"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A command failed; the message carries the command and the tail of its output."""


# -- the world: servers, archives, isolated environments --------------------------------------


@dataclass(frozen=True)
class Config:
    size_mb: float
    repeat: int
    bandwidth: float  # MB/s per connection from the model host
    scaling: tuple[int, ...]
    fill_size_mb: float
    fill_bandwidth: float
    keep: bool


@dataclass
class World:
    """The servers and archives every workflow installs from."""

    tmp: Path
    models: Server  # the GitHub-like release host: only the big model lives here
    index: Server  # a PEP 503 index with the ordinary dependency
    index_url: str
    wheel: Path
    model_url: str

    @property
    def model_requests(self) -> int:
        return sum(self.models.requests.values())

    @property
    def model_bytes(self) -> int:
        return self.models.bytes_of(self.wheel.name)


def allow_head(server: Server) -> None:
    """Answer HEAD as GitHub does: uv asks with HEAD before it downloads a URL requirement."""

    def do_head(handler: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(handler.path).path)
        server.requests[path] += 1
        route = server.routes.get(path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        response = route(Request(path, "", headers)) if route else Response(404, b"not found")
        handler.send_response(response.status)
        for key, value in response.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()

    handler_class = server.httpd.RequestHandlerClass
    handler_class.do_HEAD = do_head  # type: ignore[attr-defined]


def throttle_for(mb_per_second: float) -> float:
    return CHUNK / (mb_per_second * 1e6) if mb_per_second > 0 else 0.0


def make_world(tmp: Path, config: Config) -> World:
    dist = tmp / "dist"
    index = Server()
    allow_head(index)
    index_url = index.add_index([build_wheel(dist / "index", DEPENDENCY, DEPENDENCY_VERSION)])
    say(f"Building a {config.size_mb:g} MB model wheel")
    wheel = build_wheel(dist, MODEL, MODEL_VERSION, payload=int(config.size_mb * 1e6))
    models = Server()
    allow_head(models)
    models.throttle = throttle_for(config.bandwidth)
    url = models.add_release_asset("explosion/spacy-models", f"{MODEL}-{MODEL_VERSION}", wheel)
    return World(tmp, models, index, index_url, wheel, url)


def isolated_env(scratch: Path, index_url: str) -> dict[str, str]:
    """The machine's pip and uv configuration left out; caches fresh for every workflow."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "PIPMODELS_", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_CACHE_DIR=str(scratch / "pip-cache"),
        PIP_INDEX_URL=index_url,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_DEFAULT_TIMEOUT="30",
        UV_CACHE_DIR=str(scratch / "uv-cache"),
        UV_INDEX_URL=index_url,
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        # pip-tools keeps its own dependency cache under the user cache folder
        XDG_CACHE_HOME=str(scratch / "xdg-cache"),
        NO_COLOR="1",
    )
    return env


def run(cmd: Sequence[str], *, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def make_venv(path: Path, env: dict[str, str]) -> str:
    run([PYTHON, "-m", "venv", str(path)], env=env, cwd=path.parent)
    return str(path / "bin" / "python")


# -- the workflows ------------------------------------------------------------------------------


@dataclass
class Site:
    """One workflow's project folder, target venv and environment."""

    project: Path
    python: str
    env: dict[str, str]
    world: World
    ran: list[str] = field(default_factory=list)  # labels of the steps the last run took
    output: str = ""  # what the last step printed

    def step(self, label: str, cmd: Sequence[str]) -> str:
        self.ran.append(label)
        self.output = run(cmd, env=self.env, cwd=self.project)
        return self.output

    def write_inputs(self) -> None:
        text = f"{DEPENDENCY}>=3.8,<3.9\n{MODEL} @ {self.world.model_url}\n"
        (self.project / "requirements.in").write_text(text)


def is_stale(target: Path, *sources: Path) -> bool:
    """make's rule: rebuild a target that is missing or older than one of its sources."""
    if not target.exists():
        return True
    return any(s.stat().st_mtime_ns > target.stat().st_mtime_ns for s in sources)


def pipmodels_sync(site: Site, *options: str) -> None:
    site.step(
        "pipmodels sync",
        [PYTHON, "-m", "pipmodels", "sync", *options, "--python-executable", site.python, REQS],
    )


def pip_url(site: Site) -> None:
    site.step(
        "pip install",
        [*venv_pip(site.python, "install"), site.world.model_url, f"{DEPENDENCY}>=3.8,<3.9"],
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
        pinned_in.write_text(f"{DEPENDENCY}>=3.8,<3.9\n" + "".join(f"{p}\n" for p in pins))
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


def pipmodels_children(site: Site) -> list[str]:
    """What a warm ``pipmodels sync`` says, and the commands it starts (from a ``-v`` run)."""
    said = site.output.strip().splitlines()
    verbose = site.step(
        "pipmodels sync -v",
        [PYTHON, "-m", "pipmodels", "sync", "-v", "--python-executable", site.python, REQS],
    )
    commands = [
        line[2:].rstrip().replace(str(site.project.parent), "...").replace(PYTHON, "python")
        + (" <script>" if line.rstrip().endswith(" -c") else "")
        for line in verbose.splitlines()
        if line.startswith("$ ")
    ]
    return [
        "Output of a warm run:",
        *(f"    {line}" for line in said),
        f"Commands started by a warm run with -v ({len(commands)}):",
        *(f"    {line}" for line in commands or ["(none)"]),
    ]


@dataclass(frozen=True)
class Workflow:
    name: str
    body: Callable[[Site], None]
    prepare: Callable[[Site], None] = Site.write_inputs
    # Other ways to run the same project warm, measured after this workflow's warm runs
    warm_variants: tuple[tuple[str, Callable[[Site], None]], ...] = ()
    inspect: Callable[[Site], list[str]] | None = None  # notes for the report, once warm


MAKEFILE = "Makefile (blog)"
MAKE_DRIVEN = "Makefile, run by make"

WORKFLOWS = [
    Workflow("pipmodels", pipmodels_sync, inspect=pipmodels_children),
    Workflow("pip + URL", pip_url),
    Workflow("pip-tools + URL", piptools_url),
    Workflow(MAKEFILE, makefile, prepare_makefile, ((MAKE_DRIVEN, makefile_with_make),)),
    Workflow("uv + URL", uv_url),
]


# -- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    model_bytes: int
    model_requests: int
    ran: tuple[str, ...]


@dataclass
class Result:
    name: str
    shares_cold: bool = False  # a warm variant: its cold run is the workflow's above
    cold: Sample | None = None
    warm: list[Sample] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)


def measure(site: Site, body: Callable[[Site], None]) -> Sample:
    world = site.world
    world.models.reset_counts()
    world.index.reset_counts()
    site.ran = []
    start = time.perf_counter()
    body(site)
    seconds = time.perf_counter() - start
    return Sample(seconds, world.model_bytes, world.model_requests, tuple(site.ran))


@contextmanager
def scratch(parent: Path, name: str, keep: bool) -> Iterator[Path]:
    path = parent / name
    path.mkdir()
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def bench_workflow(world: World, workflow: Workflow, config: Config) -> list[Result]:
    """A cold run then warm runs in a fresh venv with fresh caches; then any warm variants."""
    results = [Result(workflow.name)] + [
        Result(name, shares_cold=True) for name, _ in workflow.warm_variants
    ]
    slug = "".join(c if c.isalnum() else "-" for c in workflow.name.lower())
    with scratch(world.tmp, slug, config.keep) as root:
        env = isolated_env(root, world.index_url)
        site = Site(root / "project", "", env, world)
        site.project.mkdir()
        bodies = [workflow.body, *(body for _, body in workflow.warm_variants)]
        try:
            site.python = make_venv(root / "venv", env)
            workflow.prepare(site)
            results[0].cold = timed(site, workflow.name, "cold run", workflow.body)
            for result, body in zip(results, bodies):
                for number in range(1, config.repeat + 1):
                    label = f"warm run {number}/{config.repeat}"
                    result.warm.append(timed(site, result.name, label, body))
            if workflow.inspect is not None:
                results[0].notes = workflow.inspect(site)
        except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
            for result in results:
                result.error = str(exc)
            say(f"[{workflow.name}] FAILED: {exc}")
    return results


def timed(site: Site, name: str, label: str, body: Callable[[Site], None]) -> Sample:
    say(f"[{name}] {label}")
    sample = measure(site, body)
    say(f"[{name}]   {describe(sample)}")
    return sample


def describe(sample: Sample) -> str:
    return (
        f"{sample.seconds:.2f} s, {sample.model_bytes / 1e6:.1f} MB and "
        f"{sample.model_requests} request(s) from the model host; ran {', '.join(sample.ran)}"
    )


# -- pipmodels only: warm no-op scaling and parallel fill ---------------------------------------


@dataclass(frozen=True)
class ScalingRun:
    warm: Sample  # median warm run; the most the model host served in one
    listed: int  # models the cache's links page listed after the cold sync (all when right)


def bench_scaling(world: World, config: Config) -> dict[int, ScalingRun]:
    """Warm ``pipmodels sync`` with 1, 10 and 50 small models that are all up to date.

    The cold sync that fills the cache and the warm runs use pipmodels' default --jobs.
    """
    host = Server()
    allow_head(host)
    dist = world.tmp / "dist" / "small"
    urls = [
        host.add_release_asset(
            "org/models", f"v{k}", build_wheel(dist, f"small_model_{k}", "1.0.0", payload=20_000)
        )
        for k in range(max(config.scaling))
    ]
    results: dict[int, ScalingRun] = {}
    try:
        with scratch(world.tmp, "scaling", config.keep) as root:
            env = isolated_env(root, world.index_url)
            python = make_venv(root / "venv", env)
            for count in config.scaling:
                project = root / f"models-{count}"
                project.mkdir()
                lines = [f"small_model_{k} @ {urls[k]}" for k in range(count)]
                (project / "requirements.in").write_text(
                    "\n".join([f"{DEPENDENCY}>=3.8,<3.9", *lines]) + "\n"
                )
                site = Site(project, python, env, world)
                say(f"[scaling] {count} model(s): cold sync")
                pipmodels_sync(site)
                listed = listed_models(project / ".pipmodels-cache")
                samples = []
                for _ in range(config.repeat):
                    host.reset_counts()
                    start = time.perf_counter()
                    pipmodels_sync(site)
                    seconds = time.perf_counter() - start
                    samples.append(
                        Sample(seconds, sum(host.bytes_sent.values()), host_requests(host), ())
                    )
                warm = Sample(
                    statistics.median(s.seconds for s in samples),
                    max(s.model_bytes for s in samples),
                    max(s.model_requests for s in samples),
                    (),
                )
                results[count] = ScalingRun(warm, listed)
                say(
                    f"[scaling] {count} model(s): warm {warm.seconds:.2f} s, "
                    f"{listed}/{count} models on the cache page after the cold sync"
                )
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        say(f"[scaling] FAILED: {exc}")
    finally:
        host.close()
    return results


def host_requests(server: Server) -> int:
    return sum(server.requests.values())


@dataclass(frozen=True)
class FillRun:
    seconds: float  # median
    listed: int  # fewest models the cache's links page listed after a run (4 when right)


def bench_parallel_fill(world: World, config: Config) -> dict[int, FillRun]:
    """``pipmodels download`` of 4 models from a slow host, --jobs 1 against --jobs 4."""
    host = Server()
    host.throttle = throttle_for(config.fill_bandwidth)
    dist = world.tmp / "dist" / "fill"
    size = int(config.fill_size_mb * 1e6)
    lines = [
        f"fill_model_{k} @ "
        + host.add_release_asset(
            "org/fill", f"v{k}", build_wheel(dist, f"fill_model_{k}", "1.0.0", payload=size)
        )
        for k in range(4)
    ]
    fills: dict[int, FillRun] = {}
    try:
        with scratch(world.tmp, "fill", config.keep) as root:
            env = isolated_env(root, world.index_url)
            (root / REQS).write_text("\n".join(lines) + "\n")
            for jobs in (1, 4):
                runs = [
                    fill_once(root, env, jobs, root / f"cache-{jobs}-{n}")
                    for n in range(config.repeat)
                ]
                fills[jobs] = FillRun(
                    statistics.median(r.seconds for r in runs), min(r.listed for r in runs)
                )
                say(
                    f"[parallel fill] --jobs {jobs}: {fills[jobs].seconds:.2f} s, "
                    f"{fills[jobs].listed}/4 models on the cache page"
                )
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        say(f"[parallel fill] FAILED: {exc}")
    finally:
        host.close()
    return fills


def fill_once(root: Path, env: dict[str, str], jobs: int, cache: Path) -> FillRun:
    cmd = [PYTHON, "-m", "pipmodels", "download", "-q", "-j", str(jobs), "--cache-dir", str(cache)]
    start = time.perf_counter()
    run([*cmd, REQS], env=env, cwd=root)
    seconds = time.perf_counter() - start
    listed = listed_models(cache)
    shutil.rmtree(cache, ignore_errors=True)
    return FillRun(seconds, listed)


def listed_models(cache: Path) -> int:
    """Each download records itself in the cache's manifest and links page; count the page."""
    page = cache / "index.html"
    return page.read_text(encoding="utf-8").count("<a href=") if page.exists() else 0


# -- the report ---------------------------------------------------------------------------------


def tool_versions(env: dict[str, str], scratch_dir: Path) -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            return run(cmd, env=env, cwd=scratch_dir).strip().splitlines()[-1]
        except (BenchError, OSError):
            return "not available"

    def distribution(name: str) -> str:
        return version(
            [PYTHON, "-c", f"import importlib.metadata as m; print(m.version({name!r}))"]
        )

    return {
        "pipmodels": distribution("pipmodels"),
        "pip": distribution("pip"),
        "pip-tools": distribution("pip-tools"),
        "pip in new venvs": version([PYTHON, "-c", "import ensurepip; print(ensurepip.version())"]),
        "uv": version([UV, "--version"]).split()[1] if UV else "not installed",
    }


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "-"
    if base == 0:
        return "=" if value == 0 else "inf"
    return f"{value / base:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def run_rows(results: Sequence[Result], pick: Callable[[Result], Sample | None]) -> list[list[str]]:
    base = pick(results[0]) if results else None
    rows = []
    for result in results:
        sample = pick(result)
        if sample is None:
            rows.append([result.name, "failed", "-", "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                result.name,
                f"{sample.seconds:.2f}",
                ratio(sample.seconds, base.seconds if base else None),
                f"{sample.model_bytes / 1e6:.1f}",
                ratio(sample.model_bytes, base.model_bytes if base else None),
                str(sample.model_requests),
                ratio(sample.model_requests, base.model_requests if base else None),
                ", ".join(sample.ran),
            ]
        )
    return rows


def cold(result: Result) -> Sample | None:
    return None if result.error else result.cold


def warm_sample(result: Result) -> Sample | None:
    """The median warm run: median time, bytes and requests, steps of the last run."""
    if not result.warm or result.error:
        return None
    return Sample(
        statistics.median(s.seconds for s in result.warm),
        int(statistics.median(s.model_bytes for s in result.warm)),
        int(statistics.median(s.model_requests for s in result.warm)),
        result.warm[-1].ran,
    )


RUN_HEADERS = (
    "Workflow",
    "Time s",
    "x pipmodels",
    "Model MB",
    "x pipmodels",
    "Model requests",
    "x pipmodels",
    "Steps run",
)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not measured


def targets(
    results: Sequence[Result],
    world: World,
    scaling: dict[int, ScalingRun],
    fill: dict[int, FillRun],
) -> list[Target]:
    by_name = {r.name: r for r in results}
    pipmodels = by_name["pipmodels"]
    return [
        noop_target(warm_sample(pipmodels), by_name[MAKEFILE], by_name[MAKE_DRIVEN]),
        warm_requests_target(pipmodels, scaling),
        cold_bytes_target(pipmodels, world.wheel.stat().st_size),
        fill_target(fill),
    ]


def noop_target(pipmodels: Sample | None, makefile: Result, make_driven: Result) -> Target:
    """Against the Makefile recipe run step by step; make's own up-to-date rules shown beside."""
    name = "warm no-op <= 0.1x the Makefile workflow's warm run"
    every_step, with_make = warm_sample(makefile), warm_sample(make_driven)
    if pipmodels is None or every_step is None:
        return Target(name, "-", None)
    share = pipmodels.seconds / every_step.seconds
    measured = f"{share:.2f}x ({pipmodels.seconds:.2f} s vs {every_step.seconds:.2f} s)"
    if with_make is not None:
        measured += (
            f"; {pipmodels.seconds / with_make.seconds:.2f}x of make's pip-sync-only "
            f"warm run ({with_make.seconds:.2f} s)"
        )
    return Target(name, measured, share <= 0.1)


def warm_requests_target(pipmodels: Result, scaling: dict[int, ScalingRun]) -> Target:
    name = "zero requests to the model host on a pipmodels warm run"
    warm_runs = [*pipmodels.warm, *(run.warm for run in scaling.values())]
    counts = [s.model_requests for s in warm_runs]
    if pipmodels.error or not counts:
        return Target(name, "-", None)
    return Target(name, f"at most {max(counts)} per warm run", max(counts) == 0)


def cold_bytes_target(pipmodels: Result, size: int) -> Target:
    name = "model bytes exactly 1x on a cold run"
    if pipmodels.cold is None:
        return Target(name, "-", None)
    served = pipmodels.cold.model_bytes
    return Target(name, f"{served / size:.2f}x ({served:,} of {size:,} B)", served == size)


def fill_target(fill: dict[int, FillRun]) -> Target:
    name = "parallel fill (--jobs 4) <= 0.5x serial (--jobs 1)"
    if 1 not in fill or 4 not in fill:
        return Target(name, "-", None)
    parallel, serial = fill[4].seconds, fill[1].seconds
    share = parallel / serial
    return Target(name, f"{share:.2f}x ({parallel:.2f} s vs {serial:.2f} s)", share <= 0.5)


def cache_checks(scaling: dict[int, ScalingRun], fill: dict[int, FillRun]) -> list[Target]:
    """Parallel downloads must each leave their entry on the cache's links page."""
    fill_check = "the cache page lists all 4 models after every parallel fill (--jobs 4)"
    checks = [
        Target(fill_check, f"{fill[4].listed}/4 at the fewest", fill[4].listed == 4)
        if 4 in fill
        else Target(fill_check, "-", None)
    ]
    if scaling:
        lowest = min(run.listed / count for count, run in scaling.items())
        checks.append(
            Target(
                "the cache page lists every model after the scaling runs' cold sync",
                ", ".join(f"{run.listed}/{count}" for count, run in sorted(scaling.items())),
                lowest == 1,
            )
        )
    return checks


def verdict(passed: bool | None) -> str:
    return "not measured" if passed is None else "PASS" if passed else "FAIL"


@dataclass
class Report:
    config: Config
    world: World
    versions: dict[str, str]
    results: list[Result]
    scaling: dict[int, ScalingRun]
    fill: dict[int, FillRun]
    children: list[str]
    started: datetime.datetime

    def lines(self) -> list[str]:
        return [
            *self.header(),
            "",
            f"## Cold run (fresh venv and caches, {self.size_text})",
            "",
            *table(RUN_HEADERS, run_rows([r for r in self.results if not r.shares_cold], cold)),
            "",
            f"## Warm run (nothing changed; median of {self.config.repeat})",
            "",
            *table(RUN_HEADERS, run_rows(self.results, warm_sample)),
            "",
            *self.scaling_section(),
            "",
            *self.fill_section(),
            "",
            *self.children_section(),
            "",
            "## Targets (issue 6)",
            "",
            *table(
                ("Target", "Measured", "Result"),
                [(t.name, t.measured, verdict(t.passed)) for t in self.targets],
            ),
            "",
            "## Checks",
            "",
            *table(
                ("Check", "Measured", "Result"),
                [(t.name, t.measured, verdict(t.passed)) for t in self.checks],
            ),
            *self.errors(),
        ]

    @property
    def size_text(self) -> str:
        return f"{self.world.wheel.stat().st_size / 1e6:.1f} MB model"

    @property
    def targets(self) -> list[Target]:
        return targets(self.results, self.world, self.scaling, self.fill)

    @property
    def checks(self) -> list[Target]:
        return cache_checks(self.scaling, self.fill)

    def header(self) -> list[str]:
        c = self.config
        elapsed = datetime.datetime.now(datetime.timezone.utc) - self.started
        return [
            "# pipmodels benchmark",
            "",
            f"- Date: {self.started:%Y-%m-%d %H:%M} UTC (took {elapsed.total_seconds():.0f} s)",
            f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}",
            "- Tools: " + "; ".join(f"{k} {v}" for k, v in self.versions.items()),
            f"- Model: {self.world.wheel.name}, {self.size_text}, a GitHub-like release asset "
            f"(302 to a blob URL) served at {c.bandwidth:g} MB/s per connection; the "
            f"dependency {DEPENDENCY} comes from a local PEP 503 index",
            f"- Runs: 1 cold + {c.repeat} warm per workflow; model MB and requests are what the "
            "model host served during one run",
        ]

    def scaling_section(self) -> list[str]:
        rows = [
            (
                str(count),
                f"{run.warm.seconds:.2f}",
                f"{run.warm.seconds / count * 1000:.0f}",
                str(run.warm.model_requests),
                f"{run.listed}/{count}",
            )
            for count, run in sorted(self.scaling.items())
        ]
        headers = (
            "Models",
            "Time per run s",
            "ms per model",
            "Model-host requests",
            "Models on the cache page after the cold sync",
        )
        return [
            f"## Warm no-op scaling (pipmodels sync, small models; median of {self.config.repeat})",
            "",
            *table(headers, rows),
        ]

    def fill_section(self) -> list[str]:
        c = self.config
        rows = [
            (
                f"--jobs {jobs}",
                f"{f.seconds:.2f}",
                ratio(f.seconds, self.fill[1].seconds if 1 in self.fill else None),
                f"{f.listed}/4",
            )
            for jobs, f in sorted(self.fill.items())
        ]
        return [
            f"## Parallel fill (pipmodels download, 4 x {c.fill_size_mb:g} MB models at "
            f"{c.fill_bandwidth:g} MB/s per connection; median of {c.repeat})",
            "",
            *table(
                ("Jobs", "Time s", "x --jobs 1", "Models on the cache page after the run"), rows
            ),
        ]

    def children_section(self) -> list[str]:
        notes = self.children or ["(not measured)"]
        return ["## What a warm `pipmodels sync` does", "", "```", *notes, "```"]

    def errors(self) -> list[str]:
        failed = [r for r in self.results if r.error]
        if not failed:
            return []
        lines = ["", "## Failures", ""]
        for result in failed:
            lines += [f"### {result.name}", "", "```", result.error, "```"]
        return lines


# -- the command line ---------------------------------------------------------------------------


def parse_config(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description="Compare pipmodels with pip, pip-tools, the blog's Makefile and uv on "
        "local throttled servers. Markdown results on stdout, progress on stderr."
    )
    parser.add_argument("--size-mb", type=float, help="Model wheel size [50; 5 with --quick].")
    parser.add_argument("--repeat", type=int, help="Warm runs per workflow [3; 1 with --quick].")
    parser.add_argument(
        "--bandwidth", type=float, default=50.0, help="Model host MB/s per connection [50]."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Small model, one warm run, scaling 1 and 10 only."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the scratch folders (their path is printed)."
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Config(
        size_mb=args.size_mb if args.size_mb is not None else 5.0 if quick else 50.0,
        repeat=max(1, args.repeat if args.repeat is not None else 1 if quick else 3),
        bandwidth=args.bandwidth,
        scaling=(1, 10) if quick else (1, 10, 50),
        fill_size_mb=4.0 if quick else 8.0,
        fill_bandwidth=2.0,
        keep=bool(args.keep),
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="pipmodels-bench-"))
    say(f"Scratch folder: {tmp}")
    world = make_world(tmp, config)
    try:
        versions = tool_versions(isolated_env(tmp, world.index_url), tmp)
        workflows = [w for w in WORKFLOWS if w.body is not uv_url or UV]
        results = [r for w in workflows for r in bench_workflow(world, w, config)]
        scaling = bench_scaling(world, config)
        fill = bench_parallel_fill(world, config)
        children = next((r.notes for r in results if r.name == "pipmodels"), [])
        report = Report(config, world, versions, results, scaling, fill, children, started)
        print("\n".join(report.lines()))
        checked = [*report.targets, *report.checks]
        return 1 if any(t.passed is False for t in checked) else 0
    finally:
        world.models.close()
        world.index.close()
        if not config.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
