"""The warm no-op starts nothing and fetches nothing; every real change is still seen."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import CommandLineSpy, Project, Venv
from tests.servers import Server

pytestmark = pytest.mark.slow

UP_TO_DATE = "Up to date: nothing changed since the last sync"


@pytest.fixture
def synced(server: Server, index: str, project: Project, venv: Venv, tmp_path: Path) -> Project:
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"])
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", "en_demo @ ${DEMO_BASE}" + url[len(server.url) :] + "\n")
    project.env.update(PIP_INDEX_URL=index, DEMO_BASE=server.url)
    project.pipmodels("sync", "--python-executable", venv.python)
    server.reset_counts()
    return project


def sync(project: Project, venv: Venv, *extra: str) -> str:
    return project.pipmodels("sync", "--python-executable", venv.python, *extra).stderr


def test_no_op_starts_nothing_and_asks_nothing(
    synced: Project, server: Server, venv: Venv, tmp_path: Path
) -> None:
    with CommandLineSpy("no secret here") as spy:
        stderr = sync(synced, venv)

    assert stderr.strip().splitlines() == [f"{UP_TO_DATE} of {venv.python}."]
    assert sum(server.requests.values()) == 0
    ours = [c for c in spy.commands if str(synced.root) in c or venv.python in c]
    started = [c for c in ours if " -m pip " in c or "piptools" in c]
    assert started == []
    assert any("-m pipmodels sync" in c for c in spy.commands), "the spy saw nothing"

    # The same command line again answers from the last sync's record, before any option or
    # input is parsed: of pipmodels, only the entry point and the quick check are imported.
    timed = synced.pipmodels(
        "sync", "--python-executable", venv.python, python_args=("-X", "importtime")
    )
    assert timed.stderr.strip().splitlines()[-1] == f"{UP_TO_DATE} of {venv.python}."
    loaded = {name for name in _imported(timed.stderr) if name.startswith("pipmodels")}
    assert loaded == {"pipmodels", "pipmodels.entry", "pipmodels.quickcheck"}

    # Another spelling of the command (-q, the option's = form) has no record of its own yet:
    # the fast path proper answers it, still before the command-line library is imported,
    # prints nothing under -q, and leaves a record that answers the next run at once.
    spelled = ("sync", f"--python-executable={venv.python}", "-q")
    for expected in ("pipmodels.fastpath", "pipmodels.quickcheck"):
        timed = synced.pipmodels(*spelled, python_args=("-X", "importtime"))
        imported = _imported(timed.stderr)
        assert expected in imported
        heavy = imported & {"click", "packaging", "requests", "piptools", "pipmodels.cli"}
        assert not heavy, heavy
        assert [line for line in timed.stderr.splitlines() if "|" not in line] == []
    assert "pipmodels.fastpath" not in imported
    assert sum(server.requests.values()) == 0


def _imported(run_stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in run_stderr.splitlines() if "|" in line}


def test_the_no_op_answers_from_the_fast_entry_under_every_documented_variable(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The README's CI recipe sets PIPMODELS_MIRROR; each variable the README documents is
    read by the fast entry as by the full command line, so the no-op still answers there."""
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"])
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_demo @ {url}\n")
    documented = {
        "PIPMODELS_CACHE_DIR": str(tmp_path / "env-cache"),
        "PIPMODELS_MIRROR": index,  # a mirror without the model: asked, then the origin
        "PIPMODELS_ENGINE": "uv",
        "PIPMODELS_STATE_DIR": str(tmp_path / "env-state"),
        "PIPMODELS_SPACY_COMPATIBILITY_URL": "http://127.0.0.1:9/compatibility.json",
        "PIPMODELS_SPACY_MODELS_URL": "http://127.0.0.1:9/releases/download",
        "PIPMODELS_GITHUB_CACHE_DIR": str(tmp_path / "github-cache"),
        "NO_COLOR": "1",
        "GITHUB_TOKEN": "gh-token",
        "GH_TOKEN": "gh-token",
        "GITHUB_API_URL": "http://127.0.0.1:9",
    }
    project.env.update(PIP_INDEX_URL=index, **documented)
    project.pipmodels("sync", "--python-executable", venv.python)
    assert any((tmp_path / "env-cache").glob("*.whl"))
    server.reset_counts()

    # The fast path proper (another spelling of the command line: no record of its own yet),
    # then the record it leaves, answer under every variable.
    for answers in ("pipmodels.fastpath", "pipmodels.quickcheck"):
        timed = project.pipmodels(
            "sync", f"--python-executable={venv.python}", python_args=("-X", "importtime")
        )
        assert f"{UP_TO_DATE} of {venv.python}." in timed.stderr
        imported = _imported(timed.stderr)
        assert answers in imported
        assert not imported & {"click", "packaging", "requests", "piptools", "pipmodels.cli"}
    assert "pipmodels.fastpath" not in imported
    assert sum(server.requests.values()) == 0


def _edit_input(p: Project, v: Venv, s: Server) -> None:
    p.write("requirements.in", p.root.joinpath("requirements.in").read_text() + "helperlib\n")


def _edit_requirements_txt(p: Project, v: Venv, s: Server) -> None:
    path = p.root / "requirements.txt"
    path.write_text(path.read_text() + "# edited by hand\n")


