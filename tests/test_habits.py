"""Habits of real users (issue 19): what they install, what they pass, what they add by hand."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Project, Venv
from tests.servers import Server
from tests.test_spacy import SpacyWorld
from tests.test_spacy import spacy_world as spacy_world_fixture

spacy_world = spacy_world_fixture  # the release host and table of test_spacy, as a fixture here

pytestmark = pytest.mark.slow


def _stand_ins(wheels: Path) -> None:
    """pipmodels' dependencies and its extras' dependencies as small wheels, so that
    ``pip install 'pipmodels[uv,publish]'`` resolves offline as it would from an index."""
    for name in (
        "pip-tools",
        "click",
        "packaging",
        "requests",
        "filelock",
        "python-dotenv",
        "tomli-w",
    ):
        build_wheel(wheels, name, "99.0")
    build_wheel(wheels, "uv", "0.13.9")
    build_wheel(wheels, "twine", "6.0.0", requires=["keyring>=15"])
    build_wheel(wheels, "keyring", "25.0.0", requires=["jaraco.classes"])
    build_wheel(wheels, "jaraco.classes", "3.4.0")
    build_wheel(wheels, "stray", "1.0")


def test_sync_keeps_pipmodels_and_the_extras_it_was_installed_with(
    project: Project,
    venv: Venv,
    tmp_path: Path,
    pipmodels_wheel: Path,
    engine: str,
    server: Server,
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(pipmodels_wheel, wheels)
    _stand_ins(wheels)
    pip = [venv.python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*pip, "pipmodels[uv,publish]", "stray"], check=True)
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    project.write("requirements.in", f"{model}\n")
    if engine == "uv":
        project.env["PIP_INDEX_URL"] = server.add_index([])

    run = project.pipmodels("sync", "--python-executable", venv.python)

    packages = venv.freeze()
    assert packages["en-demo"] == "1.0.0"
    for kept in ("pipmodels", "uv", "twine", "keyring", "jaraco-classes", "pip-tools", "click"):
        assert kept in packages, f"{kept} was removed:\n{run.output}"
    assert "stray" not in packages
    assert "removed: stray" in run.stderr


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "app"
version = "0.1.0"
dependencies = [
    "tinyspacy>=3.8,<3.9",
    "en_core_web_sm @ {sm}",
]

[project.optional-dependencies]
german = ["de_core_news_sm @ {de}"]
all = ["app[german]"]

[dependency-groups]
dev = ["helperlib"]
"""


def test_pyproject_dependencies_extras_and_groups_go_through_the_cache(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path, engine: str
) -> None:
    dist = tmp_path / "dist"
    sm = build_wheel(dist, "en_core_web_sm", "3.8.0", payload=200_000)
    de = build_wheel(dist, "de_core_news_sm", "3.8.0", payload=150_000)
    sm_url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", sm)
    de_url = server.add_release_asset("explosion/spacy-models", "de_core_news_sm-3.8.0", de)
    project.write("pyproject.toml", PYPROJECT.format(sm=sm_url, de=de_url))
    project.env["PIP_INDEX_URL"] = index
    sync = ("sync", "pyproject.toml", "--extra", "all", "--group", "dev")

    project.pipmodels(*sync, "--python-executable", venv.python)

    text = (project.root / "requirements.txt").read_text()
    for pin in ("en-core-web-sm==3.8.0", "de-core-news-sm==3.8.0", "tinyspacy==3.8.2"):
        assert pin in text
    assert "helperlib==1.0.0" in text
    assert "# via app (pyproject.toml)" in text
    assert "@ http" not in text and "releases/download" not in text
    assert server.bytes_of(sm.name) == sm.stat().st_size  # once, into the cache
    assert server.bytes_of(de.name) == de.stat().st_size
    assert (project.root / ".pipmodels-cache" / sm.name).is_file()
    packages = venv.freeze()
    assert packages["en-core-web-sm"] == "3.8.0" and packages["de-core-news-sm"] == "3.8.0"
    assert packages["helperlib"] == "1.0.0"

    server.reset_counts()
    installed_at = venv.installed_times()
    again = project.pipmodels(*sync, "--python-executable", venv.python)
    assert "Up to date: nothing changed" in again.stderr
    assert server.bytes_of(sm.name) == server.bytes_of(de.name) == 0
    assert venv.installed_times() == installed_at

    # Without the group and the extra, their packages leave the environment, as with pip-sync.
    project.pipmodels("sync", "pyproject.toml", "--python-executable", venv.python)
    packages = venv.freeze()
    assert "de-core-news-sm" not in packages and "helperlib" not in packages
    assert packages["en-core-web-sm"] == "3.8.0"
    assert server.bytes_of(sm.name) == 0  # recompiled from the cache


