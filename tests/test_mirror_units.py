"""The pure parts of the team mirror and of publish: pages, decisions, command lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from pipmodels import http
from pipmodels.cache import Entry
from pipmodels.credentials import Redactor
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import Model
from pipmodels.mirror import (
    Locked,
    Mirror,
    Outcome,
    Wanted,
    from_mirror,
    pick,
    read_lock,
    require_origin,
    wanted_file,
)
from pipmodels.publish import (
    UploadTarget,
    check_sizes,
    file_limit,
    parse_size,
    plan,
    resolve_target,
    target_from_pypirc,
    target_from_url,
    upload_command,
)
from pipmodels.reqfile import Line, parse_requirement
from pipmodels.simple import IndexFile, get_page, parse_page, project_url
from tests.builders import build_wheel, sha256
from tests.servers import Response, Server

A = "a" * 64
B = "b" * 64
C = "c" * 64
MODELS = Path("requirements-models.txt")
TAGS = {"cp311-cp311-manylinux_2_17_x86_64": 0, "py3-none-any": 5}


def model(text: str, *options: str) -> Model:
    req = parse_requirement(Line(MODELS, len(options) + 1, text))
    return Model(req, tuple(Line(MODELS, n, o) for n, o in enumerate(options, 1)))


# -- pages ----------------------------------------------------------------------------------------


def test_devpi_page_links_relatively_with_sha256() -> None:
    page = (
        "<html><body>team/models "
        '<a href="../../+f/b1b/f20/prodigy-1.15.3-py3-none-any.whl#sha256='
        + A.upper()
        + '" data-requires-python="">prodigy-1.15.3-py3-none-any.whl</a><br></body></html>'
    )
    files = parse_page(page, "http://127.0.0.1:3141/team/models/+simple/prodigy/")
    assert files == [
        IndexFile(
            "prodigy-1.15.3-py3-none-any.whl",
            "http://127.0.0.1:3141/team/models/+f/b1b/f20/prodigy-1.15.3-py3-none-any.whl",
            A,
        )
    ]


def test_find_links_page_escaped_names_base_and_other_links() -> None:
    page = (
        '<base href="https://cdn.example.com/models/">'
        '<a href="en_core_web_sm-3.8.0-py3-none-any.whl#sha256=' + B + '">x</a>'
        '<a href="my%20pkg-1.0.tar.gz">my pkg</a>'
        '<a href="/simple/prodigy/">prodigy</a>'
        '<a href="notes.txt">notes</a>'
        '<a href="../%2e%2e%2fevil-1.0-py3-none-any.whl">evil</a>'
        '<a href=".hidden-1.0-py3-none-any.whl">hidden</a>'
        "<a>no href</a>"
    )
    files = parse_page(page, "https://bucket.example.com/index.html")
    assert [(f.filename, f.url, f.sha256) for f in files] == [
        (
            "en_core_web_sm-3.8.0-py3-none-any.whl",
            "https://cdn.example.com/models/en_core_web_sm-3.8.0-py3-none-any.whl",
            B,
        ),
        ("my pkg-1.0.tar.gz", "https://cdn.example.com/models/my%20pkg-1.0.tar.gz", None),
    ]


def test_project_url_is_normalised() -> None:
    assert project_url("http://h/simple", "En_Core.Web-sm") == "http://h/simple/en-core-web-sm/"
    assert project_url("http://h/t/i/+simple/", "prodigy") == "http://h/t/i/+simple/prodigy/"


def test_read_lock(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "# header\n--index-url http://127.0.0.1/simple/\n\n"
        f"en-core-web-sm==3.8.0 \\\n    --hash=sha256:{A}\n    # via -r requirements.in\n"
        f"prodigy==1.15.3 ; python_version >= '3.8' \\\n    --hash=sha256:{B} \\\n"
        f"    --hash=sha256:{C}\n"
        "-e ./local\n"
    )
    assert read_lock(lock) == {
        "en-core-web-sm": Locked(Version("3.8.0"), frozenset({A})),
        "prodigy": Locked(Version("1.15.3"), frozenset({B, C})),
    }
    assert read_lock(tmp_path / "missing.txt") == {}


# -- what to ask the mirror for ----------------------------------------------------------------

LOCK = {
    "prodigy": Locked(Version("1.15.3"), frozenset({A})),
    "en-core-web-sm": Locked(Version("3.8.0"), frozenset({B})),
}
RELEASE = "https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0"


def test_wanted_for_a_direct_reference_is_its_file_with_every_recorded_digest() -> None:
    m = model(f"en_core_web_sm @ {RELEASE}/en_core_web_sm-3.8.0-py3-none-any.whl#sha256={C}")
    assert wanted_file(m, {}, LOCK, upgrade=False) == Wanted(
        "en-core-web-sm", None, "en_core_web_sm-3.8.0-py3-none-any.whl", frozenset({B, C})
    )
    newer = model(f"en_core_web_sm @ {RELEASE}/en_core_web_sm-3.9.0-py3-none-any.whl")
    assert wanted_file(newer, {}, LOCK, upgrade=False) == Wanted(
        "en-core-web-sm", None, "en_core_web_sm-3.9.0-py3-none-any.whl"
    ), "a lock of another version records nothing for this file"


def test_wanted_for_a_versionless_hugging_face_wheel_is_the_locked_digest() -> None:
    hf = "https://huggingface.co/spacy/en_core_web_sm/resolve/main/"
    m = model(f"en_core_web_sm @ {hf}en_core_web_sm-any-py3-none-any.whl")
    wanted = wanted_file(m, {}, LOCK, upgrade=False)
    assert wanted == Wanted(
        "en-core-web-sm", None, "en_core_web_sm-any-py3-none-any.whl", frozenset({B})
    )
    renamed = IndexFile("en_core_web_sm-3.8.0-py3-none-any.whl", "http://m/f.whl", B)
    assert pick([renamed], wanted, TAGS).file == renamed


def test_wanted_for_requirements() -> None:
    key = "-f https://${PRODIGY_KEY}@download.prodi.gy"
    exact = model("prodigy==1.15.3 --hash=sha256:" + C.upper(), key)
    assert wanted_file(exact, {}, LOCK, upgrade=False) == Wanted(
        "prodigy", Version("1.15.3"), None, frozenset({A, C})
    )
    other = model("prodigy==1.16.0", key)
    assert wanted_file(other, {}, LOCK, upgrade=False) == Wanted("prodigy", Version("1.16.0"))
    ranged = model("prodigy>=1.15,<2", key)
    assert wanted_file(ranged, {}, LOCK, upgrade=False) == Wanted(
        "prodigy", Version("1.15.3"), None, frozenset({A})
    ), "a range takes the locked pin"
    assert wanted_file(ranged, {}, LOCK, upgrade=True) is None, "--upgrade asks the origin"
    assert wanted_file(model("prodigy>=2"), {}, LOCK, upgrade=False) is None
    assert wanted_file(model("prodigy>=1.15"), {}, {}, upgrade=False) is None
    assert wanted_file(model("prodigy==1.*"), {}, {}, upgrade=False) is None


def test_local_archives_are_not_asked_for(tmp_path: Path) -> None:
    m = model(f"demo @ {(tmp_path / 'demo-1.0-py3-none-any.whl').as_uri()}")
    assert wanted_file(m, {}, {}, upgrade=False) is None


# -- which mirror file ----------------------------------------------------------------------------


def files(*specs: tuple[str, str | None]) -> list[IndexFile]:
    return [IndexFile(name, f"http://m/{name}", sha) for name, sha in specs]


def test_pick_takes_the_exact_version_and_best_tag_and_never_an_sdist() -> None:
    page = files(
        ("prodigy-1.15.2-py3-none-any.whl", None),
        ("prodigy-1.15.3.tar.gz", None),
        ("prodigy-1.15.3-py3-none-any.whl", None),
        ("prodigy-1.15.3-cp311-cp311-manylinux_2_17_x86_64.whl", None),
        ("prodigy-1.15.3-cp39-cp39-win_amd64.whl", None),
        ("other-1.15.3-py3-none-any.whl", None),
    )
    wanted = Wanted("prodigy", Version("1.15.3"))
    chosen = pick(page, wanted, TAGS).file
    assert chosen is not None
    assert chosen.filename == "prodigy-1.15.3-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert pick(page[:3], wanted, TAGS).file == page[2]
    assert pick(page[:2], wanted, TAGS).file is None, "pip download --only-binary takes none"
    assert pick(page[4:], wanted, TAGS).file is None, "no wheel for this interpreter"


def test_pick_refuses_a_file_whose_sha256_differs_from_the_record() -> None:
    wanted = Wanted("prodigy", Version("1.15.3"), None, frozenset({A}))
    wrong = files(("prodigy-1.15.3-py3-none-any.whl", B))
    assert pick(wrong, wanted, TAGS).file is None
    assert pick(wrong, wanted, TAGS).refused == tuple(wrong)
    unknown = files(("prodigy-1.15.3-py3-none-any.whl", None))
    assert pick(unknown, wanted, TAGS).file == unknown[0], "checked once downloaded"
    both = files(
        ("prodigy-1.15.3-cp311-cp311-manylinux_2_17_x86_64.whl", None),
        ("prodigy-1.15.3-py3-none-any.whl", A),
    )
    assert pick(both, wanted, TAGS).file == both[1], "the recorded file first"


def test_pick_of_a_direct_reference_is_that_file_only() -> None:
    wanted = Wanted("en-core-web-sm", None, "en_core_web_sm-3.8.0-py3-none-any.whl")
    page = files(
        ("en_core_web_sm-3.8.0-py2.py3-none-any.whl", None),
        ("en_core_web_sm-3.8.0-py3-none-any.whl", None),
    )
    assert pick(page, wanted, TAGS).file == page[1]
    assert pick(page[:1], wanted, TAGS).file is None


# -- when the origin cannot be asked either -------------------------------------------------------

KEYED = "-f https://${PRODIGY_KEY}@download.prodi.gy"


def test_a_mirror_miss_and_no_key_says_both() -> None:
    outcome = Outcome(None, "it is not on the mirror http://m/simple/")
    with pytest.raises(PipmodelsError) as raised:
        require_origin(model("prodigy==1.15.3", KEYED), {}, outcome)
    assert raised.value.message == (
        "requirements-models.txt, line 2: prodigy==1.15.3 cannot be fetched: it is not on the "
        "mirror http://m/simple/, and PRODIGY_KEY is not set to fetch it from its source."
    )
    assert "pipmodels publish" in raised.value.hint


def test_the_origin_is_asked_when_its_variables_are_set() -> None:
    missed = Outcome(None, "it is not on the mirror http://m/simple/")
    require_origin(model("prodigy==1.15.3", KEYED), {"PRODIGY_KEY": "k"}, missed)
    require_origin(model(f"en_core_web_sm @ {RELEASE}/x-1.0-py3-none-any.whl", KEYED), {}, missed)


# -- publish --------------------------------------------------------------------------------------


def test_upload_command_carries_no_credential() -> None:
    target = target_from_url("https://__token__:t0ken@gitlab.example.com/api/pypi", {}, None)
    files = [Path("/c/prodigy-1.15.3-py3-none-any.whl")]
    cmd = upload_command(files, target, verbose=False)
    assert cmd[1:] == [
        "-m",
        "twine",
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--repository-url",
        "https://gitlab.example.com/api/pypi",
        "/c/prodigy-1.15.3-py3-none-any.whl",
    ]
    assert dict(target.env) == {"TWINE_USERNAME": "__token__", "TWINE_PASSWORD": "t0ken"}
    assert target.auth == ("__token__", "t0ken")
    named = UploadTarget("https://h/", "team", Path("/home/u/.pypirc"))
    assert upload_command(files, named, verbose=True)[6:] == [
        "--repository",
        "team",
        "--config-file",
        "/home/u/.pypirc",
        "--verbose",
        "/c/prodigy-1.15.3-py3-none-any.whl",
    ]


def test_targets_from_pypirc_and_the_environment(tmp_path: Path) -> None:
    pypirc = tmp_path / ".pypirc"
    pypirc.write_text(
        "[distutils]\nindex-servers = team\n\n[team]\nrepository = http://h/t/i/\n"
        "[unlisted]\nrepository = http://h/u/\n"
    )
    env = {"HOME": str(tmp_path), "TWINE_USERNAME": "u", "TWINE_PASSWORD": "p"}
    target = target_from_pypirc("team", None, env, None)
    assert (target.url, target.repository, target.auth, dict(target.env)) == (
        "http://h/t/i/",
        "team",
        ("u", "p"),
        {},
    )
    assert target_from_pypirc("pypi", pypirc, {}, None).url == "https://upload.pypi.org/legacy/"
    for missing in ("other", "unlisted"):
        with pytest.raises(PipmodelsError, match=rf"has no \[{missing}\] section"):
            target_from_pypirc(missing, pypirc, {}, None)
    with pytest.raises(PipmodelsError, match="needs a package index"):
        resolve_target(
            repository_url=None,
            repository=None,
            config_file=None,
            simple_url=None,
            mirror=None,
            environ={},
        )
    mirrored = resolve_target(
        repository_url="http://h/",
        repository=None,
        config_file=None,
        simple_url=None,
        mirror="http://h/simple/",
        environ={},
    )
    assert mirrored.simple_url == "http://h/simple/"


def entry(filename: str, sha256: str) -> Entry:
    name, version = filename.split("-")[:2]
    return Entry(filename, name.replace("_", "-"), Version(version), sha256, 1)


def test_plan_skips_same_sha256_and_stops_on_another() -> None:
    prodigy = entry("prodigy-1.15.3-py3-none-any.whl", A)
    sm = entry("en_core_web_sm-3.8.0-py3-none-any.whl", B)
    on_index = {"prodigy": [IndexFile(prodigy.filename, "http://h/p.whl", A)]}
    result = plan([prodigy, sm], on_index)
    assert (result.upload, result.present) == ((sm,), (prodigy,))
    clash = {"prodigy": [IndexFile(prodigy.filename, "http://h/p.whl", C)]}
    with pytest.raises(PipmodelsError, match=r"already has prodigy-1\.15\.3-py3-none-any\.whl"):
        plan([prodigy, sm], clash)


# -- against a local HTTP server (no pip) ---------------------------------------------------------


@pytest.fixture
def web() -> Iterator[http.Client]:
    with http.client({}, Redactor(), []) as client:
        yield client


def test_pages_follow_redirects_on_their_host_only(server: Server, web: http.Client) -> None:
    server.routes["/simple/prodigy"] = lambda _r: Response(
        302, b"", {"Location": f"{server.url}/simple/prodigy/"}
    )
    server.add_file(
        "/simple/prodigy/", b'<a href="/f/prodigy-1.0.tar.gz#sha256=' + A.encode() + b'">'
    )
    server.routes["/simple/numpy/"] = lambda _r: Response(
        302, b"", {"Location": "https://pypi.org/simple/numpy/"}
    )
    assert get_page(web, f"{server.url}/simple/prodigy") == [
        IndexFile("prodigy-1.0.tar.gz", f"{server.url}/f/prodigy-1.0.tar.gz", A)
    ]
    assert get_page(web, f"{server.url}/simple/numpy/") is None, "another host is a miss"
    assert get_page(web, f"{server.url}/simple/absent/") is None
    server.routes["/simple/locked/"] = lambda _r: Response(401, b"")
    with pytest.raises(PipmodelsError, match="HTTP 401") as raised:
        get_page(web, f"{server.url}/simple/locked/")
    assert "netrc" in raised.value.hint


def test_a_download_whose_bytes_differ_from_the_record_is_refused(
    server: Server, web: http.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = build_wheel(tmp_path / "w", "prodigy", "1.15.3")
    server.add_file(f"/f/{wheel.name}", wheel.read_bytes())
    server.add_file("/simple/prodigy/", f'<a href="/f/{wheel.name}">{wheel.name}</a>'.encode())
    dest = tmp_path / "dest"
    dest.mkdir()
    lock = {"prodigy": Locked(Version("1.15.3"), frozenset({A}))}
    m = model("prodigy==1.15.3", KEYED)

    refused = from_mirror(Mirror(f"{server.url}/simple/", lock), web, m, dest, {})

    assert refused == Outcome(None, f"the mirror's copy was refused ({server.url}/simple/)")
    assert list(dest.iterdir()) == []
    assert f"refused {wheel.name} from the mirror" in capsys.readouterr().err
    recorded = {"prodigy": Locked(Version("1.15.3"), frozenset({sha256(wheel)}))}
    fetched = from_mirror(Mirror(f"{server.url}/simple/", recorded), web, m, dest, {})
    assert fetched.got is not None
    assert fetched.got.sha256 == sha256(wheel)
    assert [p.name for p in dest.iterdir()] == [wheel.name]
    assert server.requests["/simple/prodigy/"] == 2


def test_a_file_over_the_index_limit_is_named_with_its_size_and_the_limit() -> None:
    big = Entry("en_core_web_lg-3.8.0-py3-none-any.whl", "en-core-web-lg", Version("3.8.0"), A, 0)
    big = dataclasses.replace(big, size=436 * 1000**2)
    small = entry("prodigy-1.15.3-py3-none-any.whl", B)
    pypi = target_from_url("https://upload.pypi.org/legacy/", {}, None)
    assert file_limit(pypi) == (100 * 1024 * 1024, "upload.pypi.org's default per-file limit")
    with pytest.raises(PipmodelsError) as raised:
        check_sizes([small, big], pypi)
    assert raised.value.message == (
        "en_core_web_lg-3.8.0-py3-none-any.whl is 436.0 MB: over the limit of 100 MiB per file "
        "(upload.pypi.org's default per-file limit) of https://upload.pypi.org/legacy/. "
        "Nothing was uploaded."
    )
    assert "--max-file-size" in raised.value.hint
    check_sizes([small], pypi)
    granted = dataclasses.replace(pypi, max_file_size=parse_size("500MB"))
    check_sizes([big], granted)  # a project granted a larger limit says so
    team = target_from_url("http://models.example.com:8080/", {}, None)
    assert file_limit(team) is None
    check_sizes([big], team)  # no known limit: the index decides


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("104857600", 104857600),
        ("100MiB", 100 * 1024 * 1024),
        ("500 MB", 500_000_000),
        ("1.5GB", 1_500_000_000),
        ("2gib", 2 * 1024**3),
        ("10kB", 10_000),
    ],
)
def test_sizes_read_as_written(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1MB", "12 parsecs", "1e9", "MB"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(PipmodelsError, match="is not a size"):
        parse_size(text)
