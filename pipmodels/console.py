"""Talk to the user on stderr; results go to stdout from the CLI alone."""

from __future__ import annotations

import os
import re
import sys
import threading

from pipmodels.credentials import redact_url

QUIET, NORMAL, VERBOSE = 0, 1, 2
_level = NORMAL
_lock = threading.Lock()
_status_shown = False  # the meter's line is on the terminal, without a newline
CLEAR_LINE = "\r\033[K"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


def set_level(level: int) -> None:
    global _level
    _level = level


def level() -> int:
    return _level


def _colour(text: str, code: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return f"\033[{code}m{text}\033[0m"


def _write(text: str) -> None:
    # A last net under the per-run Redactor: no URL user-info ever reaches the terminal.
    global _status_shown
    if not sys.stderr.isatty():
        text = ANSI.sub("", text)  # a child's colours (twine's, pip's) make noise in a log
    with _lock:
        if _status_shown:  # a line written over the meter would keep the meter's tail
            sys.stderr.write(CLEAR_LINE)
            _status_shown = False
        print(redact_url(text), file=sys.stderr, flush=True)


def status(text: str) -> None:
    """A line rewritten in place on a terminal (the download meter); the next line clears it."""
    global _status_shown
    with _lock:
        sys.stderr.write(f"\r{redact_url(text)}\033[K")  # cleared after: no tail of a longer one
        sys.stderr.flush()
        _status_shown = True


def clear_status() -> None:
    global _status_shown
    with _lock:
        if _status_shown:
            sys.stderr.write(CLEAR_LINE)
            sys.stderr.flush()
            _status_shown = False


def info(text: str) -> None:
    if _level >= NORMAL:
        _write(text)


def warn(text: str) -> None:
    _write(_colour("warning: ", "33") + text)


def error(text: str) -> None:
    _write(_colour("error: ", "31") + text)


def debug(text: str) -> None:
    if _level >= VERBOSE:
        _write(text)


def child(line: str) -> None:
    """A line of a child process's output, already redacted."""
    if _level >= VERBOSE:
        _write("  " + line)


def is_verbose() -> bool:
    return _level >= VERBOSE


def info_always(text: str) -> None:
    _write(text)


def is_normal() -> bool:
    """Neither -q nor -v: the level at which a progress meter helps rather than interleaves."""
    return _level == NORMAL
