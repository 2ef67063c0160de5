"""``python -m benchmarks``: every workflow, every size, the findings as Markdown on stdout."""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.findings import Findings, SizeRun
from benchmarks.measure import Plan, bench_workflow
from benchmarks.memory import bench_memory
from benchmarks.realdeps import bench_real_deps
from benchmarks.report import render
from benchmarks.scaling import bench_parallel_fill, bench_scaling
from benchmarks.settings import Config, parse_config
from benchmarks.targets import all_targets, verdict
from benchmarks.workflows import skipped_note, workflows
from benchmarks.world import (
    PYTHON,
    UV,
    BenchError,
    World,
    isolated_env,
    make_world,
    new_scratch_root,
    run,
    say,
)


def tool_versions(env: dict[str, str], scratch_dir: Path) -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            return run(cmd, env=env, cwd=scratch_dir).strip().splitlines()[-1]
        except (BenchError, OSError):
            return "not available"

    def distribution(name: str) -> str:
        script = f"import importlib.metadata as m; print(m.version({name!r}))"
        return version([PYTHON, "-c", script])

    return {
        "pipmodels": distribution("pipmodels"),
        "pip (tool venv)": distribution("pip"),
        "pip-tools": distribution("pip-tools"),
        "pip in new venvs": version([PYTHON, "-c", "import ensurepip; print(ensurepip.version())"]),
        "uv": version([UV, "--version"]).split()[1] if UV else "not installed",
    }


def bench_size(tmp: Path, size_mb: float, config: Config, *, first: bool) -> tuple[SizeRun, World]:
    """Every workflow over one model size; the caller closes the world's servers."""
    world = make_world(tmp / f"size-{size_mb:g}", size_mb, config.bandwidth)
    plan = Plan(config.repeat, config.keep, lambda root: isolated_env(root, world.index_url))
    results = []
    for workflow in workflows():
        chosen = workflow if first else dataclasses.replace(workflow, inspect=False)
        results += bench_workflow(world, chosen, plan)
    return SizeRun(world.size_mb, world.wheel.stat().st_size, results), world


def bench_all(findings: Findings, tmp: Path) -> None:
    config = findings.config
    world = None
    for number, size in enumerate(sorted(config.sizes_mb)):
        if world is not None:
            world.close()
            shutil.rmtree(world.wheel.parent, ignore_errors=True)
        run_, world = bench_size(tmp, size, config, first=number == 0)
        findings.sizes.append(run_)
    assert world is not None
    try:
        if config.memory:
            findings.memory = bench_memory(world, config.keep)
        if config.scaling:
            findings.scaling = bench_scaling(world, config.scaling, config.repeat, config.keep)
            findings.fill = bench_parallel_fill(
                world, config.fill_size_mb, config.fill_bandwidth, config.repeat, config.keep
            )
    finally:
        world.close()
    if config.real_deps:
        findings.real = bench_real_deps(tmp, config.real_deps_cache, config.repeat, config.keep)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    tmp = new_scratch_root()
    say(f"Scratch folder: {tmp}")
    try:
        versions = tool_versions(isolated_env(tmp, "http://127.0.0.1:9/simple/"), tmp)
        findings = Findings(config, started, versions, notes=skipped_note())
        bench_all(findings, tmp)
        targets = all_targets(findings)
        rows = [(t.name, t.measured, verdict(t.passed)) for t in targets]
        print("\n".join(render(findings, rows)))
        return 1 if any(t.passed is False for t in targets) else 0
    finally:
        if not config.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
