"""Trust only what was verified: files pipmodels derived, archives, values and reads from the
network, and the cache folder as something a third party may have written.

Each test attacks a class, with its variants. Tests that run pip, pip-compile or uv are slow.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.builders import build_sdist, build_wheel, sha256
from tests.conftest import Project, Venv
from tests.servers import Server, StreamServer, drip, endless

CACHE = ".pipmodels-cache"
KEY = "trust-test-key-5d1e0b"


def _model_world(server: Server, project: Project, tmp_path: Path, index: str) -> Path:
    """requirements.in with a dependency from the index and a model by URL; one download."""
    model = build_wheel(tmp_path / "dist", "en_trust", "1.0.0", marker="real")
    server.add_file(f"/{model.name}", model.read_bytes())
    project.env["PIP_INDEX_URL"] = index
    project.write("requirements.in", f"tinyspacy\nen_trust @ {server.url}/{model.name}\n")
    project.pipmodels("download")
    return model


def _plant_newer_tinyspacy(cache: Path, tmp_path: Path, how: str) -> None:
    """A third party's tinyspacy 9.9 in or beside the cache, linked the way ``how`` says."""
    evil = build_wheel(tmp_path / "evil", "tinyspacy", "9.9", marker="evil")
    page = cache / "index.html"
    if how == "dropped-file":  # the file alone, the page left as pipmodels wrote it
        shutil.copy(evil, cache / evil.name)
    elif how == "edited-page":  # the file, and a line on the cache's page
        shutil.copy(evil, cache / evil.name)
        text = page.read_text().replace(
            "</body>", f'<a href="{evil.name}">{evil.name}</a>\n</body>'
        )
        page.write_text(text)
    elif how == "page-links-outside":  # a page restored from elsewhere, pointing outside
        text = page.read_text().replace(
            "</body>", f'<a href="{evil.as_uri()}">{evil.name}</a>\n</body>'
        )
        page.write_text(text)
    elif how == "page-is-a-symlink":  # index.html replaced by a link to the attacker's page
        outside = tmp_path / "evil" / "index.html"
        outside.write_text(f'<a href="{evil.as_uri()}">{evil.name}</a>\n')
        page.unlink()
        page.symlink_to(outside)
    else:
        raise AssertionError(how)


PLANTS = ["dropped-file", "edited-page", "page-links-outside", "page-is-a-symlink"]


@pytest.mark.slow
@pytest.mark.parametrize("how", PLANTS)
def test_nothing_a_third_party_put_in_the_cache_is_pinned(
    how: str, engine: str, server: Server, project: Project, tmp_path: Path, index: str
) -> None:
    _model_world(server, project, tmp_path, index)
    _plant_newer_tinyspacy(project.root / CACHE, tmp_path, how)
    project.pipmodels("compile")
    pins = (project.root / "requirements.txt").read_text()
    assert "tinyspacy==3.9.0" in pins, pins
    assert "9.9" not in pins


@pytest.mark.slow
def test_a_restored_cache_with_a_tampered_archive_is_healed_never_installed(
    engine: str, server: Server, project: Project, tmp_path: Path, index: str, venv: Venv
) -> None:
    model = _model_world(server, project, tmp_path, index)
    cached = project.root / CACHE / model.name
    # Same name, same size (the markers are as long), the mtime put back: only the bytes differ.
    evil = build_wheel(tmp_path / "evil", "en_trust", "1.0.0", marker="evil")
    assert evil.stat().st_size == cached.stat().st_size
    before = cached.stat()
    shutil.copy(evil, cached)
    os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
    _plant_newer_tinyspacy(project.root / CACHE, tmp_path, "edited-page")
    server.reset_counts()
    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert server.requests[f"/{model.name}"] == 1, run.output  # fetched again: healed
    assert venv.run("import en_trust; print(en_trust.MARKER)") == "real"
    assert venv.freeze()["tinyspacy"] == "3.9.0"
    assert cached.read_bytes() == model.read_bytes()


# -- every read from the network is bounded ----------------------------------------------------


def _nested(depth: int = 200_000) -> Iterator[bytes]:
    yield b"[" * depth + b"]" * depth


