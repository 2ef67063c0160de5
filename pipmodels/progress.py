"""Long steps say what they do: a download meter, and each phase's time when it ends.

On a terminal the meter is one line, rewritten in place, with the total, the rate and the time
left once the sizes are known; in a CI log it is a plain line every ``PIPMODELS_PROGRESS_SECONDS``
(default 10). With -q there is neither.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pipmodels import console

INTERVAL = 0.5  # a terminal's line
PLAIN_INTERVAL = 10.0  # a log's line
INTERVAL_VARIABLE = "PIPMODELS_PROGRESS_SECONDS"


class _Expected:
    """The bytes the downloads in progress announced (Content-Length), all together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, size: int) -> None:
        with self._lock:
            self.total += max(0, size)

    def reset(self) -> None:
        with self._lock:
            self.total = 0


_expected = _Expected()


def expect(size: int) -> None:
    """A download has started that will write ``size`` bytes (0: unknown)."""
    _expected.add(size)


def _bytes_under(folders: list[Path]) -> int:
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                with suppress(OSError):  # a file pip just moved or removed
                    total += os.stat(os.path.join(root, name)).st_size
    return total


def describe(what: str, done: int, total: int, seconds: float) -> str:
    """``downloaded: 12.3 of 50.0 MB, 4.1 MB/s, 9 s left`` (what is known of it)."""
    rate = done / seconds if seconds > 0 else 0.0
    text = f"  {what}: {done / 1e6:,.1f}"
    if total >= done and total > 0:
        text += f" of {total / 1e6:,.1f}"
    text += f" MB, {rate / 1e6:,.1f} MB/s"
    if total > done and rate > 0:
        text += f", {_duration((total - done) / rate)} left"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


def _plain_interval() -> float:
    try:
        return max(0.1, float(os.environ.get(INTERVAL_VARIABLE, PLAIN_INTERVAL)))
    except ValueError:
        return PLAIN_INTERVAL


@contextmanager
def meter(state_dir: Path, pattern: str, what: str) -> Iterator[None]:
    """Show the bytes written so far under ``state_dir/pattern`` while the block runs.

    Downloads (pip's included: its TMPDIR is the staging folder) land there, so the folder's
    size is the progress of all parallel downloads together.
    """
    if not console.is_normal():
        yield
        return
    terminal = sys.stderr.isatty()
    interval = INTERVAL if terminal else _plain_interval()
    stop = threading.Event()
    start = time.monotonic()
    _expected.reset()

    def show() -> None:
        while not stop.wait(interval):
            size = _bytes_under(list(state_dir.glob(pattern)))
            line = describe(what, size, _expected.total, time.monotonic() - start)
            if terminal:
                console.status(line)
            else:
                console.info(line)
        console.clear_status()

    thread = threading.Thread(target=show, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block; say ``name: 27.4 s`` when it ends well (a failure says enough)."""
    start = time.monotonic()
    yield
    console.info(f"  {name}: {time.monotonic() - start:.1f} s")
