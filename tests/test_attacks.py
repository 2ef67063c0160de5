"""An attacker's pass: hostile servers, hostile archives, hostile state files, and the option
forms pip accepts that a simpler reader would miss. Each test is a hole that was found and fixed.

Tests that run pip are marked slow; the rest run pipmodels against local servers only.
"""

from __future__ import annotations

import functools
import gzip
import json
import secrets
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import build_sdist, build_wheel, sha256
from tests.conftest import SECRET, CommandLineSpy, Project, Venv, files_containing, secret_forms
from tests.servers import Response, Server


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside every test folder whose path survives name normalisation (lowercase
    letters and digits only), where a hostile name could try to write."""
    folder = Path("/tmp") / f"pmattack{secrets.token_hex(6)}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_metadata_name_with_a_path_never_writes_outside_the_cache(
    server: Server, project: Project, tmp_path: Path, outside: Path
) -> None:
    # Hugging Face's unversioned form makes pipmodels name the cached file from the metadata.
    wheel = build_wheel(
        tmp_path / "w",
        "evil",
        "1.0",
        metadata_name=f"{outside}/pwned",
        filename="evil-any-py3-none-any.whl",
    )
    server.add_file("/evil-any-py3-none-any.whl", wheel.read_bytes())
    project.write("requirements.in", f"{server.url}/evil-any-py3-none-any.whl\n")
    run = project.pipmodels("download", check=False)
    assert list(outside.iterdir()) == []
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert "not a valid project name" in run.stderr


def zip_bomb_wheel(dest: Path, size: int) -> Path:
    """A small wheel whose METADATA inflates to ``size`` bytes."""
    path = dest / "bomb-1.0-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    header = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb-1.0.dist-info/METADATA", "w", force_zip64=True) as member:
            member.write(header)
            block = b" " * (1 << 20)
            for _ in range(size >> 20):
                member.write(block)
        archive.writestr("bomb-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n")
    return path


def test_a_metadata_zip_bomb_is_refused_without_reading_it_into_memory(
    server: Server, project: Project, tmp_path: Path
) -> None:
    bomb = zip_bomb_wheel(tmp_path / "b", 64 << 20)
    assert bomb.stat().st_size < 1 << 20
    server.add_file(f"/{bomb.name}", bomb.read_bytes())
    project.write("requirements.in", f"bomb @ {server.url}/{bomb.name}\n")
    run = project.pipmodels("download", check=False)
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert "metadata is larger than" in run.stderr
    assert list((project.root / ".pipmodels-cache").glob("bomb*")) == []


class RawServer:
    """One-shot HTTP answers written byte for byte: headers that lie, bodies cut short."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