Attack = tuple[Callable[[], Iterator[bytes]], dict[str, str], str]
ATTACKS: dict[str, Attack] = {
    # what the hostile host sends, the extra environment, and what the message must say
    "endless": (lambda: endless(), {}, "larger than 32 MB"),
    "drip": (lambda: drip(every=0.3), {"PIPMODELS_PAGE_SECONDS": "2"}, "pipmodels gave up on it"),
    "nested-json": (lambda: _nested(), {}, "nested deeper than 64 levels"),
}


def _read_from(
    where: str, hostile: StreamServer, server: Server, project: Project, tmp_path: Path
) -> list[str]:
    """The command that makes pipmodels read a page or JSON answer from ``hostile``."""
    # Never on a command line: other tests on this machine sample every process's.
    host = hostile.url.replace("http://", f"http://user:{KEY}@")
    if where == "mirror":
        model = build_wheel(tmp_path / "dist", "en_trust", "1.0.0")
        server.add_file(f"/{model.name}", model.read_bytes())
        project.write("requirements.in", f"en_trust @ {server.url}/{model.name}\n")
        project.env["PIPMODELS_MIRROR"] = f"{host}/simple/"
        return ["download"]
    if where == "github":
        project.env["GITHUB_API_URL"] = hostile.url
        project.env["GITHUB_TOKEN"] = KEY
        return ["links", "github:explosion/spacy-models"]
    if where == "spacy":
        project.env["PIPMODELS_SPACY_COMPATIBILITY_URL"] = f"{host}/compatibility.json"
        return ["add", "en_core_web_sm", "--spacy-version", "3.8.0", "--no-sync"]
    raise AssertionError(where)


READERS = [  # a mirror's pages are HTML: nesting means nothing there
    (where, attack)
    for where in ("mirror", "github", "spacy")
    for attack in sorted(ATTACKS)
    if (where, attack) != ("mirror", "nested-json")
]


