"""The loopback gateway: how pip and uv reach an origin that needs a key, without the key.

pip-compile writes index URLs into requirements.txt, pip-sync and pip's build subprocesses put
them on command lines, and netrc (the only other way to hand pip a key) matches a host on every
port and scheme. So children never see a key: in place of each keyed origin they are given
``http://127.0.0.1:PORT/TOKEN/N``, and this gateway, a thread of the pipmodels process, forwards
each request to that origin with the key added in memory, and to no other place:

- it follows no redirect itself: a redirect to another origin reaches the child as sent, and the
  child fetches it without the key; one to the same origin comes back through the gateway;
- pages (HTML and JSON) have their links to the origin pointed back through the gateway, read
  within a size limit;
- on Linux, a connection from another user's process is refused (the token is in command lines).

Nothing is written to disk, so a run killed with SIGKILL leaves no key behind, and its children,
whose gateway died with it, can reach nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

from pipmodels import __version__, console
from pipmodels.credentials import Credential, Origin, strip_userinfo
from pipmodels.filenames import is_archive_name
from pipmodels.http import Limits, arriving

if TYPE_CHECKING:
    import requests

PAGE_LIMIT = Limits().max_bytes  # of one page, by default; ``Upstream.limits`` rules
POOL_SIZE = 16  # connections kept per origin: uv asks for many pages at once
PAGE_TYPES = ("text/html", "application/vnd.pypi.simple", "application/json")
# What a child's request may carry on, and what an origin's answer may carry back.
REQUEST_HEADERS = ("Accept", "Range", "If-None-Match", "If-Modified-Since", "Cache-Control")
RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Content-Disposition",
    "Retry-After",
)


@dataclass(frozen=True)
class Upstream:
    """How the gateway reaches origins: pip's own TLS, proxy and timeout settings."""

    verify: bool | str = True
    client_cert: str | None = None
    proxy: str | None = None
    trusted_hosts: tuple[str, ...] = ()
    timeout: tuple[float, float] = (15.0, 30.0)
    # An archive slower than min_rate bytes a second for stall_seconds is cut, as pipmodels'
    # own downloads are (pip's and uv's read timeouts never fire on a drip); a page is read
    # within the limits of every page pipmodels reads.
    stall_seconds: float = 120.0
    min_rate: int = 1024
    limits: Limits = field(default_factory=Limits)

    def verify_for(self, origin: Origin) -> bool | str:
        trusted = {origin.host, f"{origin.host}:{origin.port}"} & set(self.trusted_hosts)
        return False if trusted else self.verify


class Gateway:
    """A loopback HTTP server holding the run's keys, one route per keyed origin."""

    def __init__(self, credentials: Sequence[Credential], upstream: Upstream) -> None:
        self.upstream = upstream
        # Each route its own unguessable first path segment: a page of one origin cannot
        # lead a child into another origin's route with a relative link ("../2/...").
        self._routes = {
            secrets.token_hex(16): cred for cred in credentials if cred.origin is not None
        }
        self._tokens = {cred.origin: token for token, cred in self._routes.items()}
        self.refused: dict[Origin, int] = {}  # origins that refused their key, and how
        self.problems: dict[Origin, str] = {}  # pages cut short, and why
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pipmodels-gateway", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._session is not None:
            self._session.close()

    def route(self, origin: Origin | None) -> str | None:
        """The gateway's address for ``origin``, or None when no key goes there."""
        token = self._tokens.get(origin) if origin is not None else None
        return f"{self.host}/{token}" if token else None

    def aliases(self) -> dict[str, str]:
        """Each route's address (whole, then its path alone, as pip's retry warnings show it)
        and the origin it stands for, to show users the origin."""
        whole = {f"{self.host}/{t}": str(cred.origin) for t, cred in self._routes.items()}
        return {**whole, **{f"/{t}": str(cred.origin) for t, cred in self._routes.items()}}

    def child_url(self, public: str) -> str:
        """``public`` as a child must fetch it: through the gateway when its origin has a key."""
        route = self.route(Origin.of(public))
        if route is None:
            return public
        parts = urlsplit(public)
        rest = parts.path or "/"
        rest += f"?{parts.query}" if parts.query else ""
        rest += f"#{parts.fragment}" if parts.fragment else ""
        return route + rest

    # -- serving -------------------------------------------------------------------------------

    def target(self, path: str) -> tuple[Credential, str] | None:
        """The key and origin URL that a request path stands for."""
        token, _, rest = path.lstrip("/").partition("/")
        cred = self._routes.get(token) if path.startswith("/") else None
        if cred is None:
            return None
        return cred, f"{cred.origin}/{rest}"

    def session(self) -> requests.Session:
        """One session for every origin: its connection pool is shared by the server's
        threads (one per connection), so requests to an origin reuse its connections."""
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                session.trust_env = self.upstream.proxy is None  # pip's --proxy wins, as in pip
                session.headers["User-Agent"] = f"pipmodels/{__version__} gateway"
                if self.upstream.proxy:
                    session.proxies = {"http": self.upstream.proxy, "https": self.upstream.proxy}
                if self.upstream.client_cert:
                    session.cert = self.upstream.client_cert
                adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def rewrite(self, data: bytes, origin: Origin) -> bytes:
        """Links to ``origin`` in a page (absolute, ``//host`` or ``/path``, and their JSON
        forms with ``\\/``), pointed back through the gateway."""
        route = self.route(origin)
        assert route is not None
        data = _origin_pattern(origin).sub(route.encode(), data)
        escaped = route.replace("/", "\\/").encode()
        data = _origin_pattern(origin, escaped=True).sub(lambda _m: escaped, data)
        path = urlsplit(route).path.encode()  # /TOKEN
        data = ROOT_RELATIVE.sub(lambda m: m.group(1) + path + b"/", data)
        escaped_path = path.replace(b"/", b"\\/")
        return ESCAPED_ROOT_RELATIVE.sub(lambda m: m.group(1) + escaped_path + b"\\/", data)

    def rewrite_location(self, location: str, origin: Origin) -> str:
        """A redirect's target: to the same origin (in any form: absolute, ``//host``,
        ``/path``, with user-info), back through the gateway; elsewhere, as sent."""
        if not SCHEME_OR_SLASHES.match(location):
            return location  # relative to the request's path: it stays in the route
        target = strip_userinfo(urljoin(f"{origin}/", location))
        if Origin.of(target) == origin:
            return self.child_url(target)
        return location


