"""``pipmodels links``: find-links pages of GitHub release assets and of the local cache.

The GitHub side runs against a local GitHub-like API (tests/github_api.py) that pages, caps the
release list as api.github.com does, counts a quota, answers ETags with 304 and can fail with a
5xx; pip reads the pages for real.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipmodels import github
from pipmodels.archives import inspect
from pipmodels.cache import Cache, Entry
from pipmodels.errors import PipmodelsError
from pipmodels.links import AssetFilter, Link, github_links, render_page
from tests.builders import build_wheel
from tests.conftest import Project, Venv
from tests.github_api import GitHubAPI

TOKEN = "ghp_t0kenThatMustNeverBeSeen1234567890"
REPO = "explosion/spacy-models"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No pip configuration, GitHub token or user cache of this machine reaches a test."""
    for name in list(os.environ):
        if name.startswith(("PIP_", "PIPMODELS_", "GITHUB_", "GH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def api() -> Iterator[GitHubAPI]:
    server = GitHubAPI(REPO)
    yield server
    server.close()


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((self._href, data))
            self._href = None


def anchors(page: str) -> list[tuple[str, str]]:
    parser = _Anchors()
    parser.feed(page)
    return parser.links


def linked(page: str) -> set[tuple[str, str | None]]:
    """(URL, sha256 or None) of every link on the page, as pip reads them."""
    result = set()
    for href, _ in anchors(page):
        url, _, fragment = href.partition("#")
        result.add((url, fragment.removeprefix("sha256=") or None))
    return result


def settings(api: GitHubAPI, tmp_path: Path, **changes: object) -> github.ApiSettings:
    values: dict[str, object] = {
        "api_url": api.url,
        "cache_dir": tmp_path / "github-cache",
    }
    policy = {"backoff": 0.0, **{k: changes.pop(k) for k in ("backoff", "retries") if k in changes}}
    values["policy"] = replace(github.ApiSettings().policy, **policy)  # type: ignore[arg-type]
    values.update(changes)
    return github.ApiSettings(**values)  # type: ignore[arg-type]


def page_of(releases: github.Releases, asset_filter: AssetFilter | None = None) -> str:
    return render_page(github_links(releases, asset_filter or AssetFilter()), "test")


def links_env(api: GitHubAPI, tmp_path: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {
        "GITHUB_API_URL": api.url,
        "PIPMODELS_GITHUB_CACHE_DIR": str(tmp_path / "github-cache"),
    }
    if token:
        env["GITHUB_TOKEN"] = token
    return env


# -- the GitHub client ----------------------------------------------------------------------


def test_every_asset_of_every_release_past_the_list_cap(
    api: GitHubAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.list_cap = 50
    api.add_many(120, bare_tags=3)
    api.add_release("draft-1", files={"draft_model-1.0-py3-none-any.whl": b"d"}, draft=True)
    api.releases.insert(0, api.releases.pop())  # the newest, and seen by a token with push access
    api.token = TOKEN

    releases = github.fetch_releases(REPO, settings(api, tmp_path, per_page=10, token=TOKEN))
    page = page_of(releases)

    assert linked(page) == api.expected_links()
    assert len(linked(page)) == 240
    assert sum(1 for _, sha in linked(page) if sha is None) == 80  # every third release
    assert (releases.listed, releases.through_tags, releases.tags_without_release) == (50, 71, 3)
    assert releases.drafts == 1
    err = capsys.readouterr().err
    assert "listed 50 releases; the list endpoint stops at 50, fetched 71 more through tags" in err
    assert "(3 tags have no release)" in err
    assert "left out the assets of 1 draft release(s)" in err
    requests = api.api_requests()
    statuses = [s.status for s in requests]
    # 5 list pages, the 6th answers 422; 13 pages of 123 tags; 71 + 3 tags one by one.
    assert statuses.count(422) == 1
    assert len(requests) == 5 + 1 + 13 + 74
    assert requests[0].query["per_page"] == ["10"]


def test_the_default_page_size_is_100(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_many(3)
    github.fetch_releases(REPO, settings(api, tmp_path))
    assert [s.query.get("per_page") for s in api.api_requests()] == [["100"]]


def test_a_repeat_run_asks_with_etags_and_uses_no_quota(api: GitHubAPI, tmp_path: Path) -> None:
    api.list_cap = 30
    api.add_many(45, bare_tags=2)
    first = page_of(github.fetch_releases(REPO, settings(api, tmp_path, per_page=10)))
    sent = len(api.api_requests())
    remaining = api.remaining

    second = page_of(github.fetch_releases(REPO, settings(api, tmp_path, per_page=10)))

    repeat = api.api_requests()[sent:]
    assert second == first
    assert api.remaining == remaining  # 304s are free; the 422 and the 404s were not sent again
    assert {s.status for s in repeat} == {304}
    assert all("if-none-match" in s.headers for s in repeat)
    assert not any("/releases/tags/v0." in s.path for s in repeat)  # known tags without release
    assert len(repeat) == 3 + 5 + 15  # list pages, tag pages, releases through tags


def test_a_new_release_shows_up_on_a_repeat_run(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_many(5)
    github.fetch_releases(REPO, settings(api, tmp_path))
    api.add_release("new-1.0", files={"new-1.0-py3-none-any.whl": b"n"})
    api.releases.insert(0, api.releases.pop())  # the newest comes first

    page = page_of(github.fetch_releases(REPO, settings(api, tmp_path)))

    assert linked(page) == api.expected_links()
    assert api.api_requests()[-1].status == 200


def test_a_server_error_is_retried_with_backoff(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_many(25)
    api.fail(f"/repositories/{84940268}/releases", times=2)  # the second page, twice
    waits: list[float] = []

    releases = github.fetch_releases(
        REPO, settings(api, tmp_path, per_page=10, backoff=0.5), sleep=waits.append
    )

    assert len(releases.assets) == 50
    assert waits == [0.5, 1.0]
    assert [s.status for s in api.api_requests()] == [200, 502, 502, 200, 200]


def test_a_server_error_that_stays_is_reported(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_many(1)
    api.fail(f"/repos/{REPO}/releases", times=10)
    with pytest.raises(PipmodelsError) as caught:
        github.fetch_releases(REPO, settings(api, tmp_path, retries=2), sleep=lambda _: None)
    assert caught.value.message.startswith(f"GitHub answered 502 to {api.url}/repos/{REPO}/")
    assert len(api.api_requests()) == 3


def test_the_rate_limit_names_its_reset_time(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_many(30)
    api.remaining = 2
    with pytest.raises(PipmodelsError) as caught:
        github.fetch_releases(REPO, settings(api, tmp_path, per_page=10))
    reset = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(api.reset_at))
    assert f"it resets at {reset} (in 60 min)" in caught.value.message
    assert "unauthenticated" in caught.value.message
    assert "Set GITHUB_TOKEN (or GH_TOKEN)" in caught.value.hint

    api.remaining = 100  # after the reset: the pages fetched before are free
    github.fetch_releases(REPO, settings(api, tmp_path, per_page=10))
    assert [s.status for s in api.api_requests()][-3:] == [304, 304, 200]


def test_a_run_cut_short_keeps_the_answers_it_did_not_reach(api: GitHubAPI, tmp_path: Path) -> None:
    api.list_cap = 10
    api.add_many(25)
    github.fetch_releases(REPO, settings(api, tmp_path, per_page=10))
    api.bare_tags.append("v9")  # the last page of tags changes...
    api.remaining = 0  # ...and the quota is gone
    with pytest.raises(PipmodelsError):
        github.fetch_releases(REPO, settings(api, tmp_path, per_page=10))
    sent = len(api.api_requests())

    api.remaining = 100
    github.fetch_releases(REPO, settings(api, tmp_path, per_page=10))

    one_by_one = [s for s in api.api_requests()[sent:] if "/releases/tags/" in s.path]
    assert len(one_by_one) == 16
    assert sorted(s.status for s in one_by_one) == [304] * 15 + [404]


def test_the_token_goes_in_the_authorization_header_only(api: GitHubAPI, tmp_path: Path) -> None:
    api.token = TOKEN
    api.list_cap = 10
    api.add_many(15, bare_tags=1)
    github.fetch_releases(REPO, settings(api, tmp_path, per_page=10, token=TOKEN))

    for seen in api.api_requests():
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        others = {k: v for k, v in seen.headers.items() if k != "authorization"}
        assert TOKEN not in repr((seen.path, seen.query, others))
    stored = list((tmp_path / "github-cache").iterdir())
    assert stored
    assert all(TOKEN not in p.read_text() for p in stored)


def test_a_bad_token_and_a_missing_repository_are_explained(api: GitHubAPI, tmp_path: Path) -> None:
    api.token = "the-right-one"
    with pytest.raises(PipmodelsError) as caught:
        github.fetch_releases(REPO, settings(api, tmp_path, token=TOKEN))
    assert "rejected the token" in caught.value.message
    assert TOKEN not in str(caught.value)

    with pytest.raises(PipmodelsError) as caught:
        github.fetch_releases("explosion/nothing-here", settings(api, tmp_path))
    assert caught.value.message.startswith(
        f"GitHub answered 404 Not Found to {api.url}/repos/explosion/nothing-here/releases"
    )
    assert "private repository" in caught.value.hint


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    plain = github.settings_from_environment({"HOME": str(tmp_path)})
    assert (plain.api_url, plain.token) == ("https://api.github.com", None)
    assert plain.cache_dir == tmp_path / ".cache" / "pipmodels" / "github"
    enterprise = github.settings_from_environment(
        {
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "GH_TOKEN": "b",
            "XDG_CACHE_HOME": "/c",
        }
    )
    assert (enterprise.api_url, enterprise.token) == ("https://ghe.example.com/api/v3", "b")
    assert enterprise.cache_dir == Path("/c/pipmodels/github")
    both = github.settings_from_environment({"GITHUB_TOKEN": "a", "GH_TOKEN": "b"})
    assert both.token == "a"


# -- the page ---------------------------------------------------------------------------------


def test_the_page_is_sorted_escaped_and_deterministic() -> None:
    links = [
        Link("b-1.0.tar.gz", "https://h/b-1.0.tar.gz", None),
        Link("a&<b>-1.0.zip", 'https://h/x?a=1&b="2"', "ab" * 32),
        Link("a-1.0.whl", "https://h/a-1.0.whl", "cd" * 32),
    ]
    page = render_page(links, "R&D <models>")
    assert render_page(list(reversed(links)), "R&D <models>") == page
    assert "<title>R&amp;D &lt;models&gt;</title>" in page
    assert '<a href="https://h/x?a=1&amp;b=&quot;2&quot;#sha256=' + "ab" * 32 + '">' in page
    assert [text for _, text in anchors(page)] == ["a&<b>-1.0.zip", "a-1.0.whl", "b-1.0.tar.gz"]


def test_filters_keep_archives_and_matching_names(api: GitHubAPI, tmp_path: Path) -> None:
    api.add_release(
        "en_core_web_sm-3.8.0",
        files={
            "en_core_web_sm-3.8.0-py3-none-any.whl": b"w",
            "en_core_web_sm-3.8.0.tar.gz": b"s",
            "meta.json": b"{}",
        },
    )
    api.add_release("de_core_news_sm-3.8.0", files={"de_core_news_sm-3.8.0.zip": b"z"})
    releases = github.fetch_releases(REPO, settings(api, tmp_path))

    def names(asset_filter: AssetFilter) -> list[str]:
        return [text for _, text in anchors(page_of(releases, asset_filter))]

    assert names(AssetFilter()) == [
        "de_core_news_sm-3.8.0.zip",
        "en_core_web_sm-3.8.0-py3-none-any.whl",
        "en_core_web_sm-3.8.0.tar.gz",
    ]
    assert names(AssetFilter(("en_*",))) == [
        "en_core_web_sm-3.8.0-py3-none-any.whl",
        "en_core_web_sm-3.8.0.tar.gz",
    ]
    assert names(AssetFilter(("*.whl", "de_*"))) == [
        "de_core_news_sm-3.8.0.zip",
        "en_core_web_sm-3.8.0-py3-none-any.whl",
    ]
    assert "meta.json" in names(AssetFilter(archives_only=False))


# -- as a user runs it ------------------------------------------------------------------------


@pytest.fixture
def models(api: GitHubAPI, tmp_path: Path) -> dict[str, Path]:
    """spaCy's shape: one release per model version, a wheel and an sdist-like asset each."""
    dist = tmp_path / "dist"
    wheels = {
        v: build_wheel(dist, "en_core_web_sm", v, payload=500)
        for v in ("3.9.0", "3.8.1", "3.8.0", "3.7.1")
    }
    for version, wheel in wheels.items():
        # 3.8.1 was uploaded before GitHub computed digests.
        api.add_release(f"en_core_web_sm-{version}", [wheel], digest=version != "3.8.1")
    return wheels


@pytest.mark.slow
def test_pip_installs_the_newest_match_from_the_page(
    api: GitHubAPI, models: dict[str, Path], project: Project, venv: Venv, tmp_path: Path
) -> None:
    api.token = TOKEN
    project.env.update(links_env(api, tmp_path))
    run = project.pipmodels("links", f"github:{REPO}", "-o", "spacy_model_links.html")
    page = (project.root / "spacy_model_links.html").read_text()

    assert run.stdout == ""
    assert "wrote 4 link(s) to spacy_model_links.html" in run.stderr
    assert linked(page) == api.expected_links()
    assert (
        api.url + "/explosion/spacy-models/releases/download/en_core_web_sm-3.8.1/"
        "en_core_web_sm-3.8.1-py3-none-any.whl",
        None,
    ) in linked(page)
    subprocess.run(
        [venv.python, "-m", "pip", "install", "--no-index", "--find-links",
         str(project.root / "spacy_model_links.html"), "en_core_web_sm>=3.8,<3.9"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert venv.freeze()["en-core-web-sm"] == "3.8.1"
    assert project.files_containing(TOKEN) == []
    assert TOKEN not in run.output


@pytest.mark.slow
def test_pip_checks_the_sha256_on_the_page(
    api: GitHubAPI, models: dict[str, Path], project: Project, tmp_path: Path
) -> None:
    release = next(r for r in api.releases if r.tag == "en_core_web_sm-3.8.0")
    release.assets[0].digest = "sha256:" + "0" * 64  # GitHub's digest no longer matches the file
    project.env.update(links_env(api, tmp_path))
    project.pipmodels("links", f"github:{REPO}", "-o", "links.html")

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-index", "-d",
         str(tmp_path / "got"), "-f", str(project.root / "links.html"), "en_core_web_sm==3.8.0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "0" * 64 in proc.stdout + proc.stderr
    assert not (tmp_path / "got").exists() or not list((tmp_path / "got").iterdir())


def test_hundreds_of_releases_as_a_new_user_sees_them(
    api: GitHubAPI, project: Project, tmp_path: Path
) -> None:
    """The real page size and a cap of 250 over 320 releases, one 5xx; then a repeat run."""
    api.token = TOKEN
    api.list_cap = 250
    api.add_many(320, bare_tags=4)
    api.fail(f"/repositories/{84940268}/releases", times=1)
    project.env.update(links_env(api, tmp_path))

    first = project.pipmodels("links", f"github:{REPO}", "-o", "spacy_model_links.html")
    page = (project.root / "spacy_model_links.html").read_text()

    assert linked(page) == api.expected_links()
    assert len(anchors(page)) == 640
    assert "listed 250 releases; the list endpoint stops at 250, fetched 70 more through tags" in (
        first.stderr
    )
    assert "502 from" in first.stderr and "retrying" in first.stderr
    lists = [s for s in api.api_requests() if s.path.endswith(("/releases", "/tags"))]
    assert all(s.query["per_page"] == ["100"] for s in lists)

    sent = len(api.api_requests())
    second = project.pipmodels("links", f"github:{REPO}", "-o", "spacy_model_links.html")
    repeat = api.api_requests()[sent:]
    assert (project.root / "spacy_model_links.html").read_text() == page
    assert {s.status for s in repeat} == {304}
    # A GitHub-compatible host is named as itself, not as GitHub.
    host = api.url.split("://", 1)[1].split("/", 1)[0]
    assert f"{len(repeat)} requests to {host}, {len(repeat)} answered 304" in second.stderr

    leaks = [p for p in (tmp_path / "github-cache").rglob("*") if p.is_file()]
    assert leaks and all(TOKEN not in p.read_text() for p in leaks)
    assert project.files_containing(TOKEN) == []
    assert all(TOKEN not in run.output for run in project.runs)


def test_the_page_goes_to_stdout_without_o(
    api: GitHubAPI, project: Project, tmp_path: Path
) -> None:
    api.add_release("m-1.0", files={"m-1.0-py3-none-any.whl": b"m"})
    project.env.update(links_env(api, tmp_path, token=None))
    run = project.pipmodels("links", f"github:{REPO}", "-q")
    assert linked(run.stdout) == api.expected_links()
    assert run.stderr == ""


def test_the_rate_limit_from_the_command_line(
    api: GitHubAPI, project: Project, tmp_path: Path
) -> None:
    api.add_many(5)
    api.remaining = 0
    project.env.update(links_env(api, tmp_path, token=None))
    run = project.pipmodels("links", f"github:{REPO}", "-o", "out.html", check=False)
    reset = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(api.reset_at))
    assert run.returncode == 1
    assert "error: GitHub's rate limit is used up: 5000 requests an hour" in run.stderr
    assert f"it resets at {reset}" in run.stderr
    assert "Set GITHUB_TOKEN (or GH_TOKEN)" in run.stderr
    assert not (project.root / "out.html").exists()


def test_a_bad_source_is_explained(project: Project) -> None:
    run = project.pipmodels("links", "github:explosion", check=False)
    assert run.returncode == 1
    assert "'explosion' is not OWNER/REPO" in run.stderr
    run = project.pipmodels("links", "no-such-folder", check=False)
    assert run.returncode == 1
    assert "no-such-folder is neither a folder nor github:OWNER/REPO" in run.stderr
    (project.root / "plain").mkdir()
    run = project.pipmodels("links", "plain", check=False)
    assert "plain is not a pipmodels cache" in run.stderr


# -- the cache's page -------------------------------------------------------------------------


def fill_cache(root: Path, wheels: list[Path]) -> Cache:
    cache = Cache(root)
    cache.ensure()
    for wheel in wheels:
        copy = cache.state / wheel.name
        shutil.copy(wheel, copy)
        archive = inspect(copy)
        entry = Entry(
            wheel.name, archive.name, archive.version, archive.sha256, copy.stat().st_size
        )
        cache.add(copy, entry, None)
    return cache


@pytest.mark.slow
def test_the_cache_page_links_relatively_and_pip_reads_it(project: Project, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    wheels = [build_wheel(dist, "en_core_web_sm", v) for v in ("3.8.0", "3.8.1")]
    cache = fill_cache(project.root / "cache", [build_wheel(dist, "zz-top", "1.0"), *wheels])
    (cache.root / "index.html").unlink()
    (cache.root / "stray-9.9-py3-none-any.whl").write_bytes(b"not verified")

    project.pipmodels("links", "cache", "-o", "cache/index.html")
    page = (cache.root / "index.html").read_text()
    no_folder = project.pipmodels("links", "cache", "-o", "public/index.html", check=False)
    assert no_folder.returncode == 1
    assert "Cannot write public/index.html: No such file or directory." in no_folder.stderr
    (project.root / "public").mkdir()
    project.pipmodels("links", "cache", "-o", "public/index.html")
    elsewhere = (project.root / "public" / "index.html").read_text()

    sha = {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels}
    assert page == cache.page.read_text()  # the page the cache keeps itself
    assert linked(page) == {
        ("en_core_web_sm-3.8.0-py3-none-any.whl", sha["en_core_web_sm-3.8.0-py3-none-any.whl"]),
        ("en_core_web_sm-3.8.1-py3-none-any.whl", sha["en_core_web_sm-3.8.1-py3-none-any.whl"]),
        ("zz_top-1.0-py3-none-any.whl", hashlib.sha256(
            (dist / "zz_top-1.0-py3-none-any.whl").read_bytes()).hexdigest()),
    }  # fmt: skip
    assert {href for href, _ in anchors(elsewhere)} == {
        f"../cache/{href}" for href, _ in anchors(page)
    }
    for where in ("cache/index.html", "public/index.html"):
        dest = tmp_path / where.replace("/", "-")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-index", "-d", str(dest),
             "-f", str(project.root / where), "en_core_web_sm>=3.8,<3.9"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert [p.name for p in dest.iterdir()] == ["en_core_web_sm-3.8.1-py3-none-any.whl"]


# -- used together ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_models_file_fills_the_cache_from_the_page_once(
    api: GitHubAPI, models: dict[str, Path], project: Project, tmp_path: Path
) -> None:
    project.env.update(links_env(api, tmp_path))
    project.pipmodels("links", f"github:{REPO}", "-o", "spacy_model_links.html")
    project.write("requirements.in", "")
    project.write(
        "requirements-models.txt",
        "--no-index\n-f spacy_model_links.html\nen_core_web_sm>=3.8,<3.9\n",
    )

    first = project.pipmodels("download", "-m", "requirements-models.txt")
    downloads = len(api.downloads())
    second = project.pipmodels("download", "-m", "requirements-models.txt")

    assert first.stdout.split() == ["en-core-web-sm==3.8.1"]
    assert second.stdout.split() == ["en-core-web-sm==3.8.1"]
    assert downloads == 1
    assert len(api.downloads()) == 1
    assert "downloading" not in second.stderr
    cache = Cache(project.root / ".pipmodels-cache")
    assert [e.filename for e in cache.entries()] == ["en_core_web_sm-3.8.1-py3-none-any.whl"]
