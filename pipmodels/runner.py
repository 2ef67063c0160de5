"""The one door through which pipmodels starts other programs (pip, pip-compile, pip-sync)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipmodels import console
from pipmodels.credentials import Redactor
from pipmodels.errors import Interrupted, PipmodelsError

TAIL_LINES = 15


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr interleaved, already redacted


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cwd: Path | None = None,
    what: str,
    hint: str = "",
    check: bool = True,
) -> Result:
    """Run ``cmd`` without a shell, passing its redacted output on at ``-v``.

    With ``check`` a non-zero exit raises :class:`PipmodelsError` naming ``what`` failed, with the
    tail of the output; without it the caller gets the :class:`Result` to interpret itself.
    """
    console.debug("$ " + redactor(" ".join(cmd)))
    lines: deque[str] = deque()
    try:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise PipmodelsError(f"Cannot start {cmd[0]}: {exc.strerror}.", hint) from None
    with _live_lock:
        _live.add(proc)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = redactor(raw.rstrip("\n"))
            lines.append(line)
            console.child(line)
        returncode = proc.wait()
    except KeyboardInterrupt:
        stop_all()
        raise Interrupted() from None
    finally:
        with _live_lock:
            _live.discard(proc)
    output = "\n".join(lines)
    if check and returncode != 0:
        tail = "\n".join(_useful_tail(list(lines)))
        raise PipmodelsError(
            f"{what} failed (exit {returncode}):\n{_indent(tail)}\n", hint or _default_hint()
        )
    return Result(returncode, output)


def python_module(module: str, *args: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", module, *args]


# Children still running, so that Ctrl-C can stop those started by worker threads too.
_live: set[subprocess.Popen[str]] = set()
_live_lock = threading.Lock()


def stop_all() -> None:
    """Stop every child: a terminal's Ctrl-C reached them already, a ``kill -INT`` did not."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _useful_tail(lines: list[str]) -> list[str]:
    """The last lines worth reading: pip-sync follows pip's own error with its traceback."""
    if "Traceback (most recent call last):" in lines:
        lines = lines[: lines.index("Traceback (most recent call last):")] or lines
    return lines[-TAIL_LINES:]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _default_hint() -> str:
    return "Rerun with -v to see the full output."