SCHEME_OR_SLASHES = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/)")


# A root-relative link in an HTML attribute or a PEP 691 "url" value (pypiserver, devpi and
# Artifactory write /packages/...); "//" starts a host, handled as an origin.
ROOT_RELATIVE = re.compile(rb"""((?:\bhref\s*=\s*["']?|"url"\s*:\s*"))/(?!/)""", re.IGNORECASE)
ESCAPED_ROOT_RELATIVE = re.compile(rb"""("url"\s*:\s*")\\/(?!\\/)""", re.IGNORECASE)


def _origin_pattern(origin: Origin, *, escaped: bool = False) -> re.Pattern[bytes]:
    """``origin`` written in a page, ``escaped`` as JSON may write it (``https:\\/\\/host``)."""
    host = re.escape(f"[{origin.host}]" if ":" in origin.host else origin.host)
    # The default port may be written or left out; another must be written.
    optional = "" if str(origin).endswith(f":{origin.port}") else "?"
    authority = f"{host}(?::{origin.port}){optional}"
    slashes = r"\\/\\/" if escaped else "//"
    # "//host" alone is protocol-relative; after another scheme ("http://host") it is not ours.
    pattern = rf"(?:{origin.scheme}:|(?<![\w:])){slashes}{authority}(?![\w.:-])"
    return re.compile(pattern.encode(), re.IGNORECASE)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Never socketserver's traceback on stderr, past the redactor: a line at -v.
        kind = sys.exc_info()[0]
        console.debug(f"gateway: {kind.__name__ if kind else 'error'} while answering")


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "pipmodels-gateway"
        protocol_version = "HTTP/1.1"  # for chunked pages; every answer closes its connection

        def do_GET(self) -> None:
            self._forward(body=True)

        def do_HEAD(self) -> None:
            self._forward(body=False)

        def _forward(self, *, body: bool) -> None:
            found = gateway.target(self.path)
            if found is None or not _same_user(self.connection):
                self.send_error(404)
                return
            cred, url = found
            assert cred.origin is not None
            import requests

            headers = {h: self.headers[h] for h in REQUEST_HEADERS if self.headers.get(h)}
            headers["Accept-Encoding"] = "identity"  # pages are rewritten as text
            try:
                answer = gateway.session().request(
                    self.command,
                    url,
                    headers=headers,
                    auth=(cred.login, cred.password),
                    stream=True,
                    allow_redirects=False,
                    timeout=gateway.upstream.timeout,
                    verify=gateway.upstream.verify_for(cred.origin),
                )
            except (requests.RequestException, ValueError) as exc:
                # ValueError: a key that cannot go in a header (not latin-1), among others.
                console.debug(f"gateway: {cred.origin}: {type(exc).__name__}")
                if not isinstance(exc, requests.RequestException):
                    gateway.problems[cred.origin] = f"the key for {cred.origin} cannot be sent"
                self.send_error(502, f"{cred.origin} could not be reached")
                return
            with contextlib.closing(answer):
                self._answer(answer, cred.origin, body=body, archive=_names_archive(url))

        def _answer(
            self, answer: requests.Response, origin: Origin, *, body: bool, archive: bool
        ) -> None:
            status = answer.status_code
            if status in (401, 407):
                # 403, not 401: pip and uv must not prompt for, or look up, another key.
                gateway.refused[origin] = status
                status = 403
            content_type = answer.headers.get("Content-Type", "")
            # A file is passed on byte for byte, whatever its label says.
            page = not archive and status == 200 and content_type.lower().startswith(PAGE_TYPES)
            self.send_response(status)
            for name in RESPONSE_HEADERS:
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            location = answer.headers.get("Location")
            if location:
                self.send_header("Location", gateway.rewrite_location(location, origin))
            self.send_header("Connection", "close")
            if page and body:
                # Rewritten as it arrives, so pip's and uv's read timeouts see bytes flowing.
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                rewrite = functools.partial(gateway.rewrite, origin=origin)
                try:
                    for piece in _rewritten(answer, rewrite, gateway.upstream):
                        if piece:
                            self.wfile.write(b"%X\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                except _Unbounded as cut:
                    # No last chunk: the child sees a broken page, not a short one; pipmodels
                    # says why when the child fails.
                    gateway.problems[origin] = str(cut)
                except OSError:
                    pass
                return
            if "Content-Length" in answer.headers:
                self.send_header("Content-Length", answer.headers["Content-Length"])
            self.end_headers()
            if body:
                try:
                    up = gateway.upstream
                    chunks = _unstalled(arriving(answer), answer.url, up.stall_seconds, up.min_rate)
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except _Unbounded as cut:
                    gateway.problems[origin] = str(cut)  # the child sees a short body
                except OSError:
                    pass

        def log_message(self, format: str, *args: object) -> None:
            console.debug("gateway: " + format % args)

    return Handler


class _Unbounded(Exception):
    """An answer past its limits: too big, too slow, or stalled."""


def _names_archive(url: str) -> bool:
    return is_archive_name(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))


