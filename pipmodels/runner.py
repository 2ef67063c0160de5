"""The one door through which pipmodels starts other programs (pip, pip-compile, pip-sync).

Commands are lists, never shell strings; output is redacted before anyone sees it; an exit
status the caller did not list as acceptable raises; Ctrl-C stops every child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipmodels import console
from pipmodels.credentials import Redactor
from pipmodels.errors import Interrupted, PipmodelsError
from pipmodels.pipoutput import useful_tail

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
    ok: Collection[int] = (0,),
    explain: Callable[[Result], PipmodelsError] | None = None,
    secret_output: bool = False,
) -> Result:
    """Run ``cmd`` without a shell, passing its redacted output on at ``-v``.

    With ``secret_output`` (a keyring's answer), the output is neither shown nor redacted:
    the caller gets it as printed, and a failure's message names only the command.

    An exit status outside ``ok`` raises: ``explain``'s error when given (it reads the output to
    say what went wrong), else a :class:`PipmodelsError` naming ``what`` with the output's tail.
    A caller cannot forget the status: the only way to see a failure is to list it in ``ok``.
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
            preexec_fn=_dies_with_us() if sys.platform == "linux" else None,
            # POSIX: a group of its own, which the watchdog ends with pipmodels.
            start_new_session=POSIX,
        )
    except OSError as exc:
        raise PipmodelsError(f"Cannot start {cmd[0]}: {exc.strerror}.", hint) from None
    with _live_lock:
        _live.add(proc)
    _watchdog.watch(proc.pid)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if secret_output:
                lines.append(raw.rstrip("\n"))
                continue
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
        _end_group(proc)
    result = Result(returncode, "\n".join(lines))
    if returncode in ok:
        return result
    if explain is not None:
        raise explain(result)
    if secret_output:
        raise PipmodelsError(f"{what} failed (exit {returncode}).", hint or _default_hint())
    tail = "\n".join(useful_tail(list(lines), TAIL_LINES))
    raise PipmodelsError(
        f"{what} failed (exit {returncode}):\n{_indent(tail)}\n", hint or _default_hint()
    )


# Children still running, so that Ctrl-C can stop those started by worker threads too.
_live: set[subprocess.Popen[str]] = set()
_live_lock = threading.Lock()


def stop_all() -> None:
    """Stop every child and what it started (a child's group is its own, so a terminal's
    Ctrl-C reaches pipmodels only)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


POSIX = sys.platform != "win32"


def _signal_group(proc: subprocess.Popen[str], signum: int) -> None:
    if POSIX:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signum)
    elif signum == signal.SIGTERM:
        proc.terminate()


def _end_group(proc: subprocess.Popen[str]) -> None:
    """After a child: whatever it started and left running (a build hook) ends with it, and
    the watchdog forgets the group, whose number may be reused."""
    if POSIX and proc.poll() is not None:
        _signal_group(proc, signal.SIGKILL)
        _watchdog.forget(proc.pid)


class _Watchdog:
    """A small process that outlives pipmodels only to end its children's groups: it reads
    group numbers from a pipe, and when the pipe closes (pipmodels exited, or was killed with
    SIGKILL) kills every group it still holds. POSIX only; started with the first child."""

    CODE = (
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "groups = set()\n"
        "for line in sys.stdin:\n"
        "    n = int(line)\n"
        "    groups.add(n) if n > 0 else groups.discard(-n)\n"
        "for group in groups:\n"
        "    try:\n"
        "        os.killpg(group, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
    )

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def watch(self, group: int) -> None:
        self._tell(group)

    def forget(self, group: int) -> None:
        self._tell(-group)

    def _tell(self, number: int) -> None:
        if not POSIX:
            return
        with self._lock:
            try:
                if self._proc is None:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-c", self.CODE],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        text=True,
                        start_new_session=True,
                    )
                assert self._proc.stdin is not None
                self._proc.stdin.write(f"{number}\n")
                self._proc.stdin.flush()
            except OSError:
                pass  # no watchdog: children still end with pipmodels on Ctrl-C and on exit


_watchdog = _Watchdog()


def _dies_with_us() -> Callable[[], None] | None:
    """Linux: a child that gets SIGTERM when pipmodels dies, however it dies (even SIGKILL,
    which gives pipmodels no chance to stop it). Prepared before the fork: the child only
    makes one call. None where libc cannot be loaded."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # pipmodels died before the call took effect
            os._exit(1)

    return child


PR_SET_PDEATHSIG = 1


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _default_hint() -> str:
    return "Rerun with -v to see the full output."
