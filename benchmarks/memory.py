"""Memory and disk of a cold fill of the largest model, with two pip versions, HTTP cache on/off.

pipmodels runs ``python -m pip download`` with the pip of its own interpreter. The second pip is
tried without reinstalling pipmodels: a fresh venv whose ``.pth`` file puts the repository and
the tool venv's site-packages after its own, so its own pip wins and everything else is shared.
"""

from __future__ import annotations

import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import FAILURES
from benchmarks.proctree import traced_run
from benchmarks.world import (
    MODEL,
    PYTHON,
    REQS,
    ROOT,
    World,
    base_env,
    folder_size,
    isolated_env,
    make_venv,
    run,
    say,
    scratch,
)


@dataclass(frozen=True)
class FillMemory:
    pip: str  # pip version
    http_cache: bool
    seconds: float
    peak_rss: int  # bytes, the largest process of the tree
    peak_label: str
    pip_cache: int  # bytes in PIP_CACHE_DIR afterwards
    model_bytes: int  # served by the model host


def pip_version(python: str, env: dict[str, str]) -> str:
    script = "import importlib.metadata as m; print(m.version('pip'))"
    return run([python, "-c", script], env=env, cwd=Path.cwd()).strip().splitlines()[-1]


def other_pip(root: Path, tool_pip: str, env: dict[str, str]) -> str:
    """A venv with the pip that ``python -m venv`` bundles, or the newest when the tool venv
    already has the bundled one; pipmodels and pip-tools come from the tool venv."""
    python = make_venv(root / "other-pip", env)
    if pip_version(python, env) == tool_pip:
        # the package registry, as this machine's pip is configured to reach it
        run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], env=base_env(), cwd=root)
    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            env=env,
            cwd=root,
        ).strip()
    )
    tool_site = sysconfig.get_path("purelib")
    (site / "zz-pipmodels-bench.pth").write_text(f"{ROOT}\n{tool_site}\n")
    return python


def bench_memory(world: World, keep: bool) -> list[FillMemory]:
    """``pipmodels download`` of the model into an empty cache, watched, in four settings."""
    found: list[FillMemory] = []
    try:
        with scratch(world.tmp, "memory", keep) as root:
            env = isolated_env(root, world.index_url)
            tool_pip = pip_version(PYTHON, env)
            pythons = [PYTHON, other_pip(root, tool_pip, env)]
            (root / REQS).write_text(f"{MODEL} @ {world.model_url}\n")
            for python in pythons:
                for http_cache in (True, False):
                    found.append(fill_watched(world, root, python, http_cache))
    except FAILURES as exc:
        say(f"[memory] FAILED: {exc}")
    return found


def fill_watched(world: World, root: Path, python: str, http_cache: bool) -> FillMemory:
    tag = f"{len(list(root.glob('run-*')))}"
    folder = root / f"run-{tag}"
    env = isolated_env(folder, world.index_url)
    if not http_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    version = pip_version(python, env)
    world.reset_counts()
    cmd = [python, "-m", "pipmodels", "download", "-q", "--cache-dir", str(folder / "cache"), REQS]
    start = time.perf_counter()
    _, trace = traced_run(cmd, env=env, cwd=root, served=lambda: world.model_bytes)
    seconds = time.perf_counter() - start
    peak = trace.peak
    result = FillMemory(
        version,
        http_cache,
        seconds,
        peak.peak_rss if peak else 0,
        peak.label if peak else "-",
        folder_size(folder / "pip-cache"),
        world.model_bytes,
    )
    say(
        f"[memory] pip {version}, HTTP cache {'on' if http_cache else 'off'}: {seconds:.2f} s, "
        f"peak {result.peak_rss / 1e6:.0f} MB ({result.peak_label}), pip cache "
        f"{result.pip_cache / 1e6:.0f} MB"
    )
    return result
