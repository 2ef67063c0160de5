"""Progress on a terminal; in a CI log, no meter line for a download shorter than 10 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Project
from tests.servers import Server

pytestmark = pytest.mark.slow


def test_progress_on_a_terminal_only(server: Server, project: Project, tmp_path: Path) -> None:
    model = build_wheel(tmp_path / "d", "en_big", "1.0.0", payload=3_000_000)
    project.write("requirements.in", server.add_release_asset("a/b", "v1", model) + "\n")
    server.throttle = 0.05

    # On a terminal: the meter counts megabytes as they arrive.
    returncode, seen = project.on_a_terminal("download", "--cache-dir", str(tmp_path / "tty"))
    assert returncode == 0
    assert b"\r  downloaded: " in seen and b" MB" in seen

    # In a CI log (a pipe): no meter line for a short download (a plain one every 10 s).
    run = project.pipmodels("download", "--cache-dir", str(tmp_path / "pipe"))
    assert "downloaded:" not in run.stderr
    assert "\r" not in run.stderr
