"""An attacker's pass on the loopback gateway (issue 17, mechanism 1), with classes the issue
does not list: hostile origins (compressed, escaped or endless pages, relative escapes into the
gateway's other routes), other users on the machine, proxies, children outliving a killed run,
and what -v prints.

Each test asserts the secure (or correct) behaviour. Each hole these tests found was closed in
the gateway; the one left (uv's cache, keyed on the gateway's per-run address: a cost, not a
leak) is marked ``xfail(strict=True, reason="HOLE ...")``, so that it turns red the day it is
closed.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from pipmodels.credentials import Credential, Origin
from pipmodels.gateway import Gateway, Upstream
from tests.builders import build_wheel
from tests.conftest import CommandLineSpy, Project, Venv, files_containing, secret_forms
from tests.gateways import fetch, gateway_for
from tests.servers import Response, Server, basic_auth

KEY = "gw-attack/key+with:odd@chars#9c1e"
OTHER_KEY = "gw-attack-other-key-41d7"
# A gateway address as children see it: http://127.0.0.1:PORT/TOKEN/N
GATEWAY_URL = re.compile(r"http://127\.0\.0\.1:\d+/[0-9a-f]{32}")


@pytest.fixture
def gateway(server: Server) -> Iterator[Gateway]:
    with gateway_for(server, KEY) as gw:
        yield gw


def route_of(gateway: Gateway, server: Server) -> str:
    route = gateway.route(Origin.of(server.url))
    assert route is not None
    return route


def keyed_requests(server: Server) -> list[str]:
    return [r.path for r in server.log if "authorization" in r.headers]


# -- hostile pages --------------------------------------------------------------------------------


def test_a_gzipped_page_reaches_the_child_readable_and_rewritten(
    server: Server, gateway: Gateway
) -> None:
    page = f'<a href="{server.url}/files/a-1.0-py3-none-any.whl">a</a>\n'.encode()
    packed = gzip.compress(page)
    server.routes["/p/"] = lambda _r: Response(
        200, packed, {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    )
    route = route_of(gateway, server)
    status, body, headers = fetch(f"{route}/p/")
    assert status == 200
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert f'href="{route}/files/a-1.0-py3-none-any.whl"'.encode() in body


def test_a_json_page_with_escaped_slashes_is_rewritten(server: Server, gateway: Gateway) -> None:
    escaped = server.url.replace("/", "\\/")
    page = json.dumps({"meta": {"api-version": "1.0"}, "name": "a", "files": []})
    files = f'[{{"filename": "a-1.0-py3-none-any.whl", "url": "{escaped}\\/files\\/a.whl"}}]'
    page = page.replace('"files": []', f'"files": {files}')
    server.add_file(
        "/simple/a/", page.encode(), **{"Content-Type": "application/vnd.pypi.simple.v1+json"}
    )
    route = route_of(gateway, server)
    status, body, _ = fetch(f"{route}/simple/a/")
    assert status == 200
    url = json.loads(body)["files"][0]["url"]
    assert url.startswith(route + "/"), url  # through the gateway, where the key is added


@pytest.mark.slow
def test_a_page_without_separators_is_rewritten_in_linear_time(
    server: Server, gateway: Gateway
) -> None:
    server.chunk = 1024
    server.throttle = 0.0001  # each piece its own read, as TCP segments arrive
    size = 24 << 20
    piece = b"a" * 1023
    server.add_file("/flat/", b"a" * size, **{"Content-Type": "text/html"})
    server.add_file("/lines/", (piece + b"\n") * (size // 1024), **{"Content-Type": "text/html"})
    route = route_of(gateway, server)

    def timed(path: str) -> float:
        started = time.monotonic()
        status, body, _ = fetch(f"{route}{path}", timeout=300)
        assert status == 200 and len(body) == size
        return time.monotonic() - started

    with_lines = timed("/lines/")
    flat = timed("/flat/")
    assert flat < 2 * with_lines + 2, (
        f"flat page {flat:.1f} s, same page in lines {with_lines:.1f} s"
    )


@pytest.mark.parametrize(
    "form",
    [
        "{origin}/files/a.whl",
        "{upper}/files/a.whl",
        "/files/a.whl",
        "a.whl",
        "../files/a.whl",
        "//{hostport}/files/a.whl",
        "http://x:y@{hostport}/files/a.whl",
    ],
)
def test_a_redirect_to_the_same_origin_in_any_form_stays_on_the_gateway(
    server: Server, gateway: Gateway, form: str
) -> None:
    hostport = server.url.split("//", 1)[1]
    location = form.format(origin=server.url, upper=server.url.upper(), hostport=hostport)
    server.routes["/simple/a/"] = lambda _r: Response(302, b"", {"Location": location})
    route = route_of(gateway, server)
    page = f"{route}/simple/a/"
    status, _, headers = fetch(page)
    assert status == 302
    target = urljoin(page, headers["Location"])
    assert target.startswith(route + "/"), target


def test_an_archive_labelled_text_plain_arrives_byte_for_byte(
    server: Server, gateway: Gateway, tmp_path: Path
) -> None:
    docs = f'<a href="/docs/">docs</a> see {server.url}/docs/\n'.encode()
    wheel = build_wheel(
        tmp_path / "w", "withdocs", "1.0", extra_files={"withdocs/README.html": docs}
    )
    data = wheel.read_bytes()
    server.add_file(f"/files/{wheel.name}", data, **{"Content-Type": "text/plain"})
    status, body, _ = fetch(f"{route_of(gateway, server)}/files/{wheel.name}")
    assert status == 200
    assert body == data


def test_a_key_that_cannot_go_in_a_header_is_an_answer_not_a_traceback(
    server: Server, capfd: pytest.CaptureFixture[str]
) -> None:
    """A key that HTTP basic auth cannot carry (requests encodes it as latin-1) must give the
    child an error answer, and print no traceback of the gateway's thread on pipmodels' stderr,
    where no redactor stands."""
    key = "k\u20acy-outside-latin-1"
    origin = Origin.of(server.url)
    assert origin is not None
    gw = Gateway([Credential(origin, key, "")], Upstream(timeout=(5, 5)))
    try:
        server.add_file("/p/", b"page", **{"Content-Type": "text/html"})
        route = gw.route(origin)
        try:
            status = fetch(f"{route}/p/", timeout=10)[0]
        except (http.client.HTTPException, ConnectionError, urllib.error.URLError) as exc:
            status = type(exc).__name__  # type: ignore[assignment]
    finally:
        gw.close()
    printed = capfd.readouterr().err
    assert "Traceback" not in printed, printed[-800:]
    assert status in (403, 502), status


# -- the gateway's other routes -------------------------------------------------------------------


@pytest.fixture
def two_origins() -> Iterator[tuple[Server, Server, Gateway]]:
    a, b = Server(), Server()
    origin_a, origin_b = Origin.of(a.url), Origin.of(b.url)
    assert origin_a is not None and origin_b is not None
    gw = Gateway(
        [Credential(origin_a, KEY, ""), Credential(origin_b, OTHER_KEY, "")],
        Upstream(timeout=(5, 5)),
    )
    yield a, b, gw
    gw.close()
    a.close()
    b.close()


@pytest.mark.parametrize("how", ["link", "redirect"])
def test_origin_a_cannot_make_the_gateway_send_origin_bs_key(
    two_origins: tuple[Server, Server, Gateway], how: str
) -> None:
    a, b, gw = two_origins
    b.routes["/private/b.whl"] = basic_auth(f"{OTHER_KEY}:", b"B's private file", "application/zip")
    escape = "../../../2/private/b.whl"  # /TOKEN/1/simple/x/ -> /TOKEN/2/
    if how == "link":
        a.routes["/simple/x/"] = basic_auth(
            f"{KEY}:", f'<a href="{escape}">b.whl</a>\n'.encode(), "text/html"
        )
    else:
        a.routes["/simple/x/"] = lambda _r: Response(302, b"", {"Location": escape})
    route_a = gw.route(Origin.of(a.url))
    assert route_a is not None
    page = f"{route_a}/simple/x/"
    _, _, headers = fetch(page)
    target = urljoin(page, headers["Location"] if how == "redirect" else escape)
    _, body, _ = fetch(target)
    assert body != b"B's private file"
    assert keyed_requests(b) == [], "origin A's page made the gateway send B's key to B"


# -- other users on the machine -------------------------------------------------------------------


@pytest.mark.skipif(
    sys.platform != "linux"
    or os.geteuid() != 0
    or shutil.which("setpriv") is None
    or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root and setpriv to act as another user",
)
def test_another_user_who_read_the_token_from_proc_is_refused(
    server: Server, gateway: Gateway
) -> None:
    """The token is on children's command lines, which every user can read in /proc; the
    gateway must still serve no one but this user."""
    server.routes["/p/"] = basic_auth(f"{KEY}:", b"private page", "text/html")
    url = f"{route_of(gateway, server)}/p/"
    assert fetch(url)[:2] == (200, b"private page")  # this user: served
    code = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    )
    python = "/usr/bin/python3"  # not a shim under /root, which the other user cannot run
    other = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            python,
            "-I",
            "-c",
            code,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert other.stdout.strip() in ("404", "403", "RemoteDisconnected"), other.stdout + other.stderr
    assert server.requests["/p/"] == 1, "another user's request reached the origin"


# -- the whole flow, with real pip, pip-tools and uv ----------------------------------------------


def keyed_find_links(server: Server, tmp_path: Path, key: str = KEY) -> str:
    """A requirements.in line naming a find-links page behind ``key``, Prodigy's older form."""
    prodigy = build_wheel(tmp_path / "priv", "prodigy", "1.15.3")
    server.add_find_links_page("/prodigy", key, [prodigy])
    return f"-f http://${{PRODIGY_KEY}}@{server.url.split('//', 1)[1]}/prodigy/\n"


