"""What each pip prints when `pip download` of a model by name fails, read into the message a
user gets: with the pip `python -m venv` bundles and with the newest pip as the tool's pip.

pipmodels reads pip's output in one place (pipoutput.py); these runs check its patterns
against what the real pips print. The model comes from a keyed find-links page, as Prodigy's
does, so the download goes through the gateway, and the key is never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import SECRET, Project, ToolPip
from tests.servers import Server

pytestmark = pytest.mark.slow

NAME = "prodigy-1.15.3-py3-none-any.whl"


def _no_such_version(folder: Path) -> tuple[Path, str]:
    return build_wheel(folder, "prodigy", "1.15.3"), "prodigy==9.9"


def _hash_mismatch(folder: Path) -> tuple[Path, str]:
    return build_wheel(folder, "prodigy", "1.15.3"), "prodigy==1.15.3 --hash=sha256:" + "0" * 64


def _mislabelled(folder: Path) -> tuple[Path, str]:
    wheel = build_wheel(folder, "prodigy", "1.15.3", metadata_name="somethingelse")
    return wheel, "prodigy==1.15.3"


def _a_sign_in_page(folder: Path) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / NAME
    page.write_bytes(b"<html><body>Sign in</body></html>")
    return page, "prodigy==1.15.3"


FAILURES: dict[str, tuple[Callable[[Path], tuple[Path, str]], str]] = {
    "no such version": (_no_such_version, "no wheel matching prodigy==9.9 was found"),
    "hash mismatch": (_hash_mismatch, "does not match its --hash"),
    # pip 26 refuses the archive itself ("has inconsistent name"); pip 23.2 downloads it, and
    # pipmodels' own check of the archive refuses it: the same words either way.
    "mislabelled": (_mislabelled, "but its metadata says"),
    "a sign-in page": (_a_sign_in_page, "not a readable package archive"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_pip_download_is_named_with_each_pip(
    failure: str, tool_pip: ToolPip, server: Server, project: Project, tmp_path: Path
) -> None:
    make, message = FAILURES[failure]
    archive, line = make(tmp_path / "served")
    page = server.add_find_links_page("/prodigy", SECRET, [archive])
    keyed = page.replace("http://", "http://${PRODIGY_KEY}@")
    project.write("models.txt", f"-f {keyed}\n{line}\n")
    project.env["PRODIGY_KEY"] = SECRET

    run = project.pipmodels("download", "-m", "models.txt", check=False)

    assert run.returncode == 1, run.output
    assert message in run.stderr, f"pip {tool_pip.version}:\n{run.stderr}"
    assert "Traceback" not in run.output
    assert failure != "mislabelled" or "somethingelse" in run.stderr
    assert SECRET not in run.output
    assert not list((project.root / ".pipmodels-cache").glob("prodigy*"))
