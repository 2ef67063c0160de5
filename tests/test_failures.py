"""Bad input, refused keys, dead hosts, killed runs: a clear message, nothing half-written."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import SECRET, Project, Venv, files_containing
from tests.servers import Response, Server
from tests.test_attacks_gateway import _alive, _descendants

pytestmark = pytest.mark.slow

WRONG_KEY = "wrong-key-0d9e8f7a"


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(("lock", "pip-cache"))
    }


def assert_nothing_lost(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Every earlier file is still there, byte for byte, and nothing half-written appeared."""
    changed = {k for k in before if k.endswith(("manifest.json", "index.html"))}
    for name, data in before.items():
        if name not in changed:
            assert after.get(name) == data, f"{name} changed or vanished"
    leftovers = [n for n in after if "download-" in n or n.endswith((".tmp", ".part"))]
    assert leftovers == []


@pytest.fixture
def compiled(server: Server, project: Project, tmp_path: Path) -> Project:
    """A project whose requirements.txt and cache are in place before the bad run."""
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0")
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_demo @ {url}\n")
    project.pipmodels("compile")
    return project


def _html_instead(server: Server, project: Project, tmp_path: Path) -> str:
    server.add_file(
        "/fake/other-1.0-py3-none-any.whl", b"<html>Sign in</html>", **{"Content-Type": "text/html"}
    )
    return f"other @ {server.url}/fake/other-1.0-py3-none-any.whl\n"


def _mislabelled(server: Server, project: Project, tmp_path: Path) -> str:
    wheel = build_wheel(tmp_path / "m", "other", "1.0", metadata_name="somethingelse")
    server.add_file(f"/m/{wheel.name}", wheel.read_bytes())
    return f"{server.url}/m/{wheel.name}\n"


def _two_versions(server: Server, project: Project, tmp_path: Path) -> str:
    one = build_wheel(tmp_path / "1", "twin", "1.0")
    two = build_wheel(tmp_path / "2", "twin", "2.0")
    urls = [server.add_release_asset("a/b", tag, wheel) for tag, wheel in (("1", one), ("2", two))]
    return "".join(f"{url}\n" for url in urls)


BAD_LINES: dict[str, tuple[Callable[[Server, Project, Path], str], str]] = {
    "404": (lambda s, p, t: f"other @ {s.url}/nowhere/other-1.0-py3-none-any.whl\n", "HTTP 404"),
    "hash-mismatch": (
        lambda s, p, t: (
            p.root.joinpath("requirements.in").read_text().strip()
            + " --hash=sha256:"
            + "0" * 64
            + "\n"
        ),
        "does not match",
    ),
    "malformed": (lambda s, p, t: "this is not! a requirement\n", "line 2: cannot parse"),
    "html": (_html_instead, "not a readable package archive"),
    "mislabelled": (_mislabelled, "metadata says"),
    "two-versions": (_two_versions, "Two models pin twin at different versions"),
}


@pytest.mark.parametrize("case", BAD_LINES, ids=list(BAD_LINES))
def test_bad_requirement_lines(
    case: str, compiled: Project, server: Server, tmp_path: Path
) -> None:
    make_line, message = BAD_LINES[case]
    original = compiled.root.joinpath("requirements.in").read_text()
    line = make_line(server, compiled, tmp_path)
    text = line if case == "hash-mismatch" else original + line
    compiled.write("requirements.in", text)
    before = snapshot(compiled.root)

    run = compiled.pipmodels("compile", check=False)

    assert run.returncode == 1
    assert message in run.stderr
    assert "Traceback" not in run.output
    assert run.stderr.startswith(("error:", "Fetching")), run.stderr
    after = snapshot(compiled.root)
    assert after["requirements.txt"] == before["requirements.txt"]
    assert_nothing_lost(before, after)


def test_missing_models_file(compiled: Project) -> None:
    run = compiled.pipmodels("compile", "-m", "nope.txt", check=False)
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.splitlines()[0] == "error: The models file nope.txt does not exist."


def test_unusable_cache_folder(compiled: Project) -> None:
    compiled.write("not-a-folder", "x")
    run = compiled.pipmodels("compile", "--cache-dir", "not-a-folder", check=False)
    assert run.returncode == 1
    assert "Cannot use the cache folder" in run.stderr
    assert "--cache-dir" in run.stderr


# -- credentials on failure paths -----------------------------------------------------------


@pytest.fixture
def private(server: Server, project: Project, tmp_path: Path) -> str:
    prodigy = build_wheel(tmp_path / "p", "prodigy", "1.15.3")
    page = server.add_find_links_page("/prodigy", SECRET, [prodigy])
    project.spy_secret = SECRET
    return page


