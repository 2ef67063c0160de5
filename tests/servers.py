"""Real HTTP servers on 127.0.0.1: a GitHub-like release host, a find-links page behind basic
auth, and a PEP 503 index. Each counts the requests and bytes it served per path."""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

Handler = Callable[["Request"], "Response"]


@dataclass
class Request:
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def ranged(response: Response, headers: dict[str, str]) -> Response:
    """A 200 answer cut to the ``Range`` asked for (one range, RFC 9110), as a 206; whole when
    ``If-Range`` names another version of it, or the range cannot be served."""
    asked = headers.get("range", "")
    if response.status != 200 or not asked.startswith("bytes=") or "," in asked:
        return response
    validator = headers.get("if-range")
    current = {response.headers.get("ETag"), response.headers.get("Last-Modified")}
    if validator is not None and validator not in current:
        return response
    first_text, _, last_text = asked[len("bytes=") :].partition("-")
    size = len(response.body)
    if not first_text:  # the last N bytes
        first, last = max(0, size - int(last_text)), size - 1
    else:
        first, last = int(first_text), min(int(last_text or size - 1), size - 1)
    if first > last:
        return Response(416, b"", {"Content-Range": f"bytes */{size}"})
    cut = dict(response.headers, **{"Content-Range": f"bytes {first}-{last}/{size}"})
    return Response(206, response.body[first : last + 1], cut)


class LocalHost:
    """A threaded HTTP server on 127.0.0.1 and an ephemeral port, serving ``handler``."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Server(LocalHost):
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.throttle: float = 0.0  # seconds per chunk, to make downloads slow
        self.chunk = 1 << 16
        self.log: list[Request] = []
        self.archives: dict[str, str] = {}  # path -> archive filename it serves
        self.ranges = True  # answer Range requests as GitHub's release storage does
        self.active = 0  # archive bodies being sent right now
        self.max_active = 0
        self._gauge = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:  # uv asks for a wheel's size before it fetches
                self._answer(body=False)

            def _answer(self, *, body: bool) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                request = Request(
                    path, parts.query, {k.lower(): v for k, v in self.headers.items()}
                )
                server.log.append(request)
                server.requests[path] += 1
                handler = server.routes.get(path)
                response = handler(request) if handler else Response(404, b"not found")
                if server.ranges and body:
                    response = ranged(response, request.headers)
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if body:
                    self._send(path, response.body)

            def _send(self, path: str, body: bytes) -> None:
                if path not in server.archives:
                    self._write(path, body)
                    return
                with server._gauge:
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    self._write(path, body)
                finally:
                    with server._gauge:
                        server.active -= 1

            def _write(self, path: str, body: bytes) -> None:
                step = server.chunk
                for start in range(0, len(body), step):
                    try:
                        self.wfile.write(body[start : start + step])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    server.bytes_sent[path] += len(body[start : start + step])
                    if server.throttle:
                        time.sleep(server.throttle)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.serve(_Handler)

    def reset_counts(self) -> None:
        self.requests.clear()
        self.bytes_sent.clear()
        self.log.clear()

    def add_file(self, path: str, data: bytes, **headers: str) -> None:
        self.routes[path] = lambda _request: Response(200, data, dict(headers))

    # -- shapes of real hosts -------------------------------------------------------------------

    def add_release_asset(self, owner_repo: str, tag: str, archive: Path) -> str:
        """GitHub's shape: the release URL answers 302 to a blob URL with Content-Disposition."""
        data = archive.read_bytes()
        blob = f"/blob/{hashlib.sha1(data).hexdigest()}"
        release = f"/{owner_repo}/releases/download/{tag}/{archive.name}"
        self.archives[blob] = archive.name
        self.routes[release] = lambda _r: Response(302, b"", {"Location": self.url + blob})
        self.routes[blob] = lambda _r: Response(
            200,
            data,
            {
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f"attachment; filename={archive.name}",
            },
        )
        return self.url + release

    def add_find_links_page(self, prefix: str, key: str, archives: list[Path]) -> str:
        """A find-links page and its files behind basic auth with the key as user-info."""

        def guarded(body: bytes, content_type: str) -> Handler:
            return basic_auth(f"{key}:", body, content_type)

        links = "".join(
            f'<a href="files/{html.escape(a.name)}">{html.escape(a.name)}</a><br>\n'
            for a in archives
        )
        self.routes[f"{prefix}/"] = guarded(
            f"<html><body>\n{links}</body></html>".encode(), "text/html"
        )
        for archive in archives:
            self.archives[f"{prefix}/files/{archive.name}"] = archive.name
            self.routes[f"{prefix}/files/{archive.name}"] = guarded(
                archive.read_bytes(), "application/octet-stream"
            )
        return self.url + prefix + "/"

    def add_index(
        self,
        archives: list[Path],
        *,
        hashes: bool = True,
        prefix: str = "",
        auth: str | None = None,
    ) -> str:
        """A PEP 503 simple index of ``archives`` under ``prefix``, with sha256 fragments unless
        not ``hashes``, behind basic auth when ``auth`` ("user:password") is given."""
        from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

        def route(path: str, body: bytes, content_type: str) -> None:
            if auth is None:
                self.add_file(path, body, **{"Content-Type": content_type})
            else:
                self.routes[path] = basic_auth(auth, body, content_type)

        projects: dict[str, list[Path]] = {}
        for archive in archives:
            if archive.name.endswith(".whl"):
                name = parse_wheel_filename(archive.name)[0]
            else:
                name = parse_sdist_filename(archive.name)[0]
            projects.setdefault(canonicalize_name(name), []).append(archive)
            self.archives[f"{prefix}/packages/{archive.name}"] = archive.name
            route(f"{prefix}/packages/{archive.name}", archive.read_bytes(), "application/zip")
        for project, files in projects.items():
            links = "".join(
                f'<a href="{prefix}/packages/{f.name}{_fragment(f) if hashes else ""}">'
                f"{f.name}</a><br>\n"
                for f in files
            )
            route(
                f"{prefix}/simple/{project}/",
                f"<html><body>\n{links}</body></html>".encode(),
                "text/html",
            )
        roots = "".join(f'<a href="{prefix}/simple/{p}/">{p}</a><br>\n' for p in projects)
        route(f"{prefix}/simple/", f"<html><body>{roots}</body></html>".encode(), "text/html")
        return self.url + prefix + "/simple/"

    def bytes_of(self, filename: str) -> int:
        """Bytes served of the archive ``filename``, whichever URLs served it."""
        return sum(n for path, n in self.bytes_sent.items() if self.archives.get(path) == filename)


