"""A key belongs to one origin and stays a key: issue 17's first mechanism, class by class.

- A ``${VAR}`` value holding ``/``, ``#``, ``?``, ``@``, ``:``, ``+``, ``=`` or a space cannot
  change the URL it sits in (the URL is split before the value goes in).
- A key written for one scheme, host and port reaches that origin only: never another port or
  scheme of the same host, never a redirect's other origin.
- No key is at rest: there is no netrc to merge into the user's or to leave behind after a
  SIGKILL, and a killed run's children do not outlive it.
"""

from __future__ import annotations

import base64
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from pipmodels.credentials import Credential, Origin
from pipmodels.errors import PipmodelsError
from pipmodels.gateway import Gateway
from pipmodels.locations import FIND_LINKS, resolve
from tests.builders import build_wheel
from tests.conftest import CommandLineSpy, Project, Venv, files_containing, secret_forms
from tests.gateways import fetch, gateway_for
from tests.servers import Response, Server, basic_auth

# Each character that base64, JWT-like and registry tokens hold and that means something in a URL.
STRUCTURAL = ["/", "#", "?", "@", ":", "+", "=", " ", "%2F", "&", ";", "[", "]"]
AWKWARD = "k3y/with#every?odd@char:+=&;-9f2c"


# -- the class of values, resolved (pure) ----------------------------------------------------------


@pytest.mark.parametrize("char", STRUCTURAL)
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("https://${KEY}@download.prodi.gy:8443/path/", "login"),  # Prodigy, Gemfury
        ("https://__token__:${KEY}@gitlab.example.com/api/v4/simple/", "password"),  # GitLab
        ("https://aws:${KEY}@d-1.d.codeartifact.eu.amazonaws.com/pypi/r/simple/", "password"),
    ],
)
def test_a_value_with_any_url_character_stays_in_the_userinfo(
    raw: str, field: str, char: str
) -> None:
    value = f"ab{char}cd"
    location = resolve(FIND_LINKS, raw, {"KEY": value}, "models.txt, line 1")
    expected_public = raw.replace(raw[raw.index("//") + 2 : raw.index("@") + 1], "")
    assert location.public == expected_public
    assert location.credential is not None
    # pip decodes user-info: a value written encoded (%2F) means what it meant to pip.
    key = value.replace("%2F", "/")
    assert getattr(location.credential, field) == key
    assert location.credential.origin == Origin.of(expected_public)
    assert value not in location.public and key not in location.public


@pytest.mark.parametrize(
    "raw",
    [
        "https://host/tok/${KEY}/simple/",
        "https://host/simple/?token=${KEY}",
        "https://host/simple/#${KEY}",
        "https://${HOST}/simple/",
        "https://user@${HOST}:8443/",
    ],
)
def test_a_variable_outside_the_userinfo_is_refused(raw: str) -> None:
    with pytest.raises(PipmodelsError) as caught:
        resolve(FIND_LINKS, raw, {"KEY": "k", "HOST": "h"}, "models.txt, line 1")
    assert "cannot keep it off pip's command line" in caught.value.message
    assert "https://${KEY}@host/path" in caught.value.hint


def test_a_local_path_and_a_whole_url_in_one_variable_are_read_as_pip_reads_them() -> None:
    env = {"DIR": "/opt/w", "URL": "https://KEY1@h:8443/p/"}
    assert resolve(FIND_LINKS, "${DIR}/wheels", env, "x").public == "/opt/w/wheels"
    whole = resolve(FIND_LINKS, "${URL}", env, "x")
    assert whole.public == "https://h:8443/p/"
    assert whole.credential == Credential(Origin("https", "h", 8443), "KEY1", "")


def test_an_unset_variable_names_itself_and_where_pipmodels_looked() -> None:
    with pytest.raises(PipmodelsError) as caught:
        resolve(FIND_LINKS, "https://${NOPE}@h/", {}, "models.txt, line 2", env_file=Path(".env"))
    assert caught.value.message == (
        "models.txt, line 2: NOPE is not set (pipmodels looked in the environment and .env)."
    )


# -- the gateway, against a real origin ---------------------------------------------------------


@pytest.fixture
def gateway(server: Server) -> Iterator[Gateway]:
    with gateway_for(server, AWKWARD) as gw:
        yield gw


