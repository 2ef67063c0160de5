"""Where a cold ``pipmodels sync`` spends its time, step by step, from its watched process tree.

Each child process (pip download, pip index, pip-compile, pip-sync, the target's Python) is
alive from its first to its last sample; the model host's log splits ``pip download`` into
start-up, transfer and what pip does after the last byte. Between two children pipmodels works
alone: its CPU time and the bytes it reads there show hashing and verifying.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.proctree import INTERVAL, Proc, Trace

HALF = INTERVAL / 2  # a process lives about half a sampling interval beyond its first and last

SHOWN = {
    "pip index": "pip index versions (namesake check)",
    "piptools compile": "pip-compile",
    "piptools sync": "pip-sync",
}
# What pipmodels does alone between two children, by (child before, child after)
OWN_WORK = {
    "start": "pipmodels start-up: imports, inputs, cache lock",
    "pip download": "pipmodels: verify the archive (zip test, sha256), move it into the cache",
    "pip index": "pipmodels: mirror the inputs for pip-compile",
    "piptools compile": "pipmodels: pin the models in requirements.txt, write it",
    "uv pip compile": "pipmodels: pin the models in requirements.txt, write it",
    "target python: installed packages": "pipmodels: write pip-sync's request",
    "target python: packages and search path": "pipmodels: compile or sync preparation",
    "piptools sync": "pipmodels: after pip-sync",
    "uv pip sync": "pipmodels: after uv pip sync",
}
RECORD = "pipmodels: record the no-op state (fingerprint), exit"


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # seconds since the command started
    seconds: float
    note: str = ""


def phases(trace: Trace, model_size: int) -> list[Phase]:
    """The timeline of one traced command: children and the gaps between them."""
    found: list[Phase] = []
    cursor, previous = trace.start, "start"
    for child in trace.children():
        begin, end = child.first - HALF, child.last + HALF
        if begin > cursor:
            found += gap_phases(trace, cursor, begin, previous, child.label, model_size)
        found += child_phases(trace, child, model_size)
        cursor, previous = max(cursor, end), child.label
    found += gap_phases(trace, cursor, trace.end, previous, "exit", model_size)
    return found


IN_PROCESS = (
    "pipmodels start-up: imports, inputs, cache lock, until the first request",
    "pipmodels download (in process): transfer",
    "pipmodels: verify the archive (zip test), move it into the cache",
)


def gap_phases(
    trace: Trace, begin: float, end: float, before: str, after: str, model_size: int
) -> list[Phase]:
    """pipmodels alone; split at the model host's first request and last byte when pipmodels
    downloaded the model itself in that time."""
    first_request = next((t for t, _ in trace.host_requests if begin <= t <= end), None)
    last_byte = next((t for t, n in trace.served if n >= model_size and begin <= t <= end), None)
    if first_request is None or last_byte is None:
        return [own_work(trace, begin, end, before, after)]
    mb = model_size / 1e6
    transfer = max(last_byte - first_request, 1e-3)
    parts = [
        (IN_PROCESS[0], begin, first_request),
        (IN_PROCESS[1], first_request, last_byte),
        (IN_PROCESS[2], last_byte, end),
    ]
    found = []
    for name, start, stop in parts:
        rchar, cpu = root_usage(trace, start, stop)
        note = f"pipmodels CPU {cpu:.2f} s, read {max(rchar, 0) / 1e6:.0f} MB itself"
        if name == IN_PROCESS[1]:
            note += f"; {mb:.0f} MB, {mb / transfer:.0f} MB/s"
        found.append(Phase(name, start - trace.start, stop - start, note))
    return found


def own_work(trace: Trace, begin: float, end: float, before: str, after: str) -> Phase:
    rchar, cpu = root_usage(trace, begin, end)
    name = OWN_WORK.get(before, f"pipmodels: after {before}, before {after}")
    if after == "exit" and before not in ("pip download", "start"):
        name = RECORD
    note = f"pipmodels CPU {cpu:.2f} s, read {max(rchar, 0) / 1e6:.0f} MB itself"
    return Phase(name, begin - trace.start, end - begin, note)


def root_usage(trace: Trace, begin: float, end: float) -> tuple[int, float]:
    """Bytes pipmodels read and CPU seconds it used between two instants (from its samples).

    Linux adds a child's I/O counts to its parent's when the parent reaps it: the children
    that ended in the window are taken off again.
    """
    inside = [s for s in trace.root_io if begin - HALF <= s[0] <= end + HALF]
    if len(inside) < 2:
        return 0, 0.0
    first, last = inside[0][0], inside[-1][0]
    reaped = sum(
        p.rchar + sum(d.rchar for d in descendants(trace, p.pid))
        for p in trace.children()
        if first <= p.last + INTERVAL and p.last <= last
    )
    return inside[-1][1] - inside[0][1] - reaped, inside[-1][2] - inside[0][2]


def child_phases(trace: Trace, child: Proc, model_size: int) -> list[Phase]:
    begin, end = child.first - HALF, child.last + HALF
    offset = begin - trace.start
    note = child_note(trace, child)
    if child.label != "pip download":
        return [Phase(SHOWN.get(child.label, child.label), offset, end - begin, note)]
    first_request = next((t for t, _ in trace.host_requests if begin <= t <= end), None)
    last_byte = next((t for t, n in trace.served if n >= model_size and begin <= t), None)
    if first_request is None or last_byte is None:
        return [Phase(child.label, offset, end - begin, note)]
    mb = model_size / 1e6
    transfer = max(last_byte - first_request, 1e-3)
    return [
        Phase("pip download: start-up until the first request", offset, first_request - begin),
        Phase(
            "pip download: transfer",
            first_request - trace.start,
            transfer,
            f"{mb:.0f} MB, {mb / transfer:.0f} MB/s",
        ),
        Phase(
            "pip download: after the last byte, until exit",
            last_byte - trace.start,
            end - last_byte,
            note,
        ),
    ]


def child_note(trace: Trace, child: Proc) -> str:
    """Memory and I/O of a child and everything under it."""
    tree = [child, *descendants(trace, child.pid)]
    peak = max(tree, key=lambda p: p.peak_rss)
    parts = [
        f"peak RSS {peak.peak_rss / 1e6:.0f} MB ({peak.label})",
        f"read {sum(p.rchar for p in tree) / 1e6:.0f} MB",
        f"wrote {sum(p.wchar for p in tree) / 1e6:.0f} MB",
    ]
    inner = [p for p in tree[1:] if p.last - p.first > INTERVAL]
    parts += [f"{p.label} {p.last - p.first + INTERVAL:.2f} s inside" for p in inner]
    return ", ".join(parts)


def descendants(trace: Trace, pid: int) -> list[Proc]:
    found, todo = [], [pid]
    while todo:
        kids = trace.children(of=todo.pop())
        found += kids
        todo += [k.pid for k in kids]
    return found


def totals(found: list[Phase]) -> dict[str, float]:
    """Seconds per kind of step: pipmodels alone, each kind of child."""
    sums: dict[str, float] = {}
    for phase in found:
        key = phase.name.split(":")[0].split(" (")[0]
        if key.startswith("pipmodels download"):
            key = "download in pipmodels"
        elif key.startswith("pipmodels"):
            key = "pipmodels alone"
        sums[key] = sums.get(key, 0.0) + phase.seconds
    return sums