class ForwardProxy:
    """An HTTP forward proxy as a company runs one: on another machine, so that it reaches the
    hosts it is asked for (here: ``reachable`` ports of 127.0.0.1) and not the user's loopback.
    Every request it is asked to make is logged."""

    def __init__(self, reachable: set[int]) -> None:
        self.log: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._relay(body=True)

            def do_HEAD(self) -> None:
                self._relay(body=False)

            def _relay(self, *, body: bool) -> None:
                proxy.log.append(self.path)
                parts = urlsplit(self.path)
                if parts.port not in reachable:
                    self.send_error(502, "the proxy cannot reach that host")
                    return
                conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                conn.request(self.command, target, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if body:
                    self.wfile.write(data)
                conn.close()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "PIP_PROXY"])
def test_behind_a_company_proxy_children_reach_the_gateway_directly(
    server: Server,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    index: str,
    engine: str,
    variable: str,
    request: pytest.FixtureRequest,
) -> None:
    """HTTP_PROXY is set on many company machines. The gateway is on this machine's loopback:
    a child that sends its gateway requests to the proxy sends the token off the machine and
    gets nothing back, since 127.0.0.1 at the proxy is the proxy. (uv reads no PIP_PROXY.)"""
    line = keyed_find_links(server, tmp_path)
    proxy = ForwardProxy({int(server.url.rsplit(":", 1)[1])})
    try:
        for name in ("HTTP_PROXY", "http_proxy") if variable == "HTTP_PROXY" else (variable,):
            project.env[name] = proxy.url
        project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=KEY)
        project.write("requirements.in", line + "prodigy==1.15.3\ntinyspacy<3.9\n")
        run = project.pipmodels("sync", "--python-executable", venv.python, check=False)
        through_proxy = [url for url in proxy.log if GATEWAY_URL.match(url)]
        assert through_proxy == [], f"gateway requests sent to the proxy: {through_proxy[:3]}"
        assert run.returncode == 0, run.output
        assert {"prodigy", "tinyspacy"} <= set(venv.freeze())
    finally:
        proxy.close()