@pytest.mark.slow  # no pip, but each waits on a limit's clock
@pytest.mark.parametrize(("where", "attack"), READERS)
def test_every_page_and_json_answer_is_read_within_limits(
    where: str, attack: str, server: Server, project: Project, tmp_path: Path
) -> None:
    body, env, said = ATTACKS[attack]
    hostile = StreamServer(lambda _path: (200, {"Content-Type": "application/json"}, body()))
    try:
        project.env.update(env)
        args = _read_from(where, hostile, server, project, tmp_path)
        started = time.monotonic()
        run = project.pipmodels(*args, check=False, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        hostile.close()
    assert "Traceback" not in run.output
    assert said in run.stderr, run.output
    assert f"127.0.0.1:{hostile.httpd.server_port}" in run.stderr  # the host is named
    assert KEY not in run.output
    assert elapsed < 30, elapsed
    if where == "mirror":  # a mirror that fails is a miss: the model comes from its origin
        assert run.returncode == 0, run.output
        assert list((project.root / CACHE).glob("en_trust-1.0.0-*.whl"))
    else:
        assert run.returncode == 1, run.output
        assert not (project.root / "requirements.in").exists()


def test_a_next_page_without_end_is_followed_only_so_far(project: Project) -> None:
    def pages(path: str) -> tuple[int, dict[str, str], Iterator[bytes]]:
        page = int(path.rsplit("page=", 1)[1]) if "page=" in path else 1
        url = f"{hostile.url}/repos/explosion/spacy-models/releases?per_page=100&page={page + 1}"
        return 200, {"Link": f'<{url}>; rel="next"'}, iter([b"[]"])

    hostile = StreamServer(pages)
    try:
        project.env.update(GITHUB_API_URL=hostile.url, PIPMODELS_MAX_PAGES="25")
        run = project.pipmodels("links", "github:explosion/spacy-models", check=False)
    finally:
        hostile.close()
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert "after 25 pages" in run.stderr, run.output
    assert f"127.0.0.1:{hostile.httpd.server_port}" in run.stderr
    assert sum(hostile.requests.values()) == 25


# -- values from the network ---------------------------------------------------------------------

GOOD_TABLE = {"spacy": {"3.8": {"en_core_web_sm": ["3.8.0"]}}}
BAD_TABLES = {
    "newline-in-version": {
        "spacy": {"3.8": {"en_core_web_sm": ["3.8.0\n--extra-index-url http://evil/\n-f x"]}}
    },
    "version-is-a-dict": {"spacy": {"3.8": {"en_core_web_sm": [{"v": "3.8.0"}]}}},
    "version-is-null": {"spacy": {"3.8": {"en_core_web_sm": [None]}}},
    "version-is-a-path": {"spacy": {"3.8": {"en_core_web_sm": ["../.."]}}},
    "version-with-spaces": {"spacy": {"3.8": {"en_core_web_sm": [" 3.8.0 "]}}},
    "version-is-a-number": {"spacy": {"3.8": {"en_core_web_sm": [3.8]}}},
    "versions-are-a-string": {"spacy": {"3.8": {"en_core_web_sm": "3.8.0"}}},
    "name-with-a-newline": {"spacy": {"3.8": {"en_core_web_sm\nevil==1": ["3.8.0"]}}},
    "name-with-a-url": {"spacy": {"3.8": {"en_core_web_sm @ http://evil/x.whl": ["3.8.0"]}}},
    "minor-is-not-a-version": {"spacy": {"3.8\n-f evil": {"en_core_web_sm": ["3.8.0"]}}},
    "models-are-a-list": {"spacy": {"3.8": [["en_core_web_sm", "3.8.0"]]}},
    "spacy-is-a-list": {"spacy": [GOOD_TABLE["spacy"]]},
}


@pytest.mark.slow  # a pipmodels process per variant: kept out of the unit loop
@pytest.mark.parametrize("shape", sorted(BAD_TABLES))
def test_a_compatibility_table_of_the_wrong_shape_never_reaches_requirements_in(
    shape: str, server: Server, project: Project
) -> None:
    server.add_file("/compatibility.json", json.dumps(BAD_TABLES[shape]).encode())
    project.env["PIPMODELS_SPACY_COMPATIBILITY_URL"] = f"{server.url}/compatibility.json"
    project.write("requirements.in", "spacy==3.8.0\n")
    run = project.pipmodels("add", "en_core_web_sm", "--no-sync", check=False)
    assert run.returncode == 1, run.output
    assert "Traceback" not in run.output
    assert re.search(r"is not a (valid )?spaCy compatibility table", run.stderr), run.output
    assert (project.root / "requirements.in").read_text() == "spacy==3.8.0\n"


def test_the_documented_table_still_adds_its_model(server: Server, project: Project) -> None:
    server.add_file("/compatibility.json", json.dumps(GOOD_TABLE).encode())
    project.env["PIPMODELS_SPACY_COMPATIBILITY_URL"] = f"{server.url}/compatibility.json"
    project.write("requirements.in", "spacy==3.8.0\n")
    project.pipmodels("add", "en_core_web_sm", "--no-sync")
    assert "en_core_web_sm-3.8.0-py3-none-any.whl" in (project.root / "requirements.in").read_text()


HOSTILE_ASSETS = [
    ("../../x-1.0-py3-none-any.whl", "https://example.com/x-1.0-py3-none-any.whl"),
    ("sub/x-1.0-py3-none-any.whl", "https://example.com/x-1.0-py3-none-any.whl"),
    ("..\\x-1.0-py3-none-any.whl", "https://example.com/x-1.0-py3-none-any.whl"),
    ('x-1.0-py3-none-any.whl"><script>', "https://example.com/x-1.0-py3-none-any.whl"),
    ("x-1.0-py3-none-any.whl\n", "https://example.com/x-1.0-py3-none-any.whl"),
    ("x-2.0-py3-none-any.whl", "javascript:alert(1)//x-2.0-py3-none-any.whl"),
    ("x-3.0-py3-none-any.whl", "JavaScript:alert(1)"),
    ("x-4.0-py3-none-any.whl", "file:///etc/passwd"),
    ("x-5.0-py3-none-any.whl", "data:text/html,<script>alert(1)</script>"),
    ("x-6.0-py3-none-any.whl", "//evil.example/x-6.0-py3-none-any.whl"),
    ("x-7.0-py3-none-any.whl", "https://example.com/x\n<script>.whl"),
    ("x-8.0-py3-none-any.whl", "https://[bad/x-8.0-py3-none-any.whl"),
]


def test_release_assets_with_unsafe_names_or_urls_never_reach_the_page(project: Project) -> None:
    good = ("en_core_web_sm-3.8.0-py3-none-any.whl", "https://example.com/en_core_web_sm.whl")
    assets = [{"name": n, "browser_download_url": u} for n, u in [good, *HOSTILE_ASSETS]]
    body = json.dumps([{"tag_name": "v1", "draft": False, "assets": assets}]).encode()
    hostile = StreamServer(lambda _path: (200, {"Content-Type": "application/json"}, iter([body])))
    try:
        project.env["GITHUB_API_URL"] = hostile.url
        run = project.pipmodels("links", "github:explosion/spacy-models", "--all-assets")
    finally:
        hostile.close()
    links = [line for line in run.stdout.splitlines() if line.startswith("<a ")]
    assert links == [f'<a href="{good[1]}">{good[0]}</a><br>'], run.stdout
    assert run.stderr.count("left out the asset") == len(HOSTILE_ASSETS), run.stderr
    for word in ("javascript", "JavaScript", "file:", "data:", "<script>", "../"):
        assert word not in run.stdout


# -- archives that are not what they claim ------------------------------------------------------


def _rezip(
    wheel: Path,
    *,
    drop: tuple[str, ...] = (),
    rename: tuple[str, str] | None = None,
    add: dict[str, bytes] | None = None,
) -> bytes:
    """``wheel``'s bytes with members dropped (by suffix), a folder renamed, members added."""
    out = io.BytesIO()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith(drop) and drop:
                continue
            name = info.filename
            if rename and name.startswith(rename[0]):
                name = rename[1] + name[len(rename[0]) :]
            dst.writestr(name, src.read(info))
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return out.getvalue()


def _impostor_archives(tmp_path: Path) -> dict[str, tuple[str, bytes, str]]:
    """Variant -> (file name served, bytes, what the message must say)."""
    wheel = build_wheel(tmp_path / "forms", "en_form", "1.0.0")
    sdist = build_sdist(tmp_path / "forms", "en_form", "1.0.0")
    whl, tgz = wheel.name, sdist.name
    info = "en_form-1.0.0.dist-info/"
    return {
        "gzip-tarball-named-whl": (whl, sdist.read_bytes(), "is named .whl but is not a zip"),
        "zip-named-tar-gz": (tgz, wheel.read_bytes(), "is named .tar.gz but is not a gzip"),
        "html-named-whl": (whl, b"<html><body>Sign in</body></html>", "not a readable package"),
        "two-dist-info-folders": (
            whl,
            _rezip(wheel, add={"other-2.0.dist-info/METADATA": b"Name: other\nVersion: 2.0\n"}),
            "2 .dist-info folders",
        ),
        "dist-info-disagrees-with-name": (
            whl,
            _rezip(wheel, rename=(info, "en_form-9.0.dist-info/")),
            "names en-form 9.0",
        ),
        "no-metadata": (whl, _rezip(wheel, drop=("METADATA",)), "no package metadata"),
        "no-record": (whl, _rezip(wheel, drop=("RECORD",)), "lacks RECORD"),
        "no-wheel-file": (whl, _rezip(wheel, drop=("/WHEEL",)), "lacks WHEEL"),
        "sdist-without-pkg-info": (
            tgz,
            _tar_gz({"en_form-1.0.0/setup.py": b"from setuptools import setup\nsetup()\n"}),
            "no package metadata",
        ),
        "truncated-wheel": (whl, wheel.read_bytes()[: wheel.stat().st_size // 2], "not a readable"),
        "truncated-sdist": (tgz, sdist.read_bytes()[: sdist.stat().st_size // 2], "not a readable"),
    }


FORMS = [
    "gzip-tarball-named-whl",
    "zip-named-tar-gz",
    "html-named-whl",
    "two-dist-info-folders",
    "dist-info-disagrees-with-name",
    "no-metadata",
    "no-record",
    "no-wheel-file",
    "sdist-without-pkg-info",
    "truncated-wheel",
    "truncated-sdist",
]


@pytest.mark.slow  # a pipmodels process per variant: kept out of the unit loop
@pytest.mark.parametrize("form", FORMS)
def test_an_archive_that_is_not_what_it_claims_is_never_cached(
    form: str, server: Server, project: Project, tmp_path: Path
) -> None:
    filename, data, said = _impostor_archives(tmp_path)[form]
    server.add_file(f"/{filename}", data)
    project.write("requirements.in", f"en_form @ {server.url}/{filename}\n")
    run = project.pipmodels("download", check=False)
    assert run.returncode == 1, run.output
    assert "Traceback" not in run.output
    assert said in run.stderr, run.stderr
    assert filename in run.stderr  # the message names the file
    assert "Nothing was added to the cache" in run.stderr
    cache = project.root / CACHE
    assert sorted(p.name for p in cache.iterdir()) == [".gitignore", ".pipmodels", "index.html"]
    assert sorted(p.name for p in (cache / ".pipmodels").iterdir()) in (
        ["lock"],
        ["lock", "manifest.json"],
    )
    # The publisher fixes the file: the next run takes it, with nothing left over in the way.
    good = build_sdist if filename.endswith(".tar.gz") else build_wheel
    server.add_file(f"/{filename}", good(tmp_path / "fixed", "en_form", "1.0.0").read_bytes())
    assert project.pipmodels("download").stdout == "en-form==1.0.0\n"


# -- the cache folder as an attack surface -----------------------------------------------------


def test_links_planted_in_the_cache_never_write_through_to_their_targets(
    server: Server, project: Project, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "dist", "en_trust", "1.0.0")
    server.add_file(f"/{model.name}", model.read_bytes())
    project.write("requirements.in", f"en_trust @ {server.url}/{model.name}\n")
    victim = tmp_path / "victim" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("precious\n")
    victim_dir = tmp_path / "victim" / "folder"
    victim_dir.mkdir()
    (victim_dir / "keep.txt").write_text("keep\n")
    cache = project.root / CACHE
    state = cache / ".pipmodels"
    state.mkdir(parents=True)
    planted = [
        state / "lock",
        state / "manifest.json",
        *(state / f".manifest.json{suffix}" for suffix in (".tmp", ".0.tmp", ".new")),
        *(state / f".probe-{pid}" for pid in range(os.getpid(), os.getpid() + 200)),
        cache / "index.html",
        cache / ".gitignore",
        cache / model.name,
    ]
    for link in planted:
        link.symlink_to(victim)
    (state / "download-planted").symlink_to(victim_dir, target_is_directory=True)

    for _ in range(2):  # the first run, and one over what it left
        project.pipmodels("download")
    assert victim.read_text() == "precious\n"
    assert (victim_dir / "keep.txt").read_text() == "keep\n"
    assert not (cache / model.name).is_symlink()
    assert (cache / model.name).read_bytes() == model.read_bytes()
    assert not (state / "lock").is_symlink()


@pytest.mark.slow  # two real runs that overlap on a throttled server
def test_two_runs_on_one_cache_spelt_two_ways_take_turns(
    server: Server, project: Project, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "big", "en_big", "1.0.0", payload=3_000_000)
    server.add_file(f"/{model.name}", model.read_bytes())
    server.archives[f"/{model.name}"] = model.name
    server.throttle = 0.05  # about 2.5 s for the whole file
    shared = tmp_path / "shared"
    shared.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(shared, target_is_directory=True)
    other = Project(tmp_path / "other")
    other.root.mkdir()
    runs = []
    for who, spelt in ((project, "../shared"), (other, str(alias))):
        who.write("requirements.in", f"en_big @ {server.url}/{model.name}\n")
        who.env["PIPMODELS_STATE_DIR"] = str(tmp_path / f"state-of-{who.root.name}")
        who.env["PIPMODELS_CACHE_DIR"] = spelt
    first = project.start("download")
    while server.bytes_of(model.name) == 0:
        time.sleep(0.02)
    second = other.start("download")
    runs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], runs
    assert [out for out, _err in runs] == ["en-big==1.0.0\n"] * 2
    assert "Waiting for pipmodels run" in runs[1][1]
    assert server.bytes_of(model.name) == model.stat().st_size  # fetched once, by the first
    assert (shared / model.name).read_bytes() == model.read_bytes()


# -- the no-op fast path -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("form", ["file-url", "relative-path", "absolute-path"])
def test_a_local_wheel_rebuilt_with_new_bytes_is_no_longer_up_to_date(
    form: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    wheels = project.root / "wheels"
    wheel = build_wheel(wheels, "en_local", "1.0.0", marker="first")
    wheel_before = tmp_path / "before.whl"
    shutil.copy(wheel, wheel_before)
    line = {
        "file-url": f"en_local @ {wheel.as_uri()}",
        "relative-path": f"./wheels/{wheel.name}",
        "absolute-path": str(wheel),
    }[form]
    project.write("requirements.in", line + "\n")
    args = ["sync", "--python-executable", venv.python]
    project.pipmodels(*args)
    assert "Up to date" in project.pipmodels(*args).stderr  # the no-op, as before
    rebuilt = build_wheel(wheels, "en_local", "1.0.0", marker="again")  # same name, new bytes
    run = project.pipmodels(*args)
    assert "Up to date" not in run.stderr, run.stderr
    assert f"cached {wheel.name}" in run.stderr  # the new bytes went into the cache
    assert (project.root / CACHE / wheel.name).read_bytes() == rebuilt.read_bytes()
    # ... and into the lock: pip-compile would have kept the old hash of en-local==1.0.0.
    pinned = (project.root / "requirements.txt").read_text()
    assert sha256(rebuilt) in pinned
    assert sha256(wheel_before) not in pinned
    assert "Up to date" in project.pipmodels(*args).stderr


def test_a_restored_manifest_nested_without_end_costs_a_download_not_a_traceback(
    server: Server, project: Project, tmp_path: Path
) -> None:
    model = build_wheel(tmp_path / "dist", "en_trust", "1.0.0")
    server.add_file(f"/{model.name}", model.read_bytes())
    project.write("requirements.in", f"en_trust @ {server.url}/{model.name}\n")
    project.pipmodels("download")
    manifest = project.root / CACHE / ".pipmodels" / "manifest.json"
    manifest.write_text("[" * 200_000 + "]" * 200_000)
    server.reset_counts()
    run = project.pipmodels("download", check=False)
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output
    assert server.requests[f"/{model.name}"] == 1
    assert json.loads(manifest.read_text())["files"][model.name]["size"] == model.stat().st_size


@pytest.mark.parametrize("depth", [65, 900, 100_000])
def test_json_nested_past_the_limit_is_a_message_at_any_depth(depth: int) -> None:
    from pipmodels import http
    from pipmodels.errors import PipmodelsError

    data = b"[" * depth + b"]" * depth
    with pytest.raises(PipmodelsError) as error:
        http.parse_json(data, f"https://user:{KEY}@host.example:8443/x.json", http.Limits())
    assert error.value.message.startswith("host.example:8443 answered with JSON nested deeper")
    assert KEY not in str(error.value)
    assert http.parse_json(b"[" * 64 + b"]" * 64, "https://h/", http.Limits()) is not None


def test_the_limits_come_from_one_place_and_the_environment() -> None:
    from pipmodels import http

    limits = http.Limits.from_environment(
        {
            "PIPMODELS_MAX_PAGE_BYTES": "1000",
            "PIPMODELS_PAGE_SECONDS": "5",
            "PIPMODELS_MAX_PAGES": "7",
        }
    )
    assert (limits.max_bytes, limits.total_seconds, limits.stall_seconds, limits.max_pages) == (
        1000,
        5.0,
        5.0,
        7,
    )
    assert http.Policy.from_environment({}).limits == http.Limits()
    assert http.Limits().max_bytes == 32 << 20
