"""pipmodels alone: the warm no-op with 1 to 50 models, and 4 models downloaded in parallel."""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import FAILURES
from benchmarks.workflows import Site, pipmodels_sync
from benchmarks.world import (
    PYTHON,
    REQS,
    REQUIREMENT,
    World,
    allow_head,
    isolated_env,
    make_venv,
    run,
    say,
    scratch,
    throttle_for,
)
from tests.builders import build_wheel
from tests.servers import Server


@dataclass(frozen=True)
class ScalingRun:
    seconds: float  # median warm run
    requests: int  # the most the model host answered in one warm run
    listed: int  # models the cache's links page listed after the cold sync (all when right)


@dataclass(frozen=True)
class FillRun:
    seconds: float  # median
    listed: int  # fewest models the cache's links page listed after a run (4 when right)


def bench_scaling(
    world: World, counts: tuple[int, ...], repeat: int, keep: bool
) -> dict[int, ScalingRun]:
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
        for k in range(max(counts))
    ]
    results: dict[int, ScalingRun] = {}
    try:
        with scratch(world.tmp, "scaling", keep) as root:
            env = isolated_env(root, world.index_url)
            python = make_venv(root / "venv", env)
            for count in counts:
                site = Site(root / f"models-{count}", python, env, world, REQUIREMENT)
                site.project.mkdir()
                lines = [f"small_model_{k} @ {urls[k]}" for k in range(count)]
                (site.project / REQS).write_text("\n".join([site.requirements, *lines]) + "\n")
                results[count] = scale_once(site, host, count, repeat)
    except FAILURES as exc:
        say(f"[scaling] FAILED: {exc}")
    finally:
        host.close()
    return results


def scale_once(site: Site, host: Server, count: int, repeat: int) -> ScalingRun:
    say(f"[scaling] {count} model(s): cold sync")
    pipmodels_sync(site)
    listed = listed_models(site.cache)
    seconds, requests = [], []
    for _ in range(repeat):
        host.reset_counts()
        start = time.perf_counter()
        pipmodels_sync(site)
        seconds.append(time.perf_counter() - start)
        requests.append(sum(host.requests.values()))
    result = ScalingRun(statistics.median(seconds), max(requests), listed)
    say(
        f"[scaling] {count} model(s): warm {result.seconds:.2f} s, "
        f"{listed}/{count} models on the cache page after the cold sync"
    )
    return result


def bench_parallel_fill(
    world: World, size_mb: float, bandwidth: float, repeat: int, keep: bool
) -> dict[int, FillRun]:
    """``pipmodels download`` of 4 models from a slow host, --jobs 1 against --jobs 4."""
    host = Server()
    host.throttle = throttle_for(bandwidth)
    dist = world.tmp / "dist" / "fill"
    size = int(size_mb * 1e6)
    lines = [
        f"fill_model_{k} @ "
        + host.add_release_asset(
            "org/fill", f"v{k}", build_wheel(dist, f"fill_model_{k}", "1.0.0", payload=size)
        )
        for k in range(4)
    ]
    fills: dict[int, FillRun] = {}
    try:
        with scratch(world.tmp, "fill", keep) as root:
            env = isolated_env(root, world.index_url)
            (root / REQS).write_text("\n".join(lines) + "\n")
            for jobs in (1, 4):
                runs = [
                    fill_once(root, env, jobs, root / f"cache-{jobs}-{n}") for n in range(repeat)
                ]
                fills[jobs] = FillRun(
                    statistics.median(r.seconds for r in runs), min(r.listed for r in runs)
                )
                say(
                    f"[parallel fill] --jobs {jobs}: {fills[jobs].seconds:.2f} s, "
                    f"{fills[jobs].listed}/4 models on the cache page"
                )
    except FAILURES as exc:
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