@pytest.mark.parametrize("verbose", [[], ["-v"]], ids=["default", "verbose"])
@pytest.mark.parametrize("userinfo", ["${PRODIGY_KEY}@", "${PRODIGY_KEY}:@"])
def test_wrong_key_is_named_not_printed(
    private: str, project: Project, verbose: list[str], userinfo: str
) -> None:
    project.write(
        "models.txt", f"-f {private.replace('http://', 'http://' + userinfo)}\nprodigy==1.15.3\n"
    )
    project.write("requirements.in", "")
    project.env["PRODIGY_KEY"] = WRONG_KEY
    project.spy_secret = WRONG_KEY

    run = project.pipmodels("download", "-m", "models.txt", *verbose, check=False)

    assert run.returncode == 1
    assert "the server refused the credentials (HTTP 401)" in run.stderr
    assert "http://****@127.0.0.1" in run.stderr
    assert "Check PRODIGY_KEY" in run.stderr
    assert WRONG_KEY not in run.output
    assert project.files_containing(WRONG_KEY) == []


@pytest.mark.parametrize("verbose", [[], ["-v"]], ids=["default", "verbose"])
def test_missing_package_on_private_page(
    private: str, project: Project, verbose: list[str]
) -> None:
    project.write(
        "models.txt", f"-f {private.replace('http://', 'http://${PRODIGY_KEY}:@')}\nprodigy==9.9\n"
    )
    project.write("requirements.in", "")
    project.env["PRODIGY_KEY"] = SECRET

    run = project.pipmodels("download", "-m", "models.txt", *verbose, check=False)

    assert run.returncode == 1
    assert "no wheel matching prodigy==9.9 was found" in run.stderr
    assert SECRET not in run.output
    assert project.files_containing(SECRET) == []


def test_unreachable_host(project: Project) -> None:
    project.write("models.txt", "-f http://${PRODIGY_KEY}@127.0.0.1:9/prodigy/\nprodigy==1.15.3\n")
    project.write("requirements.in", "")
    project.env["PRODIGY_KEY"] = SECRET
    project.spy_secret = SECRET

    run = project.pipmodels("download", "-m", "models.txt", check=False)

    assert run.returncode == 1
    assert "the host could not be reached at http://****@127.0.0.1:9/prodigy/" in run.stderr
    assert SECRET not in run.output


def test_env_file_beside_the_inputs(private: str, project: Project) -> None:
    project.write(".env", f"# the key\nexport PRODIGY_KEY='{SECRET}'\n")
    project.write(
        "models.txt",
        f"-f {private.replace('http://', 'http://${PRODIGY_KEY}@')}\nprodigy==1.15.3\n",
    )
    project.write("requirements.in", "")
    run = project.pipmodels("download", "-m", "models.txt")
    assert run.stdout == "prodigy==1.15.3\n"
    assert [p.name for p in project.files_containing(SECRET)] == [".env"]


# -- interrupted and concurrent runs --------------------------------------------------------


@pytest.fixture
def slow_model(server: Server, project: Project, tmp_path: Path) -> Path:
    model = build_wheel(tmp_path / "slow", "en_big", "1.0.0", payload=3_000_000)
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_big @ {url}\n")
    server.throttle = 0.02  # about 3 MB/s
    return model


def _wait_for_bytes(server: Server, name: str) -> None:
    deadline = time.monotonic() + 60
    while server.bytes_of(name) < 200_000:
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_download_converges(
    slow_model: Path, project: Project, server: Server, sig: signal.Signals
) -> None:
    proc = project.start("download")
    _wait_for_bytes(server, slow_model.name)
    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C reaches the whole process group
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert stderr.strip().splitlines()[-1].startswith("error: Interrupted")
        assert "Traceback" not in stderr
    cache = project.root / ".pipmodels-cache"
    assert not (cache / slow_model.name).exists()

    server.throttle = 0
    run = project.pipmodels("download")

    assert run.stdout == "en-big==1.0.0\n"
    assert (cache / slow_model.name).read_bytes() == slow_model.read_bytes()
    names = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    assert names == [
        ".gitignore",
        ".pipmodels",
        ".pipmodels/lock",  # empty; the lock lives in the cache so every path to it finds it
        ".pipmodels/manifest.json",
        "en_big-1.0.0-py3-none-any.whl",
        "index.html",
    ]


