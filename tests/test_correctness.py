"""What a newcomer meets in the first hour: every error a message, a cache that heals itself,
signals and slow servers handled, and a sync that says what it does to an environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import SECRET, Project, Venv
from tests.servers import Request, Response, Server

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(server: Server, project: Project, index: str, tmp_path: Path) -> Path:
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0", requires=["tinyspacy"])
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_demo @ {url}\ntinyspacy<3.9\n")
    project.env["PIP_INDEX_URL"] = index
    return model


def state_of(project: Project) -> dict[str, bytes]:
    return {
        str(p.relative_to(project.root)): p.read_bytes()
        for p in sorted(project.root.rglob("*"))
        if p.is_file()
    }


def fails_cleanly(project: Project, *args: str) -> str:
    before = state_of(project)
    run = project.pipmodels(*args, check=False)
    assert run.returncode == 1, run.output
    assert "Traceback" not in run.output
    assert "error: " in run.stderr
    assert state_of(project) == before, "a failed run changed the project or its cache"
    return run.stderr


@pytest.mark.parametrize("check", ["--check", "--dry-run"])
def test_a_failing_pip_sync_fails_check_and_dry_run(
    demo: Path, project: Project, venv: Venv, check: str
) -> None:
    project.pipmodels("compile")
    project.write("pyproject.toml", '[tool.pipmodels]\npip-sync-args = ["--no-such-option"]\n')
    stderr = fails_cleanly(project, "sync", check, "--python-executable", venv.python)
    assert "pip-sync failed (exit 2)" in stderr
    assert "Up to date" not in stderr


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("missing/requirements.txt", "is in a folder that does not exist"),
        ("a-folder", "is a folder"),
    ],
)
def test_a_bad_output_path_is_a_message(
    demo: Path, project: Project, output: str, message: str
) -> None:
    (project.root / "a-folder").mkdir()
    assert message in fails_cleanly(project, "compile", "-o", output)


def test_bad_inputs_are_messages(demo: Path, project: Project) -> None:
    project.write("models.txt", "-e ./somewhere\n")
    assert "an editable install is not one" in fails_cleanly(project, "compile", "-m", "models.txt")
    project.write("models.txt", "-r more.txt\n")
    project.write("more.txt", "-r models.txt\n")
    assert "include each other in a cycle" in fails_cleanly(project, "compile", "-m", "models.txt")
    (project.root / "more.txt").unlink()
    (project.root / "models.txt").unlink()
    stderr = fails_cleanly(project, "compile", "--cache-dir", ".")
    assert "holds other files" in stderr


def test_a_utf8_bom_and_crlf_models_file_is_read(
    server: Server, project: Project, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "m", "en_bom", "1.0.0")
    url = server.add_release_asset("acme/models", "v1", model)
    (project.root / "models.txt").write_bytes(f"\ufeff# models\r\nen_bom @ {url}\r\n".encode())
    assert project.pipmodels("download", "-m", "models.txt").stdout == "en-bom==1.0.0\n"


def test_the_cache_heals_a_deleted_page_and_an_edited_file(
    demo: Path, project: Project, server: Server, venv: Venv
) -> None:
    args = ["sync", "--python-executable", venv.python]
    project.pipmodels(*args)
    cache = project.root / ".pipmodels-cache"
    (cache / "index.html").unlink()
    cached = cache / demo.name
    stat = cached.stat()
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the mtime put back
    server.reset_counts()

    run = project.pipmodels(*args)

    assert server.bytes_of(demo.name) == demo.stat().st_size, run.output
    assert cached.read_bytes() == demo.read_bytes()
    assert demo.name in (cache / "index.html").read_text()


def test_a_5xx_is_retried_and_a_trickling_server_is_given_up(
    server: Server, project: Project, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "m", "en_flaky", "1.0.0", payload=200_000)
    answers = iter([Response(503, b"busy"), Response(200, model.read_bytes())])
    server.routes[f"/flaky/{model.name}"] = lambda _r: next(answers)
    server.archives[f"/flaky/{model.name}"] = model.name
    project.write("requirements.in", f"en_flaky @ {server.url}/flaky/{model.name}\n")
    project.env["PIP_RETRIES"] = "2"
    run = project.pipmodels("download")
    assert run.stdout == "en-flaky==1.0.0\n"
    assert "HTTP 503" in run.stderr

    slow = build_wheel(tmp_path / "s", "en_slow", "1.0.0", payload=200_000)
    server.add_file(f"/slow/{slow.name}", slow.read_bytes())
    server.chunk, server.throttle = 100, 0.5  # 200 bytes a second
    project.write("requirements.in", f"en_slow @ {server.url}/slow/{slow.name}\n")
    project.env["PIPMODELS_STALL_SECONDS"] = "2"
    stderr = fails_cleanly(project, "download")
    assert "pipmodels gave up on it" in stderr
    assert list((project.root / ".pipmodels-cache").glob("en_slow*")) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_download_stops_at_once_and_leaves_nothing(
    server: Server, project: Project, tmp_path: Path, sig: signal.Signals
) -> None:
    model = build_wheel(tmp_path / "big", "en_big", "1.0.0", payload=3_000_000)
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_big @ {url}\n")
    server.throttle = 0.05
    proc = project.start("download")
    deadline = time.monotonic() + 60
    while server.bytes_of(model.name) < 200_000:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sent = time.monotonic()
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 5, "the run did not stop promptly"
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1].startswith("error: Interrupted")
    state = project.root / ".pipmodels-cache" / ".pipmodels"
    assert list(state.glob("download-*")) == []
    runs = tmp_path / "pipmodels-state" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


def test_a_waiting_run_says_for_whom(server: Server, project: Project, tmp_path: Path) -> None:
    model = build_wheel(tmp_path / "big", "en_big", "1.0.0", payload=1_000_000)
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_big @ {url}\n")
    # The first run holds the cache for as long as its download lasts: the server answers it
    # only once the second run has said that it waits, however slowly either starts.
    blob = next(path for path, name in server.archives.items() if name == model.name)
    serve, asked, release = server.routes[blob], threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        asked.set()
        release.wait(120)
        return serve(request)

    server.routes[blob] = held
    first = project.start("download")
    assert asked.wait(120), "the first run never asked for the model"
    second = project.start("download")
    guard = threading.Timer(120, release.set)  # a failing test ends instead of hanging
    guard.start()
    assert second.stderr is not None
    told = []
    for line in second.stderr:
        told.append(line)
        if "Waiting for pipmodels run" in line:
            break
    release.set()
    guard.cancel()
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert f"Waiting for pipmodels run pid {first.pid}" in "".join(told) + results[1][1]


def test_sync_says_what_it_removes_and_refuses_a_system_python(
    demo: Path, project: Project, venv: Venv, tmp_path: Path
) -> None:
    handmade = build_wheel(tmp_path / "h", "handmade", "1.0")
    venv.install_offline(handmade.parent, "handmade")
    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert "removed: handmade" in run.stderr
    assert "installed: " in run.stderr and "en-demo" in run.stderr

    system = getattr(sys, "_base_executable", None) or sys.executable
    stderr = fails_cleanly(project, "sync", "--python-executable", system)
    assert "is not a virtual environment" in stderr
    assert "--allow-system" in stderr


def test_env_file_warnings(server: Server, project: Project, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    prodigy = build_wheel(tmp_path / "p", "prodigy", "1.15.3")
    page = server.add_find_links_page("/prodigy", SECRET, [prodigy])
    project.write(".env", f"PRODIGY_KEY='{SECRET}'  # from the licence email\n")
    project.write(
        "models.txt",
        "-f " + page.replace("http://", "http://${PRODIGY_KEY}@") + "\nprodigy==1.15.3\n",
    )
    run = project.pipmodels("download", "-m", "models.txt")
    assert run.stdout == "prodigy==1.15.3\n"
    assert ".env is not ignored by git" in run.stderr
    assert SECRET not in run.output

    project.write(".gitignore", ".env\n")
    project.write(
        "models.txt", "-f " + page.replace("http://", f"http://{SECRET}@") + "\nprodigy==1.15.3\n"
    )
    run = project.pipmodels("download", "-m", "models.txt")
    assert ".env is not ignored" not in run.stderr
    assert "models.txt, line 1 holds a credential written out" in run.stderr
    assert SECRET not in run.output