def test_the_gateway_adds_the_key_for_its_origin_only_and_rewrites_links_back(
    server: Server, gateway: Gateway
) -> None:
    other = Server()  # the same host, another port: another origin
    try:
        port = server.url.rsplit(":", 1)[1]
        page = (
            f'<a href="{server.url}/files/a.whl">a</a> <a href="/files/b.whl">b</a> '
            f'<a href="//127.0.0.1:{port}/files/c.whl">c</a> '
            f'<a href="{other.url}/files/d.whl">d</a> '
            f'<a href="https://127.0.0.1:{port}/files/e.whl">e</a>'
        ).encode()
        server.routes["/page/"] = basic_auth(f"{AWKWARD}:", page, "text/html")
        server.routes["/away"] = lambda _r: Response(302, b"", {"Location": other.url + "/x"})
        server.routes["/here"] = lambda _r: Response(302, b"", {"Location": "/page/"})
        route = gateway.route(Origin.of(server.url))
        assert route is not None

        status, body, _ = fetch(gateway.child_url(server.url + "/page/"))
        assert status == 200
        text = body.decode()
        assert text.count(f'href="{route}/files/') == 2  # absolute, //host
        assert f'href="{urlsplit(route).path}/files/b.whl"' in text  # root-relative
        assert f'href="{other.url}/files/d.whl"' in text  # another port: not through the key
        assert f"https://127.0.0.1:{port}/files/e.whl" in text  # another scheme: neither

        status, _, headers = fetch(route + "/away")
        assert (status, headers["Location"]) == (302, other.url + "/x")  # as sent: no key
        status, _, headers = fetch(route + "/here")
        assert (status, headers["Location"]) == (302, route + "/page/")
        assert other.log == []
        # Only the origin ever saw the key; a wrong path on the gateway is refused.
        assert fetch(gateway.host + "/9/page/")[0] == 404
        assert fetch(route + "0/page/")[0] == 404
    finally:
        other.close()


def test_a_refused_key_is_a_403_that_pip_does_not_answer_with_a_prompt(
    server: Server, gateway: Gateway
) -> None:
    server.routes["/page/"] = basic_auth("someone-else:", b"x", "text/html")
    status, _, _ = fetch(gateway.child_url(server.url + "/page/"))
    assert status == 403
    assert gateway.refused == {Origin.of(server.url): 401}


# -- the whole flow, with real pip, pip-tools and uv ---------------------------------------------


def private_page(server: Server, tmp_path: Path, key: str) -> str:
    prodigy = build_wheel(tmp_path / "priv", "prodigy", "1.15.3")
    return server.add_find_links_page("/prodigy", key, [prodigy])


def assert_no_key_anywhere(key: str, runs: list[str], tmp_path: Path) -> None:
    for output in runs:
        assert not any(form in output for form in secret_forms(key)), output
    assert files_containing(key, tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "form",
    [
        "-f http://${PRODIGY_KEY}@{host}/prodigy/\nprodigy==1.15.3\n",  # Prodigy's older docs
        "prodigy @ http://${PRODIGY_KEY}@{host}/prodigy/files/prodigy-1.15.3-py3-none-any.whl\n",
    ],
    ids=["find-links", "direct-reference"],
)
def test_a_token_with_url_characters_installs_and_reaches_only_its_origin(
    server: Server,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    index: str,
    engine: str,
    form: str,
) -> None:
    """The key holds / # ? @ : + = & ; ; a package index on another port of the same host (the
    public index's stand-in) must never see it, in any form, on any request."""
    private_page(server, tmp_path, AWKWARD)
    public = Server()  # the public index, on 127.0.0.1 too
    try:
        public.routes.update(server.routes)  # the same simple pages, on another port
        own_index = index.replace(server.url, public.url)
        project.env.update(PIP_INDEX_URL=own_index, PRODIGY_KEY=AWKWARD)
        project.write("requirements.in", "tinyspacy<3.9\n")
        project.write("models.txt", form.replace("{host}", server.url.split("//", 1)[1]))
        outputs = []
        for args in (["sync", "-m", "models.txt"], ["sync", "--check", "-m", "models.txt"]):
            with CommandLineSpy(AWKWARD) as spy:
                run = project.pipmodels(*args, "--python-executable", venv.python)
            assert spy.leaks == set()
            outputs.append(run.output)
        assert "prodigy" in venv.freeze()
        text = (project.root / "requirements.txt").read_text()
        assert "prodigy==1.15.3" in text
        assert "127.0.0.1" not in text  # neither the origin nor the gateway
        keyed = [r for r in public.log if "authorization" in r.headers]
        assert keyed == [], "a key reached another port of the same host"
        assert public.log, "the public index was not used at all"
        assert_no_key_anywhere(AWKWARD, outputs, tmp_path)
    finally:
        public.close()