def test_concurrent_runs_share_one_cache(
    slow_model: Path, project: Project, server: Server
) -> None:
    first, second = project.start("download"), project.start("download")
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], results
    assert [out for out, _ in results] == ["en-big==1.0.0\n"] * 2
    assert server.bytes_of(slow_model.name) == slow_model.stat().st_size


def test_truncated_cache_file_is_fetched_again(
    compiled: Project, server: Server, tmp_path: Path
) -> None:
    cached = next((compiled.root / ".pipmodels-cache").glob("*.whl"))
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])  # as a full disk would leave it
    server.reset_counts()

    compiled.pipmodels("compile")

    assert server.bytes_of(cached.name) == len(whole)
    assert cached.read_bytes() == whole


def test_secret_in_the_url_never_reaches_output(
    server: Server, project: Project, tmp_path: Path
) -> None:
    """A key written into a direct URL (not as ${VAR}) is scrubbed all the same."""
    model = build_wheel(tmp_path / "k", "en_keyed", "1.0.0")
    server.routes["/keyed/" + model.name] = lambda r: (
        Response(200, model.read_bytes()) if r.headers.get("authorization") else Response(401)
    )
    url = f"{server.url}/keyed/{model.name}".replace("http://", f"http://{SECRET}:x@")
    project.write("requirements.in", f"en_keyed @ {url}\n")
    project.spy_secret = SECRET
    run = project.pipmodels("compile", "-v")
    assert SECRET not in run.output
    assert "en-keyed==1.0.0" in (project.root / "requirements.txt").read_text()
    assert [p.name for p in project.files_containing(SECRET)] == ["requirements.in"]


@pytest.fixture
def keyed_sync(server: Server, index: str, project: Project, venv: Venv, tmp_path: Path) -> Project:
    """A synced project whose next sync downloads a big new Prodigy through the gateway: its
    models file names a keyed find-links page, and the page serves the new release slowly."""
    old = build_wheel(tmp_path / "old", "prodigy", "1.15.3")
    noise = {"prodigy/noise.bin": os.urandom(4 << 20)}  # does not compress: 4 MB on the wire
    new = build_wheel(tmp_path / "new", "prodigy", "1.16.0", extra_files=noise)
    server.add_find_links_page("/prodigy", SECRET, [old, new])
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    project.write("requirements.in", "helperlib\n")
    page = f"-f http://${{PRODIGY_KEY}}@{server.url.split('//')[1]}/prodigy/\n"
    project.write("models.txt", page + "prodigy==1.15.3\n")
    project.pipmodels("sync", "-m", "models.txt", "--python-executable", venv.python)
    project.write("models.txt", page + "prodigy==1.16.0\n")
    server.throttle = 0.2  # 64 KB every 0.2 s: the download is under way for a while
    return project


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["Ctrl-C", "kill-9"])
def test_a_sync_stopped_mid_download_through_a_keyed_origin_leaves_everything_as_it_was(
    keyed_sync: Project, server: Server, venv: Venv, tmp_path: Path, sig: signal.Signals
) -> None:
    project = keyed_sync
    args = ["sync", "-m", "models.txt", "--python-executable", venv.python]
    before = snapshot(project.root)
    packages = venv.freeze()
    proc = project.start(*args)
    deadline = time.monotonic() + 60
    while not server.bytes_of("prodigy-1.16.0-py3-none-any.whl") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.bytes_of("prodigy-1.16.0-py3-none-any.whl"), "the download never started"
    tree = _descendants(proc.pid)
    assert tree, "pip download was not running"

    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C reaches the foreground process group
    _, stderr = proc.communicate(timeout=60)

    deadline = time.monotonic() + 10
    while any(_alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in tree if _alive(p)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "a child outlived the stopped run"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        message = stderr[stderr.index("error:") :].strip()
        assert message.startswith("error: Interrupted"), stderr
        assert "\n\n" not in message and "Traceback" not in stderr  # one paragraph
        assert SECRET not in stderr
    after = snapshot(project.root)
    if sig == signal.SIGKILL:  # no chance to clean up: the next run sweeps the scratch folder
        after = {name: data for name, data in after.items() if "/download-" not in name}
    assert after["requirements.txt"] == before["requirements.txt"]
    assert_nothing_lost(before, after)
    assert not list((project.root / ".pipmodels-cache").glob("prodigy-1.16.0*"))
    assert venv.freeze() == packages
    assert files_containing(SECRET, tmp_path) == []

    server.throttle = 0
    project.pipmodels(*args)  # the next run converges
    assert venv.freeze()["prodigy"] == "1.16.0"
    assert [name for name in snapshot(project.root) if "download-" in name] == []
    runs = tmp_path / "pipmodels-state" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []
