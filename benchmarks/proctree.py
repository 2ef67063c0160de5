"""Watching a command's process tree through /proc: which child runs when, and its memory.

A thread samples every ~20 ms: every descendant of the started process, its command line, its
resident memory (VmRSS), the bytes it has read and written (rchar, wchar) and its CPU time; and
how many model bytes the host has served. Nothing in pipmodels is changed to get this.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.world import COMMAND_TIMEOUT, BenchError

INTERVAL = 0.02
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    """One process of the tree, as last seen."""

    pid: int
    parent: int
    argv: tuple[str, ...]
    first: float
    last: float
    peak_rss: int = 0  # bytes
    rchar: int = 0
    wchar: int = 0
    cpu: float = 0.0  # user + system seconds

    @property
    def label(self) -> str:
        return classify(self.argv)


@dataclass
class Trace:
    """What the sampler saw during one command."""

    start: float
    end: float = 0.0
    root: int = 0
    procs: dict[int, Proc] = field(default_factory=dict)
    served: list[tuple[float, int]] = field(default_factory=list)  # (time, model bytes so far)
    root_io: list[tuple[float, int, float]] = field(default_factory=list)  # (time, rchar, cpu)
    host_requests: list[tuple[float, str]] = field(default_factory=list)  # the model host's log

    @property
    def peak(self) -> Proc | None:
        return max(self.procs.values(), key=lambda p: p.peak_rss, default=None)

    def children(self, of: int | None = None) -> list[Proc]:
        """Direct children of ``of`` (default: the root), by start time."""
        parent = self.root if of is None else of
        kids = [p for p in self.procs.values() if p.parent == parent and p.label != WATCHDOG]
        return sorted(kids, key=lambda p: p.first)


# pipmodels' watchdog (runner.py): alive for the whole run, it waits, and stops children's
# process groups if pipmodels dies. It is not a step.
WATCHDOG = "pipmodels watchdog"


def classify(argv: Sequence[str]) -> str:
    """A short name for a process of the tree, from its command line."""
    words = list(argv)
    if "-m" in words[:-1]:
        module = words[words.index("-m") + 1]
        rest = words[words.index("-m") + 2 :]
        return f"{module} {rest[0]}" if rest and not rest[0].startswith("-") else module
    if len(words) >= 3 and Path(words[0]).name == "uv" and words[1] == "pip":
        return f"uv pip {words[2]}"
    if "-c" in words:
        script = words[words.index("-c") + 1] if words.index("-c") + 1 < len(words) else ""
        if "sys.path" in script and "distributions" in script:
            return "target python: packages and search path"
        if "sys.path" in script:
            return "target python: search path"
        if "distributions" in script:
            return "target python: installed packages"
        if "killpg" in script:
            return WATCHDOG
        return "python -c"
    return Path(words[0]).name if words else "?"


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, cpu seconds) from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _io(pid: int) -> tuple[int, int]:
    try:
        values = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(values["rchar"]), int(values["wchar"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def _argv(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _descendants(root: int) -> dict[int, tuple[int, float]]:
    """Every live process under ``root`` (itself included): pid -> (parent, cpu)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in tree:
            tree[pid] = stats[pid]
            todo += [child for child, (parent, _) in stats.items() if parent == pid]
    return tree


class Sampler:
    """Samples the tree under one pid until stopped."""

    def __init__(self, trace: Trace, served: Callable[[], int]) -> None:
        self.trace = trace
        self.served = served
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(INTERVAL)

    def sample(self) -> None:
        now = time.perf_counter()
        trace = self.trace
        trace.served.append((now, self.served()))
        for pid, (parent, cpu) in _descendants(trace.root).items():
            proc = trace.procs.get(pid)
            if proc is None:
                proc = trace.procs[pid] = Proc(pid, parent, _argv(pid), now, now)
            proc.last, proc.cpu = now, cpu
            proc.peak_rss = max(proc.peak_rss, _rss(pid))
            proc.rchar, proc.wchar = _io(pid)
            if pid == trace.root:
                trace.root_io.append((now, proc.rchar, cpu))


def traced_run(
    cmd: Sequence[str], *, env: dict[str, str], cwd: Path, served: Callable[[], int]
) -> tuple[str, Trace]:
    """Run ``cmd`` like ``world.run`` while sampling its process tree."""
    trace = Trace(time.perf_counter())
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    trace.root = proc.pid
    sampler = Sampler(trace, served)
    sampler.thread.start()
    try:
        output, _ = proc.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        trace.end = time.perf_counter()
        sampler.stop.set()
        sampler.thread.join()
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return output, trace
