"""The compile and sync cost users see: spaCy's own dependency tree from the real package index.

The index is this machine's, as its pip is configured (pip.conf, ``PIP_*``), and PyPI for uv;
the model still comes from the local GitHub-like host. pip's, uv's and pip-tools' download
caches live in one folder kept between benchmark runs, and every workflow first runs once in a
fresh venv to fill them, so that the measured cold run (fresh venv, fresh pipmodels cache, no
requirements.txt) compares resolving and installing, not the network of the moment.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from benchmarks.measure import Plan, Result, bench_workflow
from benchmarks.workflows import workflows
from benchmarks.world import World, cache_env, make_world, say

SPACY = "spacy>=3.8,<3.9"
MODEL_MB = 13.0  # about en_core_web_sm's size
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "pipmodels-bench-real-deps"


def real_env(caches: Path) -> dict[str, str]:
    """This machine's index settings kept; uv, pipmodels and venv settings dropped."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "PIPMODELS_", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(cache_env(caches))
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_TRUSTED_HOST="127.0.0.1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        NO_COLOR="1",
    )
    if "PIP_INDEX_URL" in os.environ:
        env["UV_INDEX_URL"] = os.environ["PIP_INDEX_URL"]
    if "PIP_CERT" in os.environ:  # uv trusts what pip is told to trust
        env.setdefault("SSL_CERT_FILE", os.environ["PIP_CERT"])
    return env


def bench_real_deps(tmp: Path, caches: Path, repeat: int, keep: bool) -> list[Result]:
    """Every workflow over ``spacy`` plus a model, priming the shared caches."""
    say(f"[real deps] download caches kept in {caches}")
    caches.mkdir(parents=True, exist_ok=True)
    world: World = make_world(tmp / "real-deps", MODEL_MB, bandwidth=0)
    plan = Plan(repeat, keep, lambda _root: real_env(caches), requirements=SPACY, primes=1)
    try:
        results = []
        for workflow in workflows():
            variant = dataclasses.replace(workflow, inspect=False, warm_variants=())
            results += bench_workflow(world, variant, plan)
        return results
    finally:
        world.close()