@pytest.mark.slow
def test_verbose_output_shows_neither_the_key_nor_the_gateway_token(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str, engine: str
) -> None:
    """-v passes pip's and uv's own verbose output through: every URL they print is a gateway
    address, with its token, and a 403 from a refused key prints the route too."""
    line = keyed_find_links(server, tmp_path)
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=KEY)
    project.write("requirements.in", line + "prodigy==1.15.3\ntinyspacy<3.9\n")
    with CommandLineSpy(KEY) as spy:
        good = project.pipmodels("sync", "-v", "--python-executable", venv.python)
    assert spy.leaks == set()
    (project.root / "requirements.txt").unlink()
    project.env["PRODIGY_KEY"] = "a-wrong-key-for-this-page"
    bad = project.pipmodels("compile", "-v", check=False)
    assert bad.returncode != 0
    for run in (good, bad):
        assert not any(form in run.output for form in secret_forms(KEY))
        assert GATEWAY_URL.findall(run.output) == [], GATEWAY_URL.findall(run.output)[:3]
        assert "a-wrong-key-for-this-page" not in run.output
    assert files_containing(KEY, tmp_path) == []


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    parents[int(entry.name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def slow_building_sdist(dest: Path, started: Path) -> Path:
    """An sdist whose in-tree build backend writes ``started`` and then takes a minute to say
    what it needs: a build that pip-compile and uv run in a process of their own."""
    from tests.builders import build_sdist

    backend = (
        "import os, time\n"
        f"open({str(started)!r}, 'w').write(str(os.getpid()))\n"
        "def get_requires_for_build_wheel(config_settings=None):\n"
        "    time.sleep(60)\n"
        "    return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    time.sleep(60)\n"
        "def build_wheel(d, config_settings=None, metadata_directory=None):\n"
        "    time.sleep(60)\n"
    )
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "slowbackend"\nbackend-path = ["."]\n'
    )
    return build_sdist(
        dest,
        "slowpkg",
        "1.0",
        extra_files={"slowbackend.py": backend.encode(), "pyproject.toml": pyproject.encode()},
    )


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_after_kill_9_during_compile_no_descendant_lives_on(
    server: Server, project: Project, tmp_path: Path, engine: str
) -> None:
    """A build (pip-compile's or uv's PEP 517 hook process, a grandchild of pipmodels) must not
    outlive a killed run: it runs code from the network with the run's environment, its
    keys included, for as long as it likes."""
    started = tmp_path / "build-started"
    line = keyed_find_links(server, tmp_path)
    sdist = slow_building_sdist(tmp_path / "sdists", started)
    index = server.add_index([sdist], prefix="/pub")
    server.add_file(  # served as a tarball, not as add_index's application/zip
        f"/pub/packages/{sdist.name}", sdist.read_bytes(), **{"Content-Type": "application/x-tar"}
    )
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=KEY)
    project.write("requirements.in", line + "prodigy==1.15.3\nslowpkg\n")
    proc = project.start("compile")
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "the build never started: " + "".join(proc.communicate()[1:])
    time.sleep(0.5)
    tree = _descendants(proc.pid)
    assert tree
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = {p: _cmdline(p) for p in tree if _alive(p)}
    for pid in survivors:  # not left running for the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert survivors == {}, "descendants outlived the killed run"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "?"


