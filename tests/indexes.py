"""Real package index servers on 127.0.0.1, as teams run them: pypiserver and devpi-server.

Both are started from the installed packages (the ``test`` extra) in a temporary folder, with
upload authentication on, and stopped when the test ends.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

UPLOADER = "uploader"
UPLOAD_PASSWORD = "upl0ad-pa55-9c1e4b"
START_TIMEOUT = 60


@dataclass
class Index:
    """A running index: where to upload, where pip reads, and who may upload."""

    kind: str
    upload_url: str
    simple_url: str
    username: str
    password: str
    packages: Path | None = None  # pypiserver serves this folder as it is


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited at start:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.exceptions.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start in {START_TIMEOUT} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[Index]:
    """pypiserver with htpasswd upload auth and no fallback to the public index."""
    from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]

    root = tmp_path / "pypiserver"
    packages = root / "packages"
    packages.mkdir(parents=True)
    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password(UPLOADER, UPLOAD_PASSWORD)
    htpasswd.save()
    port = _free_port()
    log = root / "log"
    cmd = [_tool("pypi-server"), "run", "-i", "127.0.0.1", "-p", str(port)]
    cmd += ["-P", str(root / "htpasswd"), "-a", "update", "--disable-fallback", str(packages)]
    with log.open("wb") as stream:
        proc = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url + "simple/", proc, log)
        yield Index("pypiserver", url, url + "simple/", UPLOADER, UPLOAD_PASSWORD, packages)
    finally:
        _stop(proc)


@pytest.fixture
def devpi(tmp_path: Path) -> Iterator[Index]:
    """devpi-server with a user's index that inherits nothing (no proxy of the public index)."""
    root = tmp_path / "devpi"
    server_dir, client_dir = root / "server", root / "client"
    subprocess.run(
        [_tool("devpi-init"), "--serverdir", str(server_dir), "--no-root-pypi"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = root / "log"
    # devpi derives its signing key with argon2 at start; its default costs take ~10 s here.
    cheap_key = [
        "--argon2-memory-cost",
        "8",
        "--argon2-time-cost",
        "1",
        "--argon2-parallelism",
        "1",
    ]
    cmd = [_tool("devpi-server"), "--serverdir", str(server_dir), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--offline-mode", *cheap_key]
    with log.open("wb") as stream:
        proc = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/+api", proc, log)
        client = [_tool("devpi"), "--clientdir", str(client_dir)]
        for args in (
            ["use", url],
            ["user", "-c", UPLOADER, f"password={UPLOAD_PASSWORD}"],
            ["login", UPLOADER, "--password", UPLOAD_PASSWORD],
            ["index", "-c", "models", "bases=", "volatile=False"],
        ):
            subprocess.run([*client, *args], check=True, capture_output=True)
        index = f"{url}/{UPLOADER}/models/"
        yield Index("devpi", index, index + "+simple/", UPLOADER, UPLOAD_PASSWORD)
    finally:
        _stop(proc)