def _spacy_project(server: Server, index: str, project: Project, tmp_path: Path) -> Path:
    model = build_wheel(tmp_path / "dist", "en_core_web_sm", "3.8.0", payload=200_000)
    url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", model)
    project.write("requirements.in", f"tinyspacy>=3.8,<3.9\nen_core_web_sm @ {url}\n")
    project.env["PIP_INDEX_URL"] = index
    return model


def test_pip_sync_habits_sync_a_compiled_file_as_it_is(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path, engine: str
) -> None:
    model = _spacy_project(server, index, project, tmp_path)
    project.write("dev.in", "tinyspacy>=3.8,<3.9\nhelperlib\n")
    project.pipmodels("compile")
    project.pipmodels("compile", "dev.in")
    lock, dev = project.root / "requirements.txt", project.root / "dev.txt"
    lock_bytes, dev_bytes = lock.read_bytes(), dev.read_bytes()
    server.reset_counts()

    # pip-sync requirements.txt: installed from the cache as it is, not compiled into itself.
    run = project.pipmodels("sync", "requirements.txt", "--python-executable", venv.python)
    assert "Syncing requirements.txt as it is, as pip-sync would" in run.stderr
    assert "Compiling" not in run.stderr
    assert lock.read_bytes() == lock_bytes
    assert venv.freeze()["en-core-web-sm"] == "3.8.0"
    assert server.bytes_of(model.name) == 0  # from the cache that compile filled

    # pip-sync dev.txt: dev.txt is installed; requirements.txt is not overwritten.
    run = project.pipmodels("sync", "dev.txt", "--python-executable", venv.python)
    assert lock.read_bytes() == lock_bytes and dev.read_bytes() == dev_bytes
    packages = venv.freeze()
    assert packages["helperlib"] == "1.0.0" and "en-core-web-sm" not in packages
    assert re.search(r"removed: en[-_]core[-_]web[-_]sm", run.stderr)


def test_pip_sync_habits_that_would_rewrite_a_lock_are_refused(
    server: Server, index: str, project: Project, tmp_path: Path
) -> None:
    _spacy_project(server, index, project, tmp_path)
    project.pipmodels("compile")
    lock = project.root / "requirements.txt"
    lock_bytes = lock.read_bytes()

    refused = project.pipmodels("compile", "requirements.txt", check=False)
    assert refused.returncode == 1
    assert "requirements.txt is a compiled file, not an input" in refused.stderr
    assert "pipmodels sync requirements.txt" in refused.stderr

    # A hand-written dev.txt is an input: compiled, it would overwrite requirements.txt.
    project.write("dev.txt", "helperlib\n")
    refused = project.pipmodels("sync", "dev.txt", check=False)
    assert refused.returncode == 1
    assert "requirements.txt was compiled from requirements.in, not from dev.txt" in refused.stderr
    assert "-o FILE" in refused.stderr
    assert lock.read_bytes() == lock_bytes

    project.write("hand.txt", "helperlib\n")
    refused = project.pipmodels("sync", "hand.txt", "-o", "hand.txt", check=False)
    assert "hand.txt would be both an input and the compiled output" in refused.stderr
    assert (project.root / "hand.txt").read_text() == "helperlib\n"


