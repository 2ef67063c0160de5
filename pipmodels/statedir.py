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
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

STATE_DIR_VARIABLE = "PIPMODELS_STATE_DIR"
# A run folder whose process cannot be checked (Windows) is swept after this long.
STALE_SECONDS = 24 * 3600


def state_home(environ: Mapping[str, str]) -> Path:
    """``PIPMODELS_STATE_DIR``, else the platform's per-user cache folder, plus ``pipmodels``."""
    if environ.get(STATE_DIR_VARIABLE):
        return Path(environ[STATE_DIR_VARIABLE])
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "pipmodels"


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
        if pid.isdigit() and not _alive(int(pid), folder):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int, folder: Path) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime < STALE_SECONDS
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True