def test_a_body_cut_short_is_a_message_and_caches_nothing(project: Project, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "en_cut", "1.0.0", payload=50_000)
    data = wheel.read_bytes()
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    raw = RawServer(head.encode() + data[: len(data) // 2])
    try:
        project.write("requirements.in", f"en_cut @ {raw.url}/{wheel.name}\n")
        run = project.pipmodels("download", check=False)
    finally:
        raw.close()
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert "error: " in run.stderr
    assert list((project.root / ".pipmodels-cache").glob("en_cut*")) == []


def test_a_gzip_content_encoding_is_kept_as_pip_keeps_it(
    server: Server, project: Project, tmp_path: Path
) -> None:
    """Static hosts often label a .tar.gz ``Content-Encoding: gzip``; pip stores the bytes as
    served, so the file keeps the sha256 its publisher gives."""
    sdist = build_sdist(tmp_path / "s", "en_gz", "1.0.0")
    server.add_file(f"/{sdist.name}", sdist.read_bytes(), **{"Content-Encoding": "gzip"})
    url = f"{server.url}/{sdist.name}#sha256={sha256(sdist)}"
    project.write("requirements.in", f"en_gz @ {url}\n")
    run = project.pipmodels("download", check=False)
    assert run.returncode == 0, run.output
    cached = project.root / ".pipmodels-cache" / sdist.name
    assert cached.read_bytes() == sdist.read_bytes()
    assert gzip.decompress(cached.read_bytes())  # still a gzip file


def test_a_hostile_manifest_cannot_point_the_cache_outside_itself(
    server: Server, project: Project, tmp_path: Path, outside: Path
) -> None:
    """A cache restored from a shared CI cache or a static host is not trusted with paths."""
    wheel = build_wheel(tmp_path / "w", "en_ok", "1.0.0")
    server.add_file(f"/{wheel.name}", wheel.read_bytes())
    project.write("requirements.in", f"en_ok @ {server.url}/{wheel.name}\n")
    project.pipmodels("download")
    victim = outside / "victim-1.0-py3-none-any.whl"
    victim.write_bytes(wheel.read_bytes())
    cache = project.root / ".pipmodels-cache"
    manifest = cache / ".pipmodels" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][str(victim)] = {**data["files"][wheel.name], "name": "victim"}
    data["files"]["../../escape.whl"] = data["files"][wheel.name]
    manifest.write_text(json.dumps(data))
    (cache / "index.html").unlink()

    project.pipmodels("download")

    page = (cache / "index.html").read_text()
    assert str(victim) not in page and "victim" not in page
    assert "escape" not in page


def test_nested_json_of_the_wrong_shape_in_state_files_is_survived(
    server: Server, project: Project, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path / "w", "en_ok", "1.0.0")
    server.add_file(f"/{wheel.name}", wheel.read_bytes())
    project.write("requirements.in", f"en_ok @ {server.url}/{wheel.name}\n")
    project.pipmodels("download")
    manifest = project.root / ".pipmodels-cache" / ".pipmodels" / "manifest.json"
    shapes = [
        {"files": {wheel.name: {"name": "en-ok", "version": "1.0.0", "sha256": 1, "size": 1}}},
        {"files": {wheel.name: {"name": "en-ok", "version": "1.0.0", "sha256": "x", "size": "2"}}},
        {"files": [], "sources": {"a": 1}},
        {"files": {wheel.name: {"name": "en-ok", "version": [], "sha256": "x", "size": 1}}},
    ]
    for shape in shapes:
        manifest.write_text(json.dumps(shape))
        run = project.pipmodels("download", check=False)
        assert run.returncode == 0, run.output
        assert run.stdout == "en-ok==1.0.0\n"


def test_every_option_form_pip_reads_is_read_the_same(tmp_path: Path) -> None:
    """pip reads option lines with optparse: ``-fURL``, ``--find-link=URL`` (a prefix of a long
    option) and several options on one line are all options for pip, and must be for us."""
    from pipmodels.reqfile import Line, option_values

    def values(text: str) -> list[tuple[str, str]]:
        return option_values(Line(tmp_path / "r.txt", 1, text))

    assert values("-fhttps://h/p/") == [("--find-links", "https://h/p/")]
    assert values("--find-link=https://h/p/") == [("--find-links", "https://h/p/")]
    assert values("--extra-index https://h/s/") == [("--extra-index-url", "https://h/s/")]
    assert values("-i https://a/s/ --extra-index-url https://b/s/") == [
        ("--index-url", "https://a/s/"),
        ("--extra-index-url", "https://b/s/"),
    ]
    assert values("--no-index") == [("--no-index", "")]
    assert values("--trusted-host h") == [("--trusted-host", "h")]


def test_a_key_never_lands_in_files_of_a_failed_fetch(
    server: Server, project: Project, tmp_path: Path
) -> None:
    """401, 403, 404, 500 and a redirect loop: each a message, the key nowhere."""
    project.env["PRODIGY_KEY"] = SECRET
    for status in (401, 403, 404, 500):
        server.routes[f"/s{status}/m-1.0-py3-none-any.whl"] = functools.partial(_answer, status)
    server.routes["/loop/m-1.0-py3-none-any.whl"] = lambda r: _answer(
        302, r, Location=f"{server.url}/loop/m-1.0-py3-none-any.whl"
    )
    keyed = server.url.replace("http://", "http://user:${PRODIGY_KEY}@")
    for path in ("s401", "s403", "s404", "s500", "loop"):
        project.write("requirements.in", f"m @ {keyed}/{path}/m-1.0-py3-none-any.whl\n")
        run = project.pipmodels("download", "-v", check=False)
        assert run.returncode == 1, run.output
        assert "Traceback" not in run.output
        assert not any(form in run.output for form in _forms(SECRET)), run.output
    assert files_containing(SECRET, tmp_path) == []


def _answer(status: int, _request: object = None, **headers: str) -> Response:
    return Response(status, b"no", dict(headers))


def _forms(secret: str) -> list[str]:
    return secret_forms(secret)


# -- with the real pip, pip-compile and pip-sync -------------------------------------------------


@pytest.fixture
def prodigy_hosts(server: Server, tmp_path: Path) -> tuple[str, str, Path]:
    """A keyed find-links page with the real prodigy 1.15.3, and a public index whose prodigy
    is an impostor: a higher version, and the same version under a more specific wheel tag."""
    import sys

    real = build_wheel(tmp_path / "real", "prodigy", "1.15.3", marker="real")
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}-none-any"
    impostors = [
        build_wheel(tmp_path / "fake", "prodigy", "1.16.0", marker="impostor"),
        build_wheel(
            tmp_path / "fake2",
            "prodigy",
            "1.15.3",
            marker="impostor",
            filename=f"prodigy-1.15.3-{tag}.whl",
        ),
        build_wheel(tmp_path / "fake", "tinyspacy", "3.8.2"),
    ]
    index = server.add_index(impostors)
    page = server.add_find_links_page("/prodigy", SECRET, [real])
    return index, page.replace("http://", "http://${PRODIGY_KEY}@"), real