def test_sync_and_compile_check_agree_on_a_line_added_by_hand(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    _spacy_project(server, index, project, tmp_path)
    project.pipmodels("sync", "--python-executable", venv.python)
    lock = project.root / "requirements.txt"
    compiled = lock.read_text()
    lock.write_text(compiled + "helperlib==1.0.0\n")

    check = project.pipmodels("compile", "--check", check=False)
    assert check.returncode == 1
    assert "+helperlib==1.0.0" not in check.stderr and "-helperlib==1.0.0" in check.stderr
    sync_check = project.pipmodels(
        "sync", "--check", "--python-executable", venv.python, check=False
    )
    assert sync_check.returncode == 1

    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert "up to date with its inputs" not in run.stderr
    assert "Compiling requirements.txt" in run.stderr
    assert lock.read_text() == compiled
    assert "helperlib" not in venv.freeze()
    assert project.pipmodels("compile", "--check").returncode == 0


def test_a_failed_add_leaves_requirements_in_as_it_was(
    spacy_world: SpacyWorld, project: Project, server: Server, venv: Venv
) -> None:
    source = project.write("requirements.in", "spacy==3.8.2\r\n# the models\r\n")
    before = source.read_bytes()
    del server.routes[
        "/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/"
        "en_core_web_sm-3.8.0-py3-none-any.whl"
    ]

    run = project.pipmodels(
        "add", "en_core_web_sm", "--python-executable", venv.python, check=False
    )

    assert run.returncode == 1
    assert "404" in run.stderr
    assert "requirements.in is back as it was." in run.stderr
    assert source.read_bytes() == before
    assert not (project.root / "requirements.txt").exists()


def test_add_name_version_of_a_listed_model_checks_and_applies_the_version(
    spacy_world: SpacyWorld, project: Project
) -> None:
    source = project.write("requirements.in", "spacy==3.7.5\n")
    project.pipmodels("add", "en_core_web_sm", "--no-sync")
    assert spacy_world.line("en_core_web_sm", "3.7.1") in source.read_text()

    # 3.8.0 does not fit spaCy 3.7: refused, and the file stays as it was.
    before = source.read_bytes()
    refused = project.pipmodels("add", "en_core_web_sm==3.8.0", "--no-sync", check=False)
    assert refused.returncode == 1
    assert source.read_bytes() == before

    moved = project.pipmodels("add", "en_core_web_sm==3.7.0", "--no-sync")
    assert source.read_text() == (
        "spacy==3.7.5\n" + spacy_world.line("en_core_web_sm", "3.7.0") + "\n"
    )
    assert moved.stdout == spacy_world.line("en_core_web_sm", "3.7.0") + "\n"
    assert "Changed in requirements.in" in moved.stderr

    same = project.pipmodels("add", "en_core_web_sm==3.7.0", "--no-sync")
    assert same.stdout == "" and "nothing to add" in same.stderr


def test_private_names_are_not_sent_to_the_index_by_the_namesake_check(
    server: Server, project: Project, tmp_path: Path
) -> None:
    from tests.conftest import SECRET

    dist = tmp_path / "dist"
    public = Server()
    try:
        index = public.add_index([build_wheel(tmp_path / "i", "en_core_web_sm", "3.8.0")])
        prodigy = build_wheel(dist, "prodigy", "1.15.3")
        licensed = build_wheel(dist, "acme_licensed", "2.0.0")
        sm = build_wheel(dist, "en_core_web_sm", "3.8.0")
        page = server.add_find_links_page("/prodigy", SECRET, [prodigy])
        url = server.add_release_asset("acme/models", "v2", licensed)
        sm_url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", sm)
        project.write("requirements.in", f"acme_licensed @ {url}\nen_core_web_sm @ {sm_url}\n")
        project.write(
            "models.txt", f"-f {page.replace('http://', 'http://${PRODIGY_KEY}@')}\nprodigy\n"
        )
        project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)

        run = project.pipmodels("download", "-m", "models.txt")

        asked = [path for path in public.requests if path.startswith("/simple/")]
        assert asked == ["/simple/en-core-web-sm/"]  # a spaCy pipeline name: public
        assert "en-core-web-sm also exists on your package index" in run.stderr
        assert set(run.stdout.split()) == {
            "prodigy==1.15.3",
            "acme-licensed==2.0.0",
            "en-core-web-sm==3.8.0",
        }
    finally:
        public.close()