def _unstalled(
    chunks: Iterator[bytes], url: str, stall_seconds: float, min_rate: int
) -> Iterator[bytes]:
    """``chunks``, cut (:class:`_Unbounded`) when they come slower than the stall rule."""
    window_start, window_bytes = time.monotonic(), 0
    for chunk in chunks:
        yield chunk
        window_bytes += len(chunk)
        elapsed = time.monotonic() - window_start
        if elapsed >= stall_seconds:
            if window_bytes < min_rate * elapsed:
                raise _Unbounded(f"{url} sent only {window_bytes} bytes in {elapsed:.0f} s")
            window_start, window_bytes = time.monotonic(), 0


def _rewritten(
    answer: requests.Response, rewrite: Callable[[bytes], bytes], upstream: Upstream
) -> Iterator[bytes]:
    """The page's bytes, decoded (a page may come gzipped) and rewritten piece by piece: each
    piece ends at a ``>``, a newline or a ``}``, which no link spans. Linear in the page's
    size. Past the limits, :class:`_Unbounded` is raised."""
    pending: list[bytes] = []
    total, started = 0, time.monotonic()
    limits = upstream.limits
    for chunk in _unstalled(_decoded(answer), answer.url, limits.stall_seconds, limits.min_rate):
        total += len(chunk)
        if total > limits.max_bytes:
            raise _Unbounded(f"a page at {answer.url} is over {limits.max_bytes >> 20} MB")
        if time.monotonic() - started > limits.total_seconds:
            raise _Unbounded(f"a page at {answer.url} took over {limits.total_seconds:.0f} s")
        cut = max(chunk.rfind(b">"), chunk.rfind(b"\n"), chunk.rfind(b"}")) + 1
        if not cut:
            pending.append(chunk)
            continue
        yield rewrite(b"".join([*pending, chunk[:cut]]))
        pending = [chunk[cut:]]
    yield rewrite(b"".join(pending))


def _decoded(answer: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, its Content-Encoding undone."""
    raw = answer.raw
    if hasattr(raw, "read1"):  # urllib3 2
        while chunk := raw.read1(1 << 16, decode_content=True):
            yield chunk
    else:  # pragma: no cover - urllib3 1
        yield from raw.stream(1 << 16, decode_content=True)


def _same_user(connection: socket.socket) -> bool:
    """Whether the peer of a loopback connection runs as this user (Linux; True elsewhere)."""
    if sys.platform != "linux":
        return True
    import os

    def hex_address(address: tuple[str, int]) -> str:
        packed = socket.inet_aton(address[0])
        return f"{int.from_bytes(packed, 'little'):08X}:{address[1]:04X}"

    try:
        peer, local = connection.getpeername(), connection.getsockname()
        with open("/proc/net/tcp", encoding="ascii") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return True  # no table to read: the token alone guards the gateway
    wanted = (hex_address(peer), hex_address(local))
    for row in rows:
        fields = row.split()
        if len(fields) > 7 and (fields[1], fields[2]) == wanted:
            return int(fields[7]) == os.getuid()
    return False


def upstream_settings(
    settings: Mapping[str, str],
    timeout: tuple[float, float],
    *,
    stall_seconds: float = 120.0,
    min_rate: int = 1024,
    limits: Limits | None = None,
) -> Upstream:
    """pip's ``cert``, ``client-cert``, ``proxy`` and ``trusted-host`` settings, as pip reads
    them from pip.conf and ``PIP_*``, for the gateway's own requests."""
    return Upstream(
        verify=settings.get("cert") or True,
        client_cert=settings.get("client-cert") or None,
        proxy=settings.get("proxy") or None,
        trusted_hosts=tuple(settings.get("trusted-host", "").split()),
        timeout=timeout,
        stall_seconds=stall_seconds,
        min_rate=min_rate,
        limits=limits or Limits(),
    )
