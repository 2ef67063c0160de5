"""Where pipmodels keeps what is neither the cache nor the user's files.

The cache folder is meant to be shared: committed to a CI cache, or published on a static host.
Records of this machine (the no-op fast path's fingerprints, which name local folders) and each
run's private scratch (children's temporary files) live here instead, in the
user's cache folder, where nothing is published.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pipmodels.quickcheck import STATE_DIR_VARIABLE as STATE_DIR_VARIABLE
from pipmodels.quickcheck import alive, state_folder


def state_home(environ: Mapping[str, str]) -> Path:
    """``PIPMODELS_STATE_DIR``, else the platform's per-user cache folder, plus ``pipmodels``."""
    return Path(state_folder(environ))


def new_run_dir(home: Path) -> Path:
    """A private folder (mode 0700) for this run, after sweeping those of runs that died."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    sweep(runs)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=runs))


def sweep_dead_runs(home: Path) -> None:
    """What killed runs left under ``home``: one folder listing when there is nothing."""
    runs = home / "runs"
    with contextlib.suppress(OSError):
        sweep(runs)


def sweep(runs: Path) -> None:
    """Remove run folders left by a killed run (SIGKILL gives no chance to clean up)."""
    for folder in runs.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid), str(folder)):
            shutil.rmtree(folder, ignore_errors=True)