@pytest.mark.slow
def test_a_key_for_one_port_is_not_sent_to_an_index_on_another_port_of_the_host(
    server: Server,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    index: str,
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pip.conf names the public index on port B; the inputs give a key for port A of the same
    host. With netrc (host-wide) pip sent the key to B; now B sees none."""
    key = "only-for-port-a-4d1e"
    private_page(server, tmp_path, key)
    spy_host = Server()
    try:
        spy_host.routes.update(server.routes)
        conf = project.write(
            "pip.conf", f"[global]\nindex-url = {index.replace(server.url, spy_host.url)}\n"
        )
        project.env.update(PIP_CONFIG_FILE=str(conf), PRODIGY_KEY=key)
        monkeypatch.delenv("PIP_INDEX_URL")  # pip.conf's index, as on a user's machine
        project.write(
            "requirements.in",
            f"-f http://${{PRODIGY_KEY}}@{server.url.split('//')[1]}/prodigy/\n"
            "prodigy==1.15.3\ntinyspacy<3.9\n",
        )
        with CommandLineSpy(key) as spy:
            run = project.pipmodels("sync", "--python-executable", venv.python)
        assert spy.leaks == set()
        assert {"prodigy", "tinyspacy"} <= set(venv.freeze())
        assert spy_host.log and all("authorization" not in r.headers for r in spy_host.log)
        assert_no_key_anywhere(key, [run.output], tmp_path)
    finally:
        spy_host.close()


@pytest.mark.slow
def test_the_users_netrc_with_a_macdef_is_left_as_it_means(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str
) -> None:
    """A valid macdef at the end of ~/.netrc swallowed the entries a merged netrc appended;
    now nothing is merged: the user's file is read by pip as it is, and never rewritten."""
    key = "macdef-case-key-77"
    private_page(server, tmp_path, key)
    netrc = project.write(
        "netrc", "machine example.org login alice password w\nmacdef init\nlcd /tmp\n"
    )
    before = netrc.read_bytes()
    project.env.update(NETRC=str(netrc), PIP_INDEX_URL=index, PRODIGY_KEY=key)
    project.write(
        "requirements.in",
        f"-f http://${{PRODIGY_KEY}}@{server.url.split('//')[1]}/prodigy/\nprodigy==1.15.3\n",
    )
    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert "prodigy" in venv.freeze()
    assert "Traceback" not in run.output and "Password" not in run.output
    assert netrc.read_bytes() == before


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_after_kill_9_no_key_is_at_rest_and_no_child_lives_on(
    server: Server, project: Project, tmp_path: Path, index: str
) -> None:
    key = "killed-run-key-5b7a"
    noise = {"prodigy/noise.bin": os.urandom(4 << 20)}  # does not compress: 4 MB on the wire
    big = build_wheel(tmp_path / "priv", "prodigy", "1.15.3", extra_files=noise)
    server.add_find_links_page("/prodigy", key, [big])
    server.throttle = 0.2  # 64 KB every 0.2 s: the download is under way for a while
    state = tmp_path / "pipmodels-state"
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=key)
    project.write(
        "models.txt",
        f"-f http://${{PRODIGY_KEY}}@{server.url.split('//')[1]}/prodigy/\nprodigy==1.15.3\n",
    )
    proc = project.start("download", "-m", "models.txt")
    deadline = time.monotonic() + 60
    while not server.bytes_of(big.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.bytes_of(big.name), "the download never started"
    children = _children(proc.pid)
    assert children, "pip download was not running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children if _alive(c)], "a child outlived the killed run"
    assert files_containing(key, tmp_path) == []
    # The next run, a cheap one, sweeps the killed run's folder.
    server.throttle = 0
    project.pipmodels("download", "-m", "models.txt")
    runs = state / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_basic_auth_header_forms_are_scanned() -> None:
    """The scan looks for the key as the user name of a basic-auth header too."""
    header = base64.b64encode(f"{AWKWARD}:".encode()).decode()
    assert header in secret_forms(AWKWARD)
    assert quote(AWKWARD, safe="") in secret_forms(AWKWARD)


def test_a_page_past_the_limit_reaches_the_child_broken_not_short(
    server: Server, gateway: Gateway
) -> None:
    """A page is read within a size limit; past it the child sees a broken answer (no last
    chunk), never a page that silently ends early and lists fewer files."""
    from pipmodels.gateway import PAGE_LIMIT

    line = b'<a href="/files/x.whl">x</a>\n'
    server.add_file("/huge/", line * (PAGE_LIMIT // len(line) + 2), **{"Content-Type": "text/html"})
    route = gateway.route(Origin.of(server.url))
    with pytest.raises((http.client.IncompleteRead, urllib.error.URLError, ConnectionError)):
        fetch(f"{route}/huge/")


def test_a_page_is_rewritten_whole_however_the_origin_cuts_it(
    server: Server, gateway: Gateway
) -> None:
    server.chunk = 3  # the origin sends three bytes at a time
    links = "".join(f'<a href="{server.url}/f/{n}.whl">{n}</a>' for n in range(50))
    server.add_file("/p/", links.encode(), **{"Content-Type": "text/html"})
    route = gateway.route(Origin.of(server.url))
    status, body, _ = fetch(f"{route}/p/")
    assert status == 200
    assert body.decode().count(f'href="{route}/f/') == 50
    assert server.url not in body.decode()


def test_a_file_url_and_a_path_expand_anywhere_since_they_hold_no_key() -> None:
    env = {"HOME": "/home/me"}
    assert resolve(FIND_LINKS, "file://${HOME}/w/", env, "x").public == "file:///home/me/w/"
    assert resolve(FIND_LINKS, "${HOME}/w", env, "x").credential is None
