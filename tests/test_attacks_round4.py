"""Round 4's attacks on the quick check, the head start and the PEP 751 lock: each a hole
found (kept as the test that proves it closed) or a class tried that held."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipmodels.http import TAIL_BYTES
from tests.builders import build_wheel
from tests.conftest import SECRET, Project, Venv, secret_forms
from tests.servers import Request, Response, Server, basic_auth

UP_TO_DATE = "Up to date: nothing changed since the last sync"


def _synced(server: Server, index: str, project: Project, venv: Venv, tmp_path: Path) -> Project:
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"])
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", "en_demo @ ${DEMO_BASE}" + url[len(server.url) :] + "\n")
    project.env.update(PIP_INDEX_URL=index, DEMO_BASE=server.url)
    project.pipmodels("sync", "--python-executable", venv.python)
    return project


def _sync(project: Project, venv: Venv, *extra: str) -> str:
    return project.pipmodels("sync", "--python-executable", venv.python, *extra).stderr


@pytest.mark.slow
def test_the_quick_check_does_not_answer_once_another_sync_replaced_the_full_record(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The full fast path compares with the one record per cache, requirements.txt and target;
    a sync of the same target under other options (here another --env-file) replaces it, so
    the full path would sync again: the first command line's quick record must not answer."""
    synced = _synced(server, index, project, venv, tmp_path)
    assert UP_TO_DATE in _sync(synced, venv)  # the quick record exists and answers
    synced.write("other.env", "UNUSED=1\n")
    assert UP_TO_DATE not in _sync(synced, venv, "--env-file", "other.env")

    stderr = _sync(synced, venv)

    assert UP_TO_DATE not in stderr  # as the full fast path decides: its record is another's
    assert UP_TO_DATE in _sync(synced, venv)