def _delete_cache_file(p: Project, v: Venv, s: Server) -> None:
    next((p.root / ".pipmodels-cache").glob("*.whl")).unlink()


def _corrupt_cache_file(p: Project, v: Venv, s: Server) -> None:
    wheel = next((p.root / ".pipmodels-cache").glob("*.whl"))
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    wheel.write_bytes(bytes(data))


def _pip(*args: str) -> Callable[[Project, Venv, Server], None]:
    def change(p: Project, v: Venv, s: Server) -> None:
        subprocess.run([v.python, "-m", "pip", "-q", *args], check=True)

    return change


def _add_package(p: Project, v: Venv, s: Server) -> None:
    stray = build_wheel(p.root.parent / "stray", "stray", "1.0")
    _pip("install", "--no-index", str(stray))(p, v, s)


def _change_option(p: Project, v: Venv, s: Server) -> None:
    p.env["FAST_PATH_EXTRA"] = "--no-generate-hashes"


def _change_variable(p: Project, v: Venv, s: Server) -> None:
    p.env["DEMO_BASE"] = s.url.replace("127.0.0.1", "localhost")


CHANGES = {
    "edited input": (_edit_input, "helperlib"),
    "edited requirements.txt": (_edit_requirements_txt, None),
    "cache file deleted": (_delete_cache_file, "en_demo"),
    "cache file corrupted": (_corrupt_cache_file, "en_demo"),
    "package removed": (_pip("uninstall", "-y", "tinyspacy"), "tinyspacy"),
    "package added": (_add_package, "stray"),
    "option changed": (_change_option, None),
    "variable changed": (_change_variable, "en_demo"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_real_change_is_seen(
    change: str, synced: Project, server: Server, venv: Venv
) -> None:
    apply, _ = CHANGES[change]
    apply(synced, venv, server)
    extra = [synced.env.pop("FAST_PATH_EXTRA")] if "FAST_PATH_EXTRA" in synced.env else []

    stderr = sync(synced, venv, *extra)

    assert UP_TO_DATE not in stderr
    assert "Syncing" in stderr
    # and once the change is absorbed, the next run is a no-op again
    assert UP_TO_DATE in sync(synced, venv, *extra)
    assert venv.freeze().get("en-demo") == "1.0.0"
    assert "stray" not in venv.freeze()


def test_a_changed_package_version_is_seen(
    synced: Project, server: Server, venv: Venv, tmp_path: Path
) -> None:
    other = build_wheel(tmp_path / "o", "tinyspacy", "3.8.1")
    venv.install_offline(other.parent, "tinyspacy==3.8.1")
    stderr = sync(synced, venv)
    assert UP_TO_DATE not in stderr
    assert venv.freeze()["tinyspacy"] == "3.8.2"


# What the quick check (a record of the files and variables the last sync read, checked with
# os alone) must see: each a change the fast path proper sees by parsing.
def _nested_input_edited(p: Project) -> None:
    p.write("base.in", "tinyspacy<3.9\nhelperlib\n")


def _pip_conf_edited(p: Project) -> None:
    p.write("pip.conf", "[global]\ntimeout = 30\n[install]\nno-compile = true\n")


def _env_file_written(p: Project) -> None:
    p.write(".env", f"DEMO_BASE={p.env.pop('DEMO_BASE').replace('127.0.0.1', 'localhost')}\n")


def _tool_pipmodels_written(p: Project) -> None:
    p.write("pyproject.toml", "[tool.pipmodels]\ngenerate-hashes = false\n")


def _netrc_appears(p: Project) -> None:
    netrc = Path(p.env.get("NETRC") or os.environ["NETRC"])  # the tests' isolation names one
    netrc.write_text("machine example.invalid login a password b\n")


def _engine_variable_set(p: Project) -> None:
    p.env["PIPMODELS_ENGINE"] = "uv"


QUICK_CHANGES = {
    "nested input edited": _nested_input_edited,
    "pip.conf edited": _pip_conf_edited,
    ".env written": _env_file_written,
    "[tool.pipmodels] written": _tool_pipmodels_written,
    "netrc appears": _netrc_appears,
    "PIPMODELS_ variable set": _engine_variable_set,
}


@pytest.mark.parametrize("change", list(QUICK_CHANGES))
def test_the_quick_check_sees_what_the_fast_path_sees(
    change: str, server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"])
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("base.in", "tinyspacy<3.9\n")
    project.write(
        "requirements.in", "-r base.in\nen_demo @ ${DEMO_BASE}" + url[len(server.url) :] + "\n"
    )
    project.write("pip.conf", "[global]\ntimeout = 30\n")
    (tmp_path / "home").mkdir()
    project.env.update(
        PIP_INDEX_URL=index,
        DEMO_BASE=server.url,
        PIP_CONFIG_FILE=str(project.root / "pip.conf"),
        HOME=str(tmp_path / "home"),
    )
    sync(project, venv)
    assert UP_TO_DATE in sync(project, venv)  # the record exists and answers

    QUICK_CHANGES[change](project)
    stderr = sync(project, venv)

    assert UP_TO_DATE not in stderr
    assert "Syncing" in stderr
    assert UP_TO_DATE in sync(project, venv)
    if change == "nested input edited":
        assert "helperlib" in venv.freeze()