def basic_auth(userinfo: str, body: bytes, content_type: str) -> Handler:
    """A handler that serves ``body`` only to requests carrying ``userinfo`` as basic auth."""
    expected = "Basic " + base64.b64encode(userinfo.encode()).decode()

    def handle(request: Request) -> Response:
        if request.headers.get("authorization") != expected:
            return Response(401, b"bad key", {"WWW-Authenticate": 'Basic realm="x"'})
        return Response(200, body, {"Content-Type": content_type})

    return handle


def _fragment(archive: Path) -> str:
    return f"#sha256={hashlib.sha256(archive.read_bytes()).hexdigest()}"


Answer = Callable[[str], "tuple[int, dict[str, str], Iterator[bytes]]"]


class StreamServer(LocalHost):
    """A hostile host: every GET gets ``answer(path)``'s status and headers, then its body as
    the iterator yields it, with no Content-Length (the body ends when the connection does).
    A body without end, one that drips a byte at a time, or JSON nested without end."""

    def __init__(self, answer: Answer) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes_sent = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                server.requests[path] += 1
                status, headers, body = answer(self.path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        server.bytes_sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.serve(_Handler)


def endless(block: bytes = b"<a href='x'>x</a>\n" * 4096) -> Iterator[bytes]:
    """A body that never ends."""
    while True:
        yield block


def drip(first: bytes = b"<html>", every: float = 0.5) -> Iterator[bytes]:
    """A body that never ends, one byte every ``every`` seconds: each read succeeds in time."""
    yield first
    while True:
        time.sleep(every)
        yield b" "