def env_spy_sdist(dest: Path, seen: Path) -> Path:
    """A public sdist whose build backend, code from the network, records every environment
    value it was given, then fails (nothing more is needed to steal)."""
    from tests.builders import build_sdist

    backend = (
        "import os\n"
        f"open({str(seen)!r}, 'a').write(repr(dict(os.environ)))\n"
        "def get_requires_for_build_wheel(config_settings=None):\n"
        "    raise SystemExit('envspy: done')\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    raise SystemExit('envspy: done')\n"
        "def build_wheel(d, config_settings=None, metadata_directory=None):\n"
        "    raise SystemExit('envspy: done')\n"
    )
    pyproject = '[build-system]\nrequires = []\nbuild-backend = "spy"\nbackend-path = ["."]\n'
    return build_sdist(
        dest,
        "envspy",
        "1.0",
        extra_files={"spy.py": backend.encode(), "pyproject.toml": pyproject.encode()},
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["dotenv", "environment"])
def test_a_public_sdists_build_never_sees_the_key(
    server: Server, project: Project, tmp_path: Path, engine: str, where: str
) -> None:
    """Children reach keyed origins through the gateway: they need no key. A build backend of
    an sdist from the public index is code from the network; the key must not be in its
    environment, least of all a key that only a git-ignored .env held."""
    seen = tmp_path / "env-seen"
    line = keyed_find_links(server, tmp_path)
    sdist = env_spy_sdist(tmp_path / "sdists", seen)
    index = server.add_index([sdist], prefix="/pub")
    server.add_file(
        f"/pub/packages/{sdist.name}", sdist.read_bytes(), **{"Content-Type": "application/x-tar"}
    )
    project.env["PIP_INDEX_URL"] = index
    if where == "dotenv":
        project.write(".env", f"PRODIGY_KEY={KEY}\n")
        project.write(".gitignore", ".env\n")
    else:
        project.env["PRODIGY_KEY"] = KEY
    project.write("requirements.in", line + "prodigy==1.15.3\nenvspy\n")
    project.pipmodels("compile", check=False)
    assert seen.exists(), "the build backend never ran"
    assert not any(form in seen.read_text() for form in secret_forms(KEY))