def test_publish_failure_names_the_index_and_prints_no_escape_codes(
    server: Server, project: Project, tmp_path: Path
) -> None:
    from tests.conftest import SECRET

    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    project.write("requirements.in", f"{model}\n")
    server.add_index([], prefix="/team/models")  # devpi's shape: the user name in the path
    upload = f"{server.url}/team/models/"
    # twine colours its output when told to, as a CI setting often does.
    project.env.update(TWINE_USERNAME="team", TWINE_PASSWORD=SECRET, FORCE_COLOR="1")

    run = project.pipmodels("publish", "--repository-url", upload, check=False)

    assert run.returncode == 1
    assert "/team/models/" in run.stderr and "/****/models/" not in run.stderr
    assert SECRET not in run.output
    assert "\x1b[" not in run.output


def test_a_model_naming_no_spacy_version_is_not_reported_with_an_empty_one(
    index: str, project: Project, tmp_path: Path
) -> None:
    meta = b'{"lang": "en", "name": "demo", "version": "1.0.0", "spacy_version": ""}'
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0", extra_files={"en_demo/meta.json": meta})
    project.write("requirements.in", f"{model}\nhelperlib\n")
    project.env["PIP_INDEX_URL"] = index

    run = project.pipmodels("compile")

    assert "needs spaCy ," not in run.stderr
    assert "en-demo==1.0.0" in (project.root / "requirements.txt").read_text()


def test_long_steps_say_what_they_do_on_a_terminal_and_in_a_log(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "d", "en_big", "1.0.0", payload=3_000_000)
    project.write("requirements.in", server.add_release_asset("a/b", "v1", model) + "\n")
    server.throttle = 0.05  # about 1.3 MB/s: a few seconds

    # On a terminal: one line rewritten in place, with the total, the rate and the time left.
    returncode, seen = project.on_a_terminal("download", "--cache-dir", str(tmp_path / "tty"))
    assert returncode == 0
    assert re.search(rb"\r  downloaded: [\d.]+ of 3\.0 MB, [\d.]+ MB/s, \d+ s left\x1b\[K", seen)
    assert b"\x1b[K\r\x1b[K  cached en_big" in seen  # the meter's line is cleared before the next
    assert re.search(rb"\n  download: \d+\.\d s\r\n", seen)

    # In a CI log: plain lines now and then, no carriage return, no escape code.
    project.env["PIPMODELS_PROGRESS_SECONDS"] = "0.5"
    project.env["PIP_INDEX_URL"] = index
    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert re.search(r"^  downloaded: [\d.]+ of 3\.0 MB, [\d.]+ MB/s", run.stderr, re.M)
    assert "\r" not in run.stderr and "\x1b" not in run.stderr
    # Each phase named with its time when it ends.
    for name in ("download", "pip-compile", "pip-sync"):
        assert re.search(rf"^  {name}: \d+\.\d s$", run.stderr, re.M), run.stderr


@pytest.mark.parametrize("from_a_file", ["pipmodels", "pip"])
def test_sync_keeps_what_was_installed_from_a_wheel_file_and_never_asks_the_index_for_it(
    from_a_file: str,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    pipmodels_wheel: Path,
    newest_pip_wheel: Path,
    engine: str,
    server: Server,
) -> None:
    """`pip install ./pipmodels-0.1.0-py3-none-any.whl` (the README's CI form) or a pip
    installed from its wheel file: pip records the file's URL and sha256 (a direct URL), and
    pip-sync takes such a package for one requirements.txt does not list."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _stand_ins(wheels)
    pip = [venv.python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    if from_a_file == "pipmodels":
        subprocess.run([*pip, f"{pipmodels_wheel}[publish]"], check=True)
    else:
        subprocess.run([*pip, str(newest_pip_wheel)], check=True)
    before = venv.freeze()
    model = build_wheel(tmp_path / "m", "en_demo", "1.0.0")
    project.write("requirements.in", f"{model}\n")
    project.env["PIP_INDEX_URL"] = server.add_index([])

    run = project.pipmodels("sync", "--python-executable", venv.python, check=False)

    assert run.returncode == 0, run.output
    packages = venv.freeze()
    assert packages["en-demo"] == "1.0.0"
    assert packages[from_a_file] == before[from_a_file], run.output
    assert f"/simple/{from_a_file}/" not in server.requests, run.output
