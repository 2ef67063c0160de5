"""``pipmodels add`` picks the version that fits; compile refuses one that does not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

from pipmodels import add, spacy
from pipmodels.errors import PipmodelsError
from pipmodels.reqfile import read_tree
from tests.builders import build_sdist, build_wheel, sha256
from tests.conftest import Project, Venv
from tests.servers import Server

RELEASES = "/explosion/spacy-models/releases/download"
TABLE = {
    "spacy": {
        "3.8": {"en_core_web_sm": ["3.8.0"], "en_core_web_md": ["3.8.0"]},
        "3.7": {"en_core_web_sm": ["3.7.1", "3.7.0"], "de_core_news_sm": ["3.7.0"]},
    }
}
RANGES = {"3.8.0": ">=3.8.0,<3.9.0", "3.7.1": ">=3.7.2,<3.8.0", "3.7.0": ">=3.7.0,<3.8.0"}


def meta_json(name: str, version: str, spacy_version: str) -> bytes:
    lang, short = name.split("_", 1)
    meta = {"lang": lang, "name": short, "version": version, "spacy_version": spacy_version}
    return json.dumps(meta, indent=2).encode()


def build_model(dest: Path, name: str, version: str, *, filename: str | None = None) -> Path:
    """A wheel laid out as ``spacy package`` makes it, with meta.json in both places."""
    meta = meta_json(name, version, RANGES[version])
    files = {f"{name}/meta.json": meta, f"{name}/{name}-{version}/meta.json": meta}
    return build_wheel(dest, name, version, extra_files=files, filename=filename)


def table() -> spacy.Table:
    return spacy.Table.from_json(TABLE, "http://mirror.example/compatibility.json")


# -- the table -------------------------------------------------------------------------------


def test_pick_takes_the_newest_version_for_the_spacy_minor() -> None:
    assert spacy.pick(table(), "en_core_web_sm", Version("3.7.5")) == ("en_core_web_sm", "3.7.1")
    assert spacy.pick(table(), "en-core-web-sm", Version("3.8.2")) == ("en_core_web_sm", "3.8.0")


def test_pick_checks_a_requested_version() -> None:
    assert spacy.pick(table(), "en_core_web_sm==3.7.0", Version("3.7.5"))[1] == "3.7.0"
    with pytest.raises(PipmodelsError) as error:
        spacy.pick(table(), "en_core_web_sm==3.7.1", Version("3.8.2"))
    assert error.value.message == (
        "en_core_web_sm 3.7.1 does not fit spaCy 3.8: spaCy's compatibility table at "
        "http://mirror.example/compatibility.json lists 3.8.0."
    )


def test_pick_names_the_closest_known_models() -> None:
    with pytest.raises(PipmodelsError) as error:
        spacy.pick(table(), "en_core_web_sn", Version("3.8.2"))
    assert error.value.message.startswith("en_core_web_sn is not in spaCy's compatibility table")
    assert error.value.hint == "Did you mean en_core_web_sm or en_core_web_md?"


def test_pick_says_which_spacy_versions_a_model_has() -> None:
    with pytest.raises(PipmodelsError, match=r"for spaCy 3\.8; it has versions for spaCy 3\.7"):
        spacy.pick(table(), "de_core_news_sm", Version("3.8.2"))
    with pytest.raises(PipmodelsError, match=r"no version of en_core_web_sm for spaCy 4\.0"):
        spacy.pick(table(), "en_core_web_sm", Version("4.0.0"))


@pytest.mark.parametrize("bad", ["", "en_core_web_sm>=3.8", "en_core_web_sm==", "a b"])
def test_split_request_refuses_what_is_not_a_name(bad: str) -> None:
    with pytest.raises(PipmodelsError, match="is not a model name"):
        spacy.split_request(bad)


def test_table_of_the_wrong_shape() -> None:
    with pytest.raises(PipmodelsError, match='no "spacy" object'):
        spacy.Table.from_json(["not", "a", "table"], "https://KEY@mirror/t.json")
    with pytest.raises(PipmodelsError) as error:
        spacy.Table.from_json({}, "https://KEY@mirror/t.json")
    assert "KEY" not in str(error.value)


def test_release_url_is_where_spacy_download_looks() -> None:
    assert spacy.release_url(spacy.MODELS_URL + "/", "en_core_web_sm", "3.8.0") == (
        "https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/"
        "en_core_web_sm-3.8.0-py3-none-any.whl"
    )


def test_fetch_table_over_http_and_from_a_file(server: Server, tmp_path: Path) -> None:
    server.add_file("/compatibility.json", json.dumps(TABLE).encode())
    fetched = spacy.fetch_table(server.url + "/compatibility.json")
    assert fetched.versions("3.7", "en_core_web_sm") == ("3.7.1", "3.7.0")
    local = tmp_path / "compatibility.json"
    local.write_text(json.dumps(TABLE))
    assert spacy.fetch_table(local.as_uri()).names() == fetched.names()
    missing = server.url.replace("http://", "http://KEY@") + "/missing.json"
    with pytest.raises(PipmodelsError) as error:
        spacy.fetch_table(missing)
    assert error.value.message == (
        f"Cannot fetch spaCy's compatibility table from "
        f"{server.url.replace('http://', 'http://****@')}/missing.json (HTTP 404)."
    )
    assert "PIPMODELS_SPACY_COMPATIBILITY_URL" in error.value.hint


# -- meta.json -------------------------------------------------------------------------------


def test_meta_member_prefers_the_package_folder() -> None:
    wheel = [
        "en_core_web_sm/en_core_web_sm-3.8.0/meta.json",
        "en_core_web_sm/meta.json",
        "en_core_web_sm-3.8.0.dist-info/METADATA",
    ]
    assert spacy.meta_member(wheel, "en-core-web-sm", sdist=False) == "en_core_web_sm/meta.json"
    assert spacy.meta_member(wheel[:1], "en_core_web_sm", sdist=False) == wheel[0]
    sdist = ["en_core_web_sm-3.8.0/meta.json", "en_core_web_sm-3.8.0/setup.py"]
    assert spacy.meta_member(sdist, "en_core_web_sm", sdist=True) == sdist[0]


def test_meta_member_ignores_other_packages_meta_json() -> None:
    members = ["otherlib/meta.json", "meta.json", "en_core_web_sm/data/meta.json"]
    assert spacy.meta_member(members, "en_core_web_sm", sdist=False) is None


def test_read_meta_from_a_wheel_an_sdist_and_a_plain_package(tmp_path: Path) -> None:
    wheel = build_model(tmp_path, "en_core_web_sm", "3.7.1")
    assert spacy.read_meta(wheel, "en-core-web-sm") == spacy.ModelMeta(
        "en_core_web_sm", "3.7.1", ">=3.7.2,<3.8.0"
    )
    meta = meta_json("en_core_web_sm", "3.8.0", ">=3.8.0,<3.9.0")
    sdist = build_sdist(
        tmp_path, "en_core_web_sm", "3.8.0", extra_files={"meta.json": meta}
    )  # as `spacy package --build sdist` lays it out
    assert spacy.read_meta(sdist, "en_core_web_sm") == spacy.ModelMeta(
        "en_core_web_sm", "3.8.0", ">=3.8.0,<3.9.0"
    )
    assert spacy.read_meta(build_wheel(tmp_path, "helperlib", "1.0"), "helperlib") is None


def test_allows_and_check() -> None:
    old = spacy.ModelMeta("en_core_web_sm", "3.7.1", ">=3.7.2,<3.8.0")
    new = spacy.ModelMeta("en_core_web_sm", "3.8.0", ">=3.8.0,<3.9.0")
    odd = spacy.ModelMeta("xx_odd", "1.0", "not a range")
    assert spacy.allows(new, Version("3.8.2")) is True
    assert spacy.allows(old, Version("3.8.2")) is False
    assert spacy.allows(odd, Version("3.8.2")) is None
    assert spacy.check([old, new, odd], Version("3.8.2"), "requirements.txt") == [old]
    assert spacy.check([old], None, "requirements.txt") == []


def test_resolved_spacy_reads_the_compiled_pin() -> None:
    text = "# header\nhelperlib==1.0\n    # via x\nspacy==3.8.2 \\\n    --hash=sha256:ab\n"
    assert spacy.resolved_spacy(text) == Version("3.8.2")
    assert spacy.resolved_spacy("spacy-lookups-data==1.0\n") is None


def test_misfit_error_names_model_range_spacy_and_the_fit() -> None:
    old = spacy.ModelMeta("en_core_web_sm", "3.7.1", ">=3.7.2,<3.8.0")
    error = spacy.misfit_error([old], Version("3.8.2"), "requirements.txt", table())
    assert error.message == (
        "en_core_web_sm 3.7.1 needs spaCy >=3.7.2,<3.8.0, but requirements.txt resolves spacy "
        "to 3.8.2."
    )
    assert error.hint == (
        "spaCy's compatibility table at http://mirror.example/compatibility.json lists "
        "en_core_web_sm 3.8.0 for spaCy 3.8. To switch, delete the model's line and run: "
        "pipmodels add en_core_web_sm. Or pin a spacy in the model's range. requirements.txt "
        "was left as it was (--no-spacy-check skips this check)."
    )
    unreachable = spacy.misfit_error([old], Version("3.8.2"), "requirements.txt", "No network.")
    assert unreachable.hint.startswith("No fitting version can be named: No network. Or pin")


def test_check_compiled_with_a_local_table(tmp_path: Path) -> None:
    local = tmp_path / "compatibility.json"
    local.write_text(json.dumps(TABLE))
    environ = {spacy.COMPATIBILITY_URL_VARIABLE: str(local)}
    archives = [(build_model(tmp_path, "en_core_web_sm", "3.7.1"), "en-core-web-sm")]
    spacy.check_compiled("spacy==3.7.5\n", archives, output="r.txt", environ=environ)
    with pytest.raises(PipmodelsError, match=r"lists en_core_web_sm 3\.8\.0 for spaCy 3\.8"):
        spacy.check_compiled("spacy==3.8.2\n", archives, output="r.txt", environ=environ)


# -- add's pure steps ------------------------------------------------------------------------


def test_appended_keeps_the_files_line_endings() -> None:
    assert add.appended("", ["a", "b"]) == "a\nb\n"
    assert add.appended("spacy==3.8.2", ["a"]) == "spacy==3.8.2\na\n"
    assert add.appended("spacy==3.8.2\r\n", ["a"]) == "spacy==3.8.2\r\na\r\n"


def test_spacy_version_precedence(tmp_path: Path) -> None:
    source = tmp_path / "requirements.in"
    source.write_text("spacy==3.7.5\n")
    output = tmp_path / "requirements.txt"
    files = read_tree([source])
    found = add.find_spacy_version(None, output, files)
    assert (found.version, found.origin) == (Version("3.7.5"), f"{source}, line 1")
    output.write_text("spacy==3.7.4 \\\n    --hash=sha256:00\n")
    assert add.find_spacy_version(None, output, files).version == Version("3.7.4")
    assert add.find_spacy_version("3.8.2", output, files).version == Version("3.8.2")
    source.write_text("spacy>=3.7\n")
    output.unlink()
    with pytest.raises(PipmodelsError) as error:
        add.find_spacy_version(None, output, read_tree([source]))
    assert "--spacy-version" in error.value.hint
    assert "spacy==" in error.value.hint


def test_requirement_name_of_urls(tmp_path: Path) -> None:
    source = tmp_path / "requirements.in"
    source.write_text(
        "https://h/en_core_web_sm-3.8.0-py3-none-any.whl\n"
        "https://huggingface.co/spacy/x/resolve/main/de_core_news_sm-any-py3-none-any.whl\n"
        "fr_core_news_sm @ https://h/whatever.whl\n"
    )
    names = [add.requirement_name(r) for r in read_tree([source])[0].requirements]
    assert names == ["en-core-web-sm", "de-core-news-sm", "fr-core-news-sm"]


def test_spacy_requirement() -> None:
    assert add.spacy_requirement(Version("3.8.2")) == "spacy==3.8.2"
    assert add.spacy_requirement(Version("3.8")) == "spacy>=3.8,<3.9"


# -- as a user runs it -----------------------------------------------------------------------


@dataclass
class SpacyWorld:
    base: str  # the release download base
    models: dict[str, Path]  # "en_core_web_sm-3.8.0" -> wheel

    def url(self, name: str, version: str) -> str:
        return spacy.release_url(self.base, name, version)

    def line(self, name: str, version: str) -> str:
        return f"{name} @ {self.url(name, version)}"


@pytest.fixture
def spacy_world(server: Server, project: Project, tmp_path: Path) -> SpacyWorld:
    """spaCy 3.7.5 and 3.8.2 on a local index, models on a GitHub-like release host, the table."""
    dist = tmp_path / "dist"
    index = server.add_index([build_wheel(dist, "spacy", v) for v in ("3.7.5", "3.8.2")])
    models = {}
    for name, version in [("en_core_web_sm", "3.8.0"), ("en_core_web_sm", "3.7.1")]:
        wheel = build_model(dist / version, name, version)
        server.add_release_asset("explosion/spacy-models", f"{name}-{version}", wheel)
        models[f"{name}-{version}"] = wheel
    server.add_file("/compatibility.json", json.dumps(TABLE).encode())
    project.env.update(
        PIP_INDEX_URL=index,
        PIPMODELS_SPACY_COMPATIBILITY_URL=server.url + "/compatibility.json",
        PIPMODELS_SPACY_MODELS_URL=server.url + RELEASES,
    )
    return SpacyWorld(server.url + RELEASES, models)


@pytest.mark.slow
def test_add_in_an_empty_folder_installs_the_fitting_model(
    spacy_world: SpacyWorld, project: Project, venv: Venv
) -> None:
    run = project.pipmodels(
        "add", "en_core_web_sm", "--spacy-version", "3.8.2", "--python-executable", venv.python
    )

    lines = ["spacy==3.8.2", spacy_world.line("en_core_web_sm", "3.8.0")]
    assert (project.root / "requirements.in").read_text() == "\n".join(lines) + "\n"
    assert run.stdout == "\n".join(lines) + "\n"
    assert "en_core_web_sm 3.8.0 is the newest version for spaCy 3.8" in run.stderr
    wheel = spacy_world.models["en_core_web_sm-3.8.0"]
    compiled = (project.root / "requirements.txt").read_text()
    assert f"en-core-web-sm==3.8.0 \\\n    --hash=sha256:{sha256(wheel)}\n" in compiled
    installed = venv.freeze()
    assert (installed["en-core-web-sm"], installed["spacy"]) == ("3.8.0", "3.8.2")


@pytest.mark.slow
def test_add_fits_the_pinned_spacy_and_leaves_a_present_model_alone(
    spacy_world: SpacyWorld, project: Project, server: Server
) -> None:
    source = project.write("requirements.in", "spacy==3.7.5\n")

    first = project.pipmodels("add", "en-core-web-sm", "--no-sync")

    line = spacy_world.line("en_core_web_sm", "3.7.1")
    assert source.read_text() == f"spacy==3.7.5\n{line}\n"
    assert first.stdout == line + "\n"
    assert "spaCy 3.7.5 (from requirements.in, line 1)" in first.stderr
    asked = server.requests["/compatibility.json"]

    again = project.pipmodels("add", "en_core_web_sm", "--no-sync")

    assert source.read_text() == f"spacy==3.7.5\n{line}\n"
    assert again.stdout == ""
    assert f"en_core_web_sm is already in requirements.in, line 2: {line}; nothing to add" in (
        again.stderr
    )
    assert server.requests["/compatibility.json"] == asked
    assert not (project.root / "requirements.txt").exists()


@pytest.mark.slow
def test_add_without_a_spacy_version_says_where_to_give_one(
    spacy_world: SpacyWorld, project: Project
) -> None:
    source = project.write("requirements.in", "spacy>=3.7\n")

    run = project.pipmodels("add", "en_core_web_sm", check=False)

    assert run.returncode == 1
    assert run.stderr == (
        "error: Cannot tell which spaCy this project uses: no --spacy-version, no spacy pin in "
        "requirements.txt, and no spacy==VERSION in the inputs.\n"
        f"  {add.SPACY_VERSION_HINT}\n"
    )
    assert source.read_text() == "spacy>=3.7\n"


@pytest.mark.slow
def test_add_of_an_unknown_name_suggests_known_ones(
    spacy_world: SpacyWorld, project: Project
) -> None:
    run = project.pipmodels("add", "en_core_web_sn", "--spacy-version", "3.8.2", check=False)

    assert run.returncode == 1
    assert "error: en_core_web_sn is not in spaCy's compatibility table" in run.stderr
    assert "  Did you mean en_core_web_sm or en_core_web_md?\n" in run.stderr
    assert not (project.root / "requirements.in").exists()

    wrong = project.pipmodels(
        "add", "en_core_web_sm==3.7.1", "--spacy-version", "3.8.2", check=False
    )
    assert wrong.returncode == 1
    assert "en_core_web_sm 3.7.1 does not fit spaCy 3.8" in wrong.stderr


@pytest.mark.slow
def test_compile_refuses_a_model_that_does_not_fit_the_spacy(
    spacy_world: SpacyWorld, project: Project
) -> None:
    source = project.write(
        "requirements.in", f"spacy==3.8.2\n{spacy_world.line('en_core_web_sm', '3.8.0')}\n"
    )
    project.pipmodels("compile")
    output = project.root / "requirements.txt"
    before = output.read_bytes()
    assert b"en-core-web-sm==3.8.0" in before

    source.write_text(f"spacy==3.8.2\n{spacy_world.line('en_core_web_sm', '3.7.1')}\n")
    run = project.pipmodels("compile", check=False)

    assert run.returncode == 1
    assert (
        "error: en_core_web_sm 3.7.1 needs spaCy >=3.7.2,<3.8.0, but requirements.txt "
        "resolves spacy to 3.8.2.\n"
        "  spaCy's compatibility table at "
    ) in run.stderr
    assert "lists en_core_web_sm 3.8.0 for spaCy 3.8." in run.stderr
    assert output.read_bytes() == before
    synced = project.pipmodels("sync", "--dry-run", check=False)
    assert synced.returncode == 1
    assert "en_core_web_sm 3.7.1 needs spaCy" in synced.stderr


@pytest.mark.slow
def test_the_check_is_skipped_by_flag_or_setting(spacy_world: SpacyWorld, project: Project) -> None:
    project.write(
        "requirements.in", f"spacy==3.8.2\n{spacy_world.line('en_core_web_sm', '3.7.1')}\n"
    )
    output = project.root / "requirements.txt"

    project.pipmodels("compile", "--no-spacy-check")

    assert "en-core-web-sm==3.7.1" in output.read_text()
    assert "#    pipmodels compile --no-spacy-check\n" in output.read_text()

    output.unlink()
    project.write("pyproject.toml", "[tool.pipmodels]\nspacy-check = false\n")
    project.pipmodels("compile")
    assert "en-core-web-sm==3.7.1" in output.read_text()


@pytest.mark.slow
def test_a_hugging_face_wheel_is_checked_without_the_table(
    spacy_world: SpacyWorld, server: Server, project: Project, tmp_path: Path
) -> None:
    wheel = build_model(
        tmp_path / "hf",
        "en_core_web_sm",
        "3.7.1",
        filename="en_core_web_sm-any-py3-none-any.whl",
    )
    server.add_file("/spacy/en_core_web_sm/resolve/main/" + wheel.name, wheel.read_bytes())
    url = f"{server.url}/spacy/en_core_web_sm/resolve/main/{wheel.name}"
    project.write("requirements.in", f"spacy==3.8.2\nen_core_web_sm @ {url}\n")
    project.env["PIPMODELS_SPACY_COMPATIBILITY_URL"] = "http://127.0.0.1:9/compatibility.json"

    run = project.pipmodels("compile", check=False)

    assert run.returncode == 1
    assert "en_core_web_sm 3.7.1 needs spaCy >=3.7.2,<3.8.0" in run.stderr
    assert (
        "  No fitting version can be named: Cannot fetch spaCy's compatibility table from "
        "http://127.0.0.1:9/compatibility.json (ConnectionError). Or pin a spacy"
    ) in run.stderr
    assert not (project.root / "requirements.txt").exists()


@pytest.mark.slow
def test_moving_a_model_url_to_another_release_fetches_that_release(
    spacy_world: SpacyWorld, project: Project
) -> None:
    source = project.write("requirements.in", spacy_world.line("en_core_web_sm", "3.8.0") + "\n")
    assert project.pipmodels("download").stdout == "en-core-web-sm==3.8.0\n"

    source.write_text(spacy_world.line("en_core_web_sm", "3.7.1") + "\n")

    assert project.pipmodels("download").stdout == "en-core-web-sm==3.7.1\n"