@pytest.mark.slow
@pytest.mark.parametrize(
    "variable",
    [
        *(name for name in ("UV_EXTRA_INDEX_URL", "UV_INDEX")),
        "PIP_EXTRA_INDEX_URL",
    ],
)
def test_a_key_in_uvs_own_index_variables_is_carried_like_pips(
    server: Server, project: Project, venv: Venv, tmp_path: Path, index: str, variable: str
) -> None:
    """uv reads UV_EXTRA_INDEX_URL and UV_INDEX itself, as pip reads PIP_EXTRA_INDEX_URL. A
    key there must be carried like a key in PIP_*: through the gateway, never seen by uv, on no
    command line, in no file (uv's cache included), in no output."""
    private = build_wheel(tmp_path / "priv", "prodigy", "1.15.3")
    keyed = server.add_index([private], prefix="/keyed", auth=f"{KEY}:")
    host = server.url.split("//", 1)[1]
    from urllib.parse import quote

    keyed_url = keyed.replace(f"//{host}", f"//{quote(KEY, safe='')}@{host}")
    project.env.update(PIPMODELS_ENGINE="uv", PIP_INDEX_URL=index)
    project.env[variable] = keyed_url
    project.write("requirements.in", "prodigy==1.15.3\ntinyspacy<3.9\n")
    with CommandLineSpy(KEY) as spy:
        run = project.pipmodels("sync", "-v", "--python-executable", venv.python, check=False)
    assert spy.leaks == set()
    assert run.returncode == 0, run.output
    assert "prodigy" in venv.freeze()
    assert not any(form in run.output for form in secret_forms(KEY))
    assert files_containing(KEY, tmp_path) == []
    agents = {
        r.headers.get("user-agent", "")[:20] for r in server.log if "authorization" in r.headers
    }
    assert agents and all(a.startswith("pipmodels/") for a in agents), agents  # the gateway's


@pytest.mark.slow
def test_a_page_past_the_gateways_limit_is_a_message_naming_the_host_and_the_limit(
    server: Server, project: Project, tmp_path: Path, index: str, engine: str
) -> None:
    """Issue 17: every read from the network has a limit, 'with a message that names the host
    and the limit'. The gateway's page limit cuts the page; the user must learn why."""
    from pipmodels.gateway import PAGE_LIMIT

    line = keyed_find_links(server, tmp_path)
    filler = b"<!-- padding -->\n" * (PAGE_LIMIT // 17 + 2)
    server.routes["/prodigy/"] = basic_auth(f"{KEY}:", filler, "text/html")
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=KEY)
    project.write("requirements.in", line + "prodigy==1.15.3\n")
    run = project.pipmodels("sync", check=False)
    assert run.returncode == 1
    assert "Traceback" not in run.output
    assert server.url.split("//", 1)[1] in run.output, run.output[-1500:]
    assert f"{PAGE_LIMIT >> 20} MB" in run.output, run.output[-1500:]


def _fetches_over_two_syncs(
    server: Server, project: Project, tmp_path: Path, prefix: str, keyed: bool
) -> int:
    wheels = [build_wheel(tmp_path / prefix, "tinyspacy", "3.8.2", payload=200_000)]
    url = server.add_index(wheels, prefix=f"/{prefix}", auth=f"{KEY}:" if keyed else None)
    from urllib.parse import quote

    host = server.url.split("//", 1)[1]
    if keyed:
        url = url.replace(f"//{host}", f"//{quote(KEY, safe='')}@{host}")
    project.env["PIP_INDEX_URL"] = url
    project.write("requirements.in", "tinyspacy\n")
    for n in (1, 2):
        target = tmp_path / f"venv-{prefix}-{n}"
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        project.pipmodels("sync", "--python-executable", str(target / "bin" / "python"))
    (project.root / "requirements.txt").unlink()
    return server.requests[f"/{prefix}/packages/{wheels[0].name}"]


@pytest.mark.slow
def test_a_keyed_index_is_cached_by_the_engine_as_well_as_one_without_a_key(
    server: Server, project: Project, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """A company index with a key in PIP_INDEX_URL: pip's and uv's own caches must save as many
    downloads as for the same index without a key. The gateway's address is new every run (port
    and token), and both caches are keyed on the index URL."""
    if engine == "uv":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="HOLE (cost, not leak): uv keys its cache on the index URL, which through "
                "the gateway is new each run (port and token): two syncs fetched the wheel 4 "
                "times from a keyed index against 3 without a key; each run adds another copy "
                "to uv's cache. pip-tools fetched 4 and 4 (pip cached nothing either way).",
            )
        )
    open_fetches = _fetches_over_two_syncs(server, project, tmp_path, "open", keyed=False)
    keyed_fetches = _fetches_over_two_syncs(server, project, tmp_path, "corp", keyed=True)
    assert keyed_fetches <= open_fetches, (keyed_fetches, open_fetches)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "kill-INT"])
