"""Two projects as two machines of a team: one publishes its models to the team's index, the
other, without the licence key, syncs through that index as a mirror and never asks the origin."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_wheel, sha256
from tests.conftest import SECRET, CommandLineSpy, Project, Run, Venv, files_containing
from tests.indexes import Index, devpi, pypiserver
from tests.servers import Server

__all__ = ["devpi", "pypiserver"]  # fixtures

MODEL_SIZE = 300_000
MODELS = "requirements-models.txt"


@dataclass
class Team:
    origin: Server  # the GitHub-like release host and the keyed find-links page
    model: Path
    prodigy: Path
    one: Project  # has the key; publishes
    two: Project  # has no key; syncs through the mirror


@pytest.fixture
def origin() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def team(origin: Server, index: str, tmp_path: Path) -> Team:
    dist = tmp_path / "dist"
    model = build_wheel(
        dist, "en_core_web_sm", "3.8.0", requires=["tinyspacy>=3.8,<3.9"], payload=MODEL_SIZE
    )
    prodigy = build_wheel(dist, "prodigy", "1.15.3", requires=["helperlib"], payload=MODEL_SIZE)
    model_url = origin.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", model)
    page = origin.add_find_links_page("/prodigy", SECRET, [prodigy])
    one, two = Project(tmp_path / "one"), Project(tmp_path / "two")
    for project in (one, two):
        project.root.mkdir()
        project.env.update(PIP_INDEX_URL=index, HOME=str(tmp_path / "home"))
    one.write("requirements.in", f"tinyspacy>=3.8,<3.9\nen_core_web_sm @ {model_url}\n")
    one.write(MODELS, f"-f {page.replace('http://', 'http://${PRODIGY_KEY}@')}\nprodigy==1.15.3\n")
    one.env["PRODIGY_KEY"] = SECRET
    one.spy_secret = two.spy_secret = SECRET
    return Team(origin, model, prodigy, one, two)


def clone(team: Team) -> None:
    """What a teammate gets from git: the inputs and the compiled requirements.txt."""
    for name in ("requirements.in", MODELS, "requirements.txt"):
        shutil.copy2(team.one.root / name, team.two.root / name)


def make_venv(root: Path) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    return Venv(root)


def installed_sha256(venv: Venv, module: str) -> str:
    site = next((venv.root / "lib").glob("python*/site-packages"))
    return hashlib.sha256((site / module / "model.bin").read_bytes()).hexdigest()


def packed_sha256(wheel: Path, module: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return hashlib.sha256(archive.read(f"{module}/model.bin")).hexdigest()


def publish(project: Project, index: Index, *args: str) -> Run:
    with CommandLineSpy(index.password) as spy:
        run = project.pipmodels("publish", "-m", MODELS, *args)
    assert not spy.leaks, f"upload password on a command line: {spy.leaks}"
    return run


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pypiserver", "devpi"])
def test_a_teammate_without_the_key_syncs_through_the_mirror(
    kind: str, team: Team, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    index: Index = request.getfixturevalue(kind)
    one, two = team.one, team.two
    one.pipmodels("compile", "-m", MODELS)  # fills the cache, writes requirements.txt

    if kind == "pypiserver":  # the upload URL and TWINE_* variables
        one.env.update(TWINE_USERNAME=index.username, TWINE_PASSWORD=index.password)
        target = ["--repository-url", index.upload_url]
    else:  # a ~/.pypirc section with the user name; the password from the environment
        (tmp_path / "home").mkdir(exist_ok=True)
        (tmp_path / "home" / ".pypirc").write_text(
            "[distutils]\nindex-servers =\n    team\n\n"
            f"[team]\nrepository = {index.upload_url}\nusername = {index.username}\n"
        )
        one.env["TWINE_PASSWORD"] = index.password
        target = ["-r", "team"]
    dry = publish(one, index, *target, "--dry-run")
    assert sorted(dry.stdout.splitlines()) == [
        "would upload en_core_web_sm-3.8.0-py3-none-any.whl",
        "would upload prodigy-1.15.3-py3-none-any.whl",
    ]
    first = publish(one, index, *target)
    assert sorted(first.stdout.splitlines()) == [
        "uploaded en_core_web_sm-3.8.0-py3-none-any.whl",
        "uploaded prodigy-1.15.3-py3-none-any.whl",
    ]
    again = publish(one, index, *target, "--simple-url", index.simple_url)
    assert sorted(again.stdout.splitlines()) == [
        "skipped en_core_web_sm-3.8.0-py3-none-any.whl (on the index with the same sha256)",
        "skipped prodigy-1.15.3-py3-none-any.whl (on the index with the same sha256)",
    ]

    clone(team)
    team.origin.reset_counts()
    venv_two = make_venv(tmp_path / "venv-two")
    two.env["PIPMODELS_MIRROR"] = index.simple_url
    synced = two.pipmodels("sync", "-m", MODELS, "--python-executable", venv_two.python)

    assert sum(team.origin.requests.values()) == 0, f"the origin was asked: {team.origin.requests}"
    assert "from the mirror" in synced.stderr
    assert (two.root / "requirements.txt").read_text() == (
        one.root / "requirements.txt"
    ).read_text()
    cache = two.root / ".pipmodels-cache"
    for wheel, module in ((team.model, "en_core_web_sm"), (team.prodigy, "prodigy")):
        assert sha256(cache / wheel.name) == sha256(wheel)
        assert installed_sha256(venv_two, module) == packed_sha256(wheel, module)
    assert venv_two.freeze()["prodigy"] == "1.15.3"

    for run in (*one.runs, *two.runs):
        assert SECRET not in run.output
        assert index.password not in run.output
    assert files_containing(SECRET, tmp_path) == []
    assert files_containing(index.password, tmp_path) == []


@pytest.mark.slow
def test_a_mirror_file_with_another_sha256_is_refused(
    team: Team, pypiserver: Index, tmp_path: Path
) -> None:
    one, two = team.one, team.two
    one.pipmodels("compile", "-m", MODELS)
    impostor = build_wheel(tmp_path / "impostor", "prodigy", "1.15.3", marker="impostor")
    shutil.copy2(impostor, pypiserver.packages or tmp_path)  # pypiserver serves its folder
    clone(team)
    team.origin.reset_counts()
    venv = make_venv(tmp_path / "venv-two")
    args = ["sync", "-m", MODELS, "--python-executable", venv.python]
    two.env["PIPMODELS_MIRROR"] = pypiserver.simple_url

    refused = two.pipmodels(*args, check=False)

    assert refused.returncode == 1
    assert "refused prodigy-1.15.3-py3-none-any.whl from the mirror" in refused.stderr
    assert "PRODIGY_KEY is not set" in refused.stderr
    assert not list((two.root / ".pipmodels-cache").glob("prodigy-*"))
    assert team.origin.requests["/prodigy/"] == 0

    two.env["PRODIGY_KEY"] = SECRET  # with the key, the origin serves the recorded file
    two.pipmodels(*args)
    assert installed_sha256(venv, "prodigy") == packed_sha256(team.prodigy, "prodigy")
    assert venv.run("import prodigy; print(prodigy.MARKER)") == ""


@pytest.mark.slow
def test_without_mirror_or_key_the_message_says_both(team: Team) -> None:
    two = team.two
    two.write(MODELS, (team.one.root / MODELS).read_text())
    two.write("requirements.in", "")
    run = two.pipmodels("download", "-m", MODELS, check=False)
    assert run.returncode == 1
    assert f"{MODELS}, line 1: PRODIGY_KEY is not set" in run.stderr
    assert "a team mirror that holds the models will do (--mirror URL)" in run.stderr
    assert sum(team.origin.requests.values()) == 0


@pytest.mark.slow
def test_a_static_bucket_of_the_cache_is_a_mirror(team: Team) -> None:
    one, two = team.one, team.two
    one.pipmodels("compile", "-m", MODELS)
    one.pipmodels("links", ".pipmodels-cache", "-o", ".pipmodels-cache/index.html")
    bucket = Server()  # a static host: the page and the archives, nothing else
    try:
        cache = one.root / ".pipmodels-cache"
        for path in [cache / "index.html", *cache.glob("*.whl")]:
            bucket.add_file(f"/models/{path.name}", path.read_bytes())
        clone(team)
        team.origin.reset_counts()
        two.env["PIPMODELS_MIRROR"] = bucket.url + "/models/index.html"

        run = two.pipmodels("download", "-m", MODELS)

        assert sorted(run.stdout.split()) == ["en-core-web-sm==3.8.0", "prodigy==1.15.3"]
        assert sum(team.origin.requests.values()) == 0
        assert bucket.requests["/models/index.html"] == 1, "the page is read once per run"
        for wheel in (team.model, team.prodigy):
            assert sha256(two.root / ".pipmodels-cache" / wheel.name) == sha256(wheel)
    finally:
        bucket.close()


@pytest.mark.slow
def test_publish_refuses_a_file_over_the_declared_limit_before_uploading_anything(
    pypiserver: Index, project: Project, tmp_path: Path
) -> None:
    small = build_wheel(tmp_path / "m", "en_demo_sm", "1.0.0", payload=1000)
    big = build_wheel(tmp_path / "m", "en_demo_lg", "1.0.0", payload=MODEL_SIZE)
    project.write("requirements.in", f"{small}\n{big}\n")
    project.env.update(TWINE_USERNAME=pypiserver.username, TWINE_PASSWORD=pypiserver.password)
    assert pypiserver.packages is not None
    upload = ["publish", "--repository-url", pypiserver.upload_url]

    refused = project.pipmodels(*upload, "--max-file-size", "200kB", check=False)

    assert refused.returncode == 1
    size = f"{big.stat().st_size / 1000**2:.1f} MB"
    assert (
        f"error: {big.name} is {size}: over the limit of 0.2 MB per file (--max-file-size) of "
        f"{pypiserver.upload_url}. Nothing was uploaded."
    ) in refused.stderr
    assert refused.stdout == ""
    assert list(pypiserver.packages.iterdir()) == []  # not even the small file

    done = project.pipmodels(*upload, "--max-file-size", "1MB")

    assert sorted(p.name for p in pypiserver.packages.iterdir()) == sorted([small.name, big.name])
    assert sorted(done.stdout.splitlines()) == sorted(f"uploaded {w.name}" for w in (small, big))