@pytest.mark.slow
@pytest.mark.parametrize(
    "option",
    ["-f{page}", "--find-link={page}", "--find-links={page} --pre"],
    ids=["-fURL", "prefix-of-long-option", "two-options-one-line"],
)
def test_a_find_links_option_in_any_form_pip_reads_keeps_the_impostor_out(
    option: str, prodigy_hosts: tuple[str, str, Path], project: Project
) -> None:
    index, page, _real = prodigy_hosts
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    project.write("models.txt", option.format(page=page) + "\nprodigy>=1.15\n")
    project.spy_secret = SECRET
    run = project.pipmodels("download", "-m", "models.txt", check=False)
    assert run.stdout == "prodigy==1.15.3\n", run.output
    assert SECRET not in run.output


@pytest.mark.slow
def test_extras_without_hashes_still_install_the_cached_file(
    prodigy_hosts: tuple[str, str, Path], project: Project, venv: Venv
) -> None:
    index, page, _real = prodigy_hosts
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"-f {page}\nprodigy[extra]==1.15.3\n")
    project.spy_secret = SECRET
    args = ["sync", "-m", "models.txt", "--python-executable", venv.python]
    project.pipmodels(*args, "--no-generate-hashes")
    assert venv.run("import prodigy; print(prodigy.MARKER)") == "real"


@pytest.mark.slow
@pytest.mark.parametrize(
    "line",
    [
        "acme @ git+http://${PRODIGY_KEY}@127.0.0.1:9/acme.git",
        "-e git+http://user:${PRODIGY_KEY}@127.0.0.1:9/acme.git#egg=acme",
    ],
    ids=["vcs-direct-reference", "editable-vcs"],
)
def test_a_key_in_a_vcs_url_never_reaches_git_or_requirements_txt(
    line: str, project: Project, tmp_path: Path
) -> None:
    project.env["PRODIGY_KEY"] = SECRET
    project.write("requirements.in", line + "\n")
    with CommandLineSpy(SECRET) as spy:
        run = project.pipmodels("compile", check=False)
    assert spy.leaks == set()
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert SECRET not in run.output
    assert "git credential" in run.stderr
    assert files_containing(SECRET, tmp_path) == []


@pytest.mark.slow
def test_the_sampler_sees_no_key_in_any_command_gitlab_form_with_awkward_characters(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str
) -> None:
    """GitLab's ``__token__:TOKEN`` with a token holding ``@``, ``:`` and a space, percent-encoded
    in the variable as URLs need; every command users run, sampled and scanned."""
    from urllib.parse import quote

    token = "p@ss:w rd-9f3c1e77"
    prodigy = build_wheel(tmp_path / "p", "prodigy", "1.15.3", requires=["helperlib"])
    helper = build_wheel(tmp_path / "p", "helperlib", "1.0.0")
    private = server.add_index([prodigy, helper], prefix="/gl", auth=f"__token__:{token}")
    project.env.update(PIP_INDEX_URL=index, GITLAB_TOKEN=quote(token, safe=""))
    project.write("requirements.in", "tinyspacy<3.9\n")
    project.write(
        "models.txt",
        "--extra-index-url "
        + private.replace("http://", "http://__token__:${GITLAB_TOKEN}@")
        + "\nprodigy==1.15.3\n",
    )
    m = ["-m", "models.txt"]
    py = ["--python-executable", venv.python]
    runs = []
    for args in (
        ["download", "-v", *m],
        ["compile", "-v", *m],
        ["compile", "--check", "-v", *m],
        ["sync", "--dry-run", "-v", *m, *py],
        ["sync", "-v", *m, *py],
        ["sync", "--check", "-v", *m, *py],
    ):
        with CommandLineSpy(token) as spy:
            runs.append(project.pipmodels(*args, check=False))
        assert spy.leaks == set(), args
        assert runs[-1].returncode == 0, runs[-1].output
    for run in runs:
        assert not any(form in run.output for form in secret_forms(token)), run.output
    assert files_containing(token, tmp_path) == []
    assert venv.run("import prodigy; print(prodigy.__version__)") == "1.15.3"


def test_a_redirect_to_another_host_gets_no_key(project: Project, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "en_moved", "1.0.0")
    keyed, other = Server(), Server()
    try:
        other.add_file(f"/{wheel.name}", wheel.read_bytes())
        # 127.0.0.1 and localhost: the same machine, but another host name to the client.
        elsewhere = other.url.replace("127.0.0.1", "localhost")
        keyed.routes[f"/{wheel.name}"] = functools.partial(
            _answer, 302, Location=f"{elsewhere}/{wheel.name}"
        )
        project.env["PRODIGY_KEY"] = SECRET
        url = keyed.url.replace("http://", "http://${PRODIGY_KEY}@")
        project.write("requirements.in", f"en_moved @ {url}/{wheel.name}\n")
        project.pipmodels("download")
        assert other.log and all("authorization" not in r.headers for r in other.log)
    finally:
        keyed.close()
        other.close()