def test_after_a_kill_during_sync_no_descendant_lives_on(
    server: Server,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    engine: str,
    signum: int,
) -> None:
    """Killed while the engine installs a package it is still downloading (from a keyed index,
    through the gateway): nothing of the run may go on installing into the user's environment.
    (Holds: pip-sync's own `pip install` child dies too, on the broken output pipe and the
    gateway gone, unlike a build hook that sleeps silently; see the compile case.)"""
    noise = {"bigdep/noise.bin": os.urandom(4 << 20)}
    big = build_wheel(tmp_path / "idx", "bigdep", "1.0", extra_files=noise)
    url = server.add_index([big], prefix="/corp", auth=f"{KEY}:")
    from urllib.parse import quote

    host = server.url.split("//", 1)[1]
    project.env["PIP_INDEX_URL"] = url.replace(f"//{host}", f"//{quote(KEY, safe='')}@{host}")
    project.write("requirements.in", "bigdep\n")
    project.pipmodels("compile")
    server.reset_counts()
    server.throttle = 0.2  # 64 KB every 0.2 s: the download is under way for a while
    proc = project.start("sync", "--python-executable", venv.python)
    deadline = time.monotonic() + 90
    while not server.bytes_of(big.name) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert server.bytes_of(big.name), "the install never started: " + "".join(proc.communicate())
    tree = _descendants(proc.pid)
    assert tree
    os.kill(proc.pid, signum)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = {p: _cmdline(p) for p in tree if _alive(p)}
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    server.throttle = 0
    assert survivors == {}, "descendants outlived the killed run"


@pytest.mark.slow
def test_two_runs_at_once_each_with_its_own_gateway_both_install_and_leave_nothing(
    server: Server, project: Project, tmp_path: Path, index: str, engine: str
) -> None:
    """Two syncs at once on one cache (two terminals, or CI jobs on one runner): each has its
    own gateway and token; neither may use, close or leave behind the other's."""
    line = keyed_find_links(server, tmp_path)
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=KEY)
    project.write("requirements.in", line + "prodigy==1.15.3\ntinyspacy<3.9\n")
    project.pipmodels("compile")
    targets = [tmp_path / f"venv-{n}" for n in (1, 2)]
    for target in targets:
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    with CommandLineSpy(KEY) as spy:
        procs = [
            project.start("sync", "--python-executable", str(t / "bin" / "python")) for t in targets
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
    assert spy.leaks == set()
    for proc, (out, err) in zip(procs, outputs, strict=False):
        assert proc.returncode == 0, out + err
        assert not any(form in out + err for form in secret_forms(KEY))
    for target in targets:
        assert {"prodigy", "tinyspacy"} <= set(Venv(target).freeze())
    assert files_containing(KEY, tmp_path) == []
    runs = tmp_path / "pipmodels-state" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


class DrippingOrigin:
    """An origin whose find-links page never ends: one link line every ``every`` seconds."""

    def __init__(self, every: float) -> None:
        self.stop = threading.Event()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()  # HTTP/1.0, no length: the page ends when the connection does
                n = 0
                while not origin.stop.wait(every):
                    n += 1
                    try:
                        self.wfile.write(f'<a href="p-0.{n}.tar.gz">p-0.{n}</a>\n'.encode())
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.hostport = f"127.0.0.1:{self.httpd.server_port}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_a_dripping_keyed_page_is_cut_by_the_runs_stall_rule(
    project: Project, tmp_path: Path
) -> None:
    origin = DrippingOrigin(every=1.0)
    try:
        project.env.update(PRODIGY_KEY=KEY, PIPMODELS_STALL_SECONDS="5", PIP_DEFAULT_TIMEOUT="5")
        project.write(
            "models.txt", f"-f http://${{PRODIGY_KEY}}@{origin.hostport}/p/\nprodigy==1.15.3\n"
        )
        started = time.monotonic()
        try:
            run = project.pipmodels("download", "-m", "models.txt", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the run was still reading the dripping page after 60 s")
        assert time.monotonic() - started < 60
        assert run.returncode == 1
    finally:
        origin.close()
