"""A one-line download meter on a terminal; nothing at all in CI logs or with -q."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pipmodels import console

INTERVAL = 0.5


def _bytes_under(folders: list[Path]) -> int:
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                with suppress(OSError):  # a file pip just moved or removed
                    total += os.stat(os.path.join(root, name)).st_size
    return total


@contextmanager
def meter(state_dir: Path, pattern: str, what: str) -> Iterator[None]:
    """Show the bytes written so far under ``state_dir/pattern`` while the block runs.

    Downloads (pip's included: its TMPDIR is the staging folder) land there, so the folder's
    size is the progress of all parallel downloads together.
    """
    if not (sys.stderr.isatty() and console.is_normal()):
        yield
        return
    stop = threading.Event()

    def show() -> None:
        while not stop.wait(INTERVAL):
            size = _bytes_under(list(state_dir.glob(pattern)))
            sys.stderr.write(f"\r  {what}: {size / 1e6:,.1f} MB ")
            sys.stderr.flush()
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    thread = threading.Thread(target=show, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
