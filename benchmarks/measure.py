"""Timing the workflows: one cold run (its process tree watched) and warm runs, per workflow."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.noop import NoopFindings, inspect_noop
from benchmarks.proctree import Trace
from benchmarks.workflows import Site, Workflow
from benchmarks.world import REQUIREMENT, BenchError, World, folder_size, make_venv, say, scratch

FAILURES = (BenchError, subprocess.TimeoutExpired, OSError)


@dataclass(frozen=True)
class Sample:
    seconds: float
    model_bytes: int
    model_requests: int
    steps: tuple[tuple[str, float], ...]  # (label, seconds) of each command run

    @property
    def ran(self) -> str:
        return ", ".join(label for label, _ in self.steps)


@dataclass
class Result:
    name: str
    size_mb: float
    shares_cold: bool = False  # a warm variant: its cold run is the workflow's above
    cold: Sample | None = None
    warm: list[Sample] = field(default_factory=list)
    traces: list[tuple[str, Trace]] = field(default_factory=list)  # the cold run's commands
    pip_cache: int = 0  # bytes in PIP_CACHE_DIR after the cold run
    uv_cache: int = 0
    error: str = ""
    primes: list[Sample] = field(default_factory=list)  # cold runs that filled shared caches
    noop: NoopFindings | None = None

    @property
    def peak_rss(self) -> int:
        peaks = [t.peak for _, t in self.traces if t.peak is not None]
        return max((p.peak_rss for p in peaks if p is not None), default=0)

    @property
    def peak_label(self) -> str:
        procs = [p for _, t in self.traces for p in t.procs.values()]
        top = max(procs, key=lambda p: p.peak_rss, default=None)
        return top.label if top else "-"


def measure(site: Site, body: Callable[[Site], None]) -> Sample:
    world = site.world
    world.reset_counts()
    site.ran = []
    start = time.perf_counter()
    body(site)
    seconds = time.perf_counter() - start
    return Sample(seconds, world.model_bytes, world.model_requests, tuple(site.ran))


def timed(site: Site, name: str, label: str, body: Callable[[Site], None]) -> Sample:
    say(f"[{name}] {label}")
    sample = measure(site, body)
    say(f"[{name}]   {describe(sample)}")
    return sample


def describe(sample: Sample) -> str:
    steps = ", ".join(f"{label} {seconds:.2f} s" for label, seconds in sample.steps)
    return (
        f"{sample.seconds:.2f} s, {sample.model_bytes / 1e6:.1f} MB and "
        f"{sample.model_requests} request(s) from the model host; ran {steps}"
    )


@dataclass(frozen=True)
class Plan:
    """How to run each workflow."""

    repeat: int
    keep: bool
    env_for: Callable[[Path], dict[str, str]]  # a workflow's environment, from its scratch folder
    requirements: str = REQUIREMENT  # what the project needs besides the model
    primes: int = 0  # cold runs before the measured one, each in a fresh venv (fills caches)


def bench_workflow(world: World, workflow: Workflow, plan: Plan) -> list[Result]:
    """A cold run then warm runs in a fresh venv with fresh caches; then any warm variants."""
    size = world.size_mb
    results = [Result(workflow.name, size)] + [
        Result(name, size, shares_cold=True) for name, _ in workflow.warm_variants
    ]
    with scratch(world.tmp, f"{workflow.slug}-{size:g}", plan.keep) as root:
        try:
            for number in range(plan.primes):
                site = new_site(world, workflow, plan, root / f"prime-{number}")
                results[0].primes.append(timed(site, workflow.name, "priming run", workflow.body))
            site = new_site(world, workflow, plan, root)
            cold_run(site, workflow, results[0])
            bodies = [workflow.body, *(body for _, body in workflow.warm_variants)]
            for result, body in zip(results, bodies):
                for number in range(1, plan.repeat + 1):
                    label = f"warm run {number}/{plan.repeat}"
                    result.warm.append(timed(site, result.name, label, body))
            if workflow.inspect:
                results[0].noop = inspect_noop(site, plan.repeat)
        except FAILURES as exc:
            for result in results:
                result.error = str(exc)
            say(f"[{workflow.name}] FAILED: {exc}")
    return results


def new_site(world: World, workflow: Workflow, plan: Plan, root: Path) -> Site:
    """A fresh project folder and venv for ``workflow`` under ``root``."""
    env = plan.env_for(root)
    site = Site(root / "project", "", env, world, plan.requirements)
    site.project.mkdir(parents=True)
    site.python = make_venv(root / "venv", env)
    workflow.prepare(site)
    return site


def cold_run(site: Site, workflow: Workflow, result: Result) -> None:
    """The first run in the fresh venv, its process tree watched; then the caches' sizes."""
    site.traces = result.traces
    try:
        result.cold = timed(site, workflow.name, "cold run", workflow.body)
    finally:
        site.traces = None
    result.pip_cache = folder_size(Path(site.env["PIP_CACHE_DIR"]))
    result.uv_cache = folder_size(Path(site.env["UV_CACHE_DIR"]))


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
        result.warm[-1].steps,
    )