@pytest.mark.slow
def test_a_tail_that_trickles_is_given_up_as_any_download_is(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The tail asked for first is read under the same stall limit as the rest: a host that
    sends it at 200 bytes a second is given up after PIPMODELS_STALL_SECONDS, not after the
    twenty minutes 256 KiB takes at that rate."""
    model = build_wheel(tmp_path / "s", "en_slow", "1.0.0", payload=200_000)
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_slow @ {url}\n")
    project.env.update(PIP_INDEX_URL=index, PIPMODELS_STALL_SECONDS="2")
    server.chunk, server.throttle = 100, 0.5

    started = time.monotonic()
    run = project.pipmodels("sync", "--python-executable", venv.python, check=False, timeout=90)

    assert time.monotonic() - started < 60
    assert run.returncode == 1, run.output
    assert "pipmodels gave up on it" in run.stderr
    assert not project.root.joinpath("requirements.txt").exists()
    assert not list(project.root.joinpath(".pipmodels-cache").glob("*.whl"))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["query", "path"])
def test_a_page_whose_links_carry_the_key_writes_no_lock(
    where: str, server: Server, project: Project, tmp_path: Path
) -> None:
    """A host that echoes the key into its file links (a token in the query, or in the path
    as some hosts put it) would put the key in pylock.toml, which records each file's URL:
    no lock is written and the message names no key."""
    prodigy = build_wheel(tmp_path / "p", "prodigy", "1.15.3", requires=["helperlib"])
    helper = build_wheel(tmp_path / "pub", "helperlib", "1.0.0")
    public = server.add_index([helper])
    link = (
        f"files/{prodigy.name}?token={SECRET}" if where == "query" else f"{SECRET}/{prodigy.name}"
    )
    page = f'<html><body><a href="{link}">{prodigy.name}</a></body></html>'.encode()
    server.routes["/echo/"] = basic_auth(f"{SECRET}:", page, "text/html")
    file_path = (
        f"/echo/files/{prodigy.name}" if where == "query" else f"/echo/{SECRET}/{prodigy.name}"
    )
    server.routes[file_path] = basic_auth(f"{SECRET}:", prodigy.read_bytes(), "application/zip")
    project.write(
        "requirements.in",
        f"-f {server.url.replace('http://', 'http://${PRODIGY_KEY}@')}/echo/\nprodigy==1.15.3\n",
    )
    project.env.update(PIP_INDEX_URL=public, PRODIGY_KEY=SECRET)

    run = project.pipmodels("compile", "-o", "pylock.toml", check=False)

    assert run.returncode == 1, run.output
    assert not any(form in run.output for form in secret_forms(SECRET))
    assert not project.root.joinpath("pylock.toml").exists()


def _hostile_lock(project: Project, server: Server, tmp_path: Path, where: str) -> None:
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    spelled = "${PRODIGY_KEY}" if where.endswith("${}") else "$PRODIGY_KEY"
    server.routes[f"/x/{SECRET}/{model.name}"] = lambda _r: Response(200, model.read_bytes())
    server.routes[f"/{SECRET}/simple/"] = lambda _r: Response(200, b"<html></html>")
    if where.startswith("archive"):
        package = (
            f'name = "en-demo"\nversion = "1.0.0"\n[packages.archive]\n'
            f'url = "{server.url}/x/{spelled}/{model.name}"\n'
            f'hashes = {{sha256 = "{digest}"}}\n'
        )
    else:
        package = (
            f'name = "en-demo"\nversion = "1.0.0"\nindex = "{server.url}/{spelled}/simple/"\n'
            f'[[packages.wheels]]\nname = "{model.name}"\nurl = "{server.url}/x/{model.name}"\n'
            f'hashes = {{sha256 = "{digest}"}}\n'
        )
    project.write(
        "pylock.toml", f'lock-version = "1.0"\ncreated-by = "someone"\n[[packages]]\n{package}'
    )
    project.env["PRODIGY_KEY"] = SECRET  # the teammate's own key, for Prodigy


@pytest.mark.slow
@pytest.mark.parametrize("where", ["archive url ${}", "index url ${}", "archive url $"])
def test_a_lock_that_names_a_variable_in_a_url_sends_no_key_anywhere(
    where: str, server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """A lock is a file from a pull request: a ``${VAR}`` in one of its URLs would be expanded
    (by pipmodels' reader or pip's) and send the teammate's key to the lock's host."""
    project.env["PIP_INDEX_URL"] = index
    _hostile_lock(project, server, tmp_path, where)

    run = project.pipmodels("sync", "pylock.toml", "--python-executable", venv.python, check=False)

    assert [r.path for r in server.log if SECRET in r.path] == []
    assert run.returncode == 1, run.output
    assert not any(form in run.output for form in secret_forms(SECRET))
    assert "en-demo" not in venv.freeze()


@pytest.mark.slow
def test_an_input_edited_while_a_sync_runs_is_synced_by_the_next_one(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """A sync reads its inputs when it starts; one edited while it downloads is not what it
    installed, so its record must not say the edited input is synced."""
    model = build_wheel(
        tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"], payload=2_000_000
    )
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_demo @ {url}\n")
    project.env["PIP_INDEX_URL"] = index
    server.throttle = 0.1  # 64 KiB per 100 ms: three seconds for the model

    running = project.start("sync", "--python-executable", venv.python)
    deadline = time.monotonic() + 60
    while server.bytes_of(model.name) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    project.write("requirements.in", f"en_demo @ {url}\nhelperlib\n")
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 0, stderr
    assert "helperlib" not in venv.freeze()  # the sync installed what it read
    server.throttle = 0

    stderr = _sync(project, venv)

    assert UP_TO_DATE not in stderr
    assert "helperlib" in venv.freeze()


@pytest.mark.slow
def test_a_range_answered_with_more_bytes_than_its_content_range_adds_nothing(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The rest of the file, asked for after its tail, says it is bytes 0 to N and sends more:
    the pieces make no archive, and nothing is cached (a class tried that held)."""
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", payload=3 * TAIL_BYTES)
    data = model.read_bytes()

    def lying(request: Request) -> Response:
        asked = request.headers.get("range", "")
        if asked.startswith("bytes=0-"):
            last = int(asked[len("bytes=0-") :])
            headers = {"Content-Range": f"bytes 0-{last}/{len(data)}"}
            return Response(206, data[: last + 1] + b"\0" * 5000, headers)
        return Response(200, data)  # the tail: cut by the test host as asked

    server.routes[f"/lie/{model.name}"] = lying
    server.archives[f"/lie/{model.name}"] = model.name
    project.write("requirements.in", f"en_demo @ {server.url}/lie/{model.name}\n")
    project.env["PIP_INDEX_URL"] = index

    run = project.pipmodels("sync", "--python-executable", venv.python, check=False)

    assert run.returncode == 1, run.output
    assert "Nothing was added to the cache" in run.stderr  # (held: the archive is checked)
    assert not list(project.root.joinpath(".pipmodels-cache").glob("*.whl"))
    assert not project.root.joinpath("requirements.txt").exists()


@pytest.mark.slow
def test_a_python_named_by_path_lookup_is_the_one_path_finds_now(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """``--python-executable python`` is whichever Python PATH finds: another PATH (another
    environment activated) is another target, which the last sync did not install."""
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "venv", str(other)], check=True)
    project.env["PATH"] = f"{venv.root / 'bin'}{os.pathsep}{os.environ['PATH']}"
    synced = _synced(server, index, project, venv, tmp_path)
    synced.pipmodels("sync", "--python-executable", "python")
    assert UP_TO_DATE in synced.pipmodels("sync", "--python-executable", "python").stderr
    assert "en-demo" in venv.freeze()

    project.env["PATH"] = f"{other / 'bin'}{os.pathsep}{os.environ['PATH']}"
    stderr = synced.pipmodels("sync", "--python-executable", "python").stderr

    assert UP_TO_DATE not in stderr
    assert "en-demo" in Venv(other).freeze()


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["-P tinyspacy", "--upgrade-package=tinyspacy", "config"])
def test_every_spelling_of_an_upgrade_asks_the_index_each_time(
    spelling: str, server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """An upgrade (--upgrade-package, or --upgrade in [tool.pipmodels]'s compile args) asks
    the index for newer versions: as -U, it is never answered from a record."""
    synced = _synced(server, index, project, venv, tmp_path)
    extra = spelling.split() if spelling != "config" else []
    if spelling == "config":
        synced.write("pyproject.toml", '[tool.pipmodels]\npip-compile-args = ["--upgrade"]\n')
    _sync(synced, venv, *extra)

    stderr = _sync(synced, venv, *extra)

    assert UP_TO_DATE not in stderr


@pytest.mark.slow
def test_a_login_that_is_also_in_the_index_path_still_locks(
    server: Server, project: Project, tmp_path: Path
) -> None:
    """Azure Artifacts' form, https://FEED:PAT@.../_packaging/FEED/pypi/simple/: the login is
    part of the public URL too, so the lock's URLs hold it and that is no leak; the PAT is."""
    prodigy = build_wheel(tmp_path / "p", "prodigy", "1.15.3")
    feed = "teamfeed"
    private = server.add_index(
        [prodigy], prefix=f"/_packaging/{feed}/pypi", auth=f"{feed}:{SECRET}"
    )
    keyed = private.replace("http://", f"http://{feed}:${{PRODIGY_KEY}}@")
    project.write("requirements.in", f"-i {keyed}\nprodigy==1.15.3\n")
    project.env["PRODIGY_KEY"] = SECRET

    run = project.pipmodels("compile", "-o", "pylock.toml", check=False)

    assert run.returncode == 0, run.output
    lock = project.root.joinpath("pylock.toml").read_text()
    assert f"/_packaging/{feed}/pypi/packages/{prodigy.name}" in lock
    assert SECRET not in lock
