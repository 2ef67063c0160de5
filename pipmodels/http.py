"""pipmodels' own HTTP requests: one policy for timeouts, retries, credentials and redaction.

Used for model archives pipmodels fetches itself (direct references), for asking a host what
went wrong after pip failed, and for the GitHub API. pip's own downloads keep pip's settings.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pipmodels import __version__, console, progress
from pipmodels.credentials import Credential, Origin, Redactor, split_userinfo
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import is_archive_name, safe_filename

if TYPE_CHECKING:
    import requests

CHUNK = 1 << 20
IDENTITY = {"Accept-Encoding": "identity"}
# A wheel's central directory and dist-info files are kilobytes: this holds them for thousands
# of members, and is fetched once either way (it is the file's own end).
TAIL_BYTES = 256 << 10
CONTENT_RANGE = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19})")
# Set by Ctrl-C: downloads on worker threads stop at their next chunk.
cancelled = threading.Event()


ENV_MAX_PAGE_BYTES = "PIPMODELS_MAX_PAGE_BYTES"
ENV_PAGE_SECONDS = "PIPMODELS_PAGE_SECONDS"
ENV_MAX_PAGES = "PIPMODELS_MAX_PAGES"


@dataclass(frozen=True)
class Limits:
    """How much of a page or a JSON answer pipmodels reads before it gives up on a server.

    Archives are streamed to disk with the stall limit of :class:`Policy`; pages and JSON are
    read into memory, so a server that never stops, drips, or nests without end must not be
    able to hold a run or fill its memory. The one place these numbers are set.
    """

    max_bytes: int = 32 << 20  # a page or a JSON answer (PyPI's largest simple pages: ~10 MB)
    total_seconds: float = 120.0  # to read one page, however steadily it arrives
    stall_seconds: float = 20.0  # a page slower than min_rate for this long is abandoned
    min_rate: int = 1024  # bytes per second
    max_pages: int = 1000  # pages of one paginated list (``Link: rel=next``)
    max_depth: int = 64  # JSON nesting; real answers nest less than 10 deep

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Limits:
        default = cls()
        size = _number(environ.get(ENV_MAX_PAGE_BYTES))
        seconds = _number(environ.get(ENV_PAGE_SECONDS))
        pages = _number(environ.get(ENV_MAX_PAGES))
        return cls(
            max_bytes=int(size) if size else default.max_bytes,
            total_seconds=seconds or default.total_seconds,
            stall_seconds=min(seconds, default.stall_seconds) if seconds else default.stall_seconds,
            max_pages=int(pages) if pages else default.max_pages,
        )


@dataclass(frozen=True)
class Policy:
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # seconds without a byte before a read gives up
    retries: int = 3  # for connection errors and 5xx answers
    backoff: float = 0.5
    stall_seconds: float = 120.0  # a download slower than min_rate for this long is abandoned
    min_rate: int = 1024  # bytes per second
    limits: Limits = field(default_factory=lambda: Limits())  # pages and JSON answers

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Policy:
        """pip's own timeout and retries (``PIP_DEFAULT_TIMEOUT``, ``PIP_RETRIES``) apply too."""
        policy = cls()
        timeout = _number(environ.get("PIP_DEFAULT_TIMEOUT") or environ.get("PIP_TIMEOUT"))
        retries = _number(environ.get("PIP_RETRIES"))
        stall = _number(environ.get("PIPMODELS_STALL_SECONDS"))
        return cls(
            connect_timeout=timeout or policy.connect_timeout,
            read_timeout=timeout or policy.read_timeout,
            retries=int(retries) if retries is not None else policy.retries,
            stall_seconds=stall or policy.stall_seconds,
            limits=Limits.from_environment(environ),
        )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@dataclass
class Client:
    """Requests with one policy, credentials by origin, and every URL shown redacted."""

    policy: Policy
    redactor: Redactor
    credentials: Sequence[Credential] = ()
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"pipmodels/{__version__}"
        self.attempts = 0  # requests sent, retries included

    def shown(self, url: str) -> str:
        return self.redactor(url)

    def auth_for(self, url: str, key: Credential | None = None) -> tuple[str, str] | None:
        """The key for ``url``'s origin (scheme, host and port), and for no other: ``key``
        when it is that origin's, else the run's; requests drops it on a redirect to another
        origin."""
        _stripped, cred = split_userinfo(url)
        origin = Origin.of(url)
        if cred is None and key is not None and key.origin == origin:
            cred = key
        if cred is None:
            cred = next((c for c in self.credentials if c.origin == origin), None)
        return (cred.login, cred.password) if cred else None

    def send(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        method: str = "GET",
        retry_when: Callable[[requests.Response], float | None] | None = None,
        follow_redirects: bool = True,
        key: Credential | None = None,
    ) -> requests.Response:
        """One request, retried on connection errors and 5xx answers as pip retries.

        ``retry_when`` may ask for another try of an answer after a number of seconds.
        """
        import requests

        stripped = split_userinfo(url)[0]
        for attempt in range(self.policy.retries + 1):
            last = attempt == self.policy.retries
            if cancelled.is_set():
                raise KeyboardInterrupt
            self.attempts += 1
            try:
                response = self.session.request(
                    method,
                    stripped,
                    headers=dict(headers or {}),
                    auth=self.auth_for(url, key),
                    stream=stream,
                    timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                    allow_redirects=follow_redirects,
                )
            except requests.RequestException as exc:
                if last:
                    raise
                self._wait(attempt, f"{type(exc).__name__} from {self.shown(url)}", None)
                continue
            console.debug(f"{method} {self.shown(url)} -> {response.status_code}")
            asked = retry_when(response) if retry_when else None
            if response.status_code >= 500 and asked is None:
                asked = _number(response.headers.get("Retry-After"))
            if not last and (response.status_code >= 500 or asked is not None):
                response.close()
                why = f"HTTP {response.status_code} from {self.shown(url)}"
                self._wait(attempt, why, asked)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, why: str, asked: float | None) -> None:
        delay = self.policy.backoff * 2**attempt
        if asked is not None:
            delay = min(max(delay, asked), 60.0)
        console.info(f"  {why}; retrying in {delay:.0f}s")
        self.sleep(delay)

    def problem(self, url: str) -> str | None:
        """What is wrong with ``url`` from here, or None when it answers normally."""
        import requests

        try:
            with self.send(url, stream=True) as response:
                status = response.status_code
        except requests.exceptions.SSLError:
            return "the TLS certificate could not be verified"
        except requests.exceptions.ConnectionError:
            return "the host could not be reached"
        except requests.exceptions.Timeout:
            return "the host did not answer in time"
        except requests.exceptions.RequestException as exc:
            return f"the request failed ({type(exc).__name__})"
        if status in (401, 403):
            return f"the server refused the credentials (HTTP {status})"
        if status == 404:
            return "nothing was found (HTTP 404)"
        if status >= 400:
            return f"the server answered HTTP {status}"
        return None

    def fetch_page(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry_when: Callable[[requests.Response], float | None] | None = None,
        follow_redirects: bool = True,
    ) -> Page:
        """A page or JSON answer, read whole but within the policy's :class:`Limits`."""
        with self.send(
            url,
            headers=headers,
            stream=True,
            retry_when=retry_when,
            follow_redirects=follow_redirects,
        ) as response:
            body = read_bounded(response, url, self.policy.limits)
            return Page(
                response.status_code,
                response.headers,
                body,
                response.encoding,
                response.is_redirect,
                self.policy.limits,
                url,
            )

    def download(
        self,
        url: str,
        dest: Path,
        *,
        where: str,
        key: Credential | None = None,
        on_tail: Callable[[str, Tail], None] | None = None,
    ) -> Downloaded:
        """Stream ``url`` into a file in ``dest``, hashing while writing; read each byte once.

        With ``on_tail``, a host that serves byte ranges is asked for the file's end first,
        which ``on_tail`` sees with the file's name, and then for the rest (see
        :mod:`pipmodels.headstart`); a host that does not sends the file whole, as without.
        """
        import requests
        import urllib3

        shown = self.shown(url)
        try:
            if on_tail is not None:
                done = self._tail_first(url, dest, where=where, key=key, on_tail=on_tail)
                if done is not None:
                    return done
            # "identity", as pip asks: a host that compresses on the fly sends the file itself.
            with self.send(url, stream=True, headers=IDENTITY, key=key) as response:
                target = self._target(url, response, dest, where, key)
                progress.expect(_announced_size(response.headers))
                with target.open("xb") as stream:
                    sha256, size = self._copy(response, stream, shown, where)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            # The body is read from urllib3 itself, whose errors requests does not wrap: a
            # connection closed mid-body (ProtocolError), a stalled read (ReadTimeoutError).
            raise PipmodelsError(
                f"{where}: downloading {shown} failed ({type(exc).__name__}). Nothing was added "
                "to the cache.",
                "Check the network and the URL, then run again.",
            ) from None
        return Downloaded(target, sha256, size)

    def _target(
        self,
        url: str,
        response: requests.Response,
        dest: Path,
        where: str,
        key: Credential | None,
        *,
        ranged: bool = False,
    ) -> Path:
        shown = self.shown(url)
        status = 200 if ranged and response.status_code == 206 else response.status_code
        _check_status(status, shown, where, self.auth_for(url, key) is not None)
        return dest / archive_filename(url, response.headers, where=f"{where}: {shown}")

    def _tail_first(
        self,
        url: str,
        dest: Path,
        *,
        where: str,
        key: Credential | None,
        on_tail: Callable[[str, Tail], None],
    ) -> Downloaded | None:
        """The file's last bytes, then the rest; None when the host sent no usable range (the
        caller then asks for the file whole: at most the tail's bytes are fetched twice)."""
        shown = self.shown(url)
        asked = {**IDENTITY, "Range": f"bytes=-{TAIL_BYTES}"}
        with self.send(url, stream=True, headers=asked, key=key) as response:
            if response.status_code == 416:  # no range of an empty file: ask for it whole
                return None
            target = self._target(url, response, dest, where, key, ranged=True)
            if response.status_code != 206:
                progress.expect(_announced_size(response.headers))
                with target.open("xb") as stream:  # the whole file: no range, no waste
                    sha256, size = self._copy(response, stream, shown, where)
                return Downloaded(target, sha256, size)
            tail = _tail_of(response, self.policy, shown, where)
            validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if tail is None:
            return None
        progress.expect(tail.total)
        on_tail(target.name, tail)
        digest, size = hashlib.sha256(), 0
        with target.open("xb") as stream:
            if tail.start:
                rest = {**IDENTITY, "Range": f"bytes=0-{tail.start - 1}"}
                if validator:
                    rest["If-Range"] = validator  # changed since: the whole new file instead
                with self.send(url, stream=True, headers=rest, key=key) as response:
                    self._target(url, response, dest, where, key, ranged=True)  # its status
                    whole = response.status_code == 200
                    if not whole and _content_range(response.headers) != (
                        0,
                        tail.start - 1,
                        tail.total,
                    ):
                        raise PipmodelsError(
                            f"{where}: {shown} answered a range request with other bytes than "
                            "asked for. Nothing was added to the cache.",
                            "Try again; if it persists, the host is misbehaving.",
                        )
                    for chunk in _watched(arriving(response), self.policy, shown, where):
                        stream.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                    if whole:
                        return Downloaded(target, digest.hexdigest(), size)
            stream.write(tail.data)
            digest.update(tail.data)
            size += len(tail.data)
        return Downloaded(target, digest.hexdigest(), size)

    def _copy(
        self, response: requests.Response, stream: IO[bytes], shown: str, where: str
    ) -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        for chunk in _watched(arriving(response), self.policy, shown, where):
            stream.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size


def arriving(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: a chunk is whatever the socket has (up to CHUNK), so that a
    trickling server is measured as it trickles rather than after a whole chunk."""
    # The bytes as served, as pip keeps them: a .tar.gz that a host labels "Content-Encoding:
    # gzip" stays gzipped, and keeps the sha256 its publisher gives.
    raw = response.raw
    if hasattr(raw, "read1"):  # urllib3 2
        while chunk := raw.read1(CHUNK, decode_content=False):
            yield chunk
    else:  # pragma: no cover - urllib3 1
        yield from raw.stream(1 << 16, decode_content=False)


def _content_range(headers: Mapping[str, str]) -> tuple[int, int, int] | None:
    """``Content-Range: bytes FIRST-LAST/TOTAL`` as three numbers; None for any other form."""
    match = CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
    if match is None:
        return None
    first, last, total = (int(group) for group in match.groups())
    return (first, last, total) if first <= last < total else None


def _tail_of(response: requests.Response, policy: Policy, shown: str, where: str) -> Tail | None:
    """A 206 answer to ``bytes=-N`` as the file's tail, when it says so consistently; read
    under the stall limit and Ctrl-C as any download is."""
    found = _content_range(response.headers)
    if found is None or found[1] != found[2] - 1 or found[1] - found[0] >= TAIL_BYTES:
        return None
    first, last, total = found
    data = b""
    for chunk in _watched(arriving(response), policy, shown, where):
        data += chunk
        if len(data) > last - first + 1:
            return None
    return Tail(data, first, total) if len(data) == last - first + 1 else None


def _announced_size(headers: Mapping[str, str]) -> int:
    """The body's size as the server announces it; 0 when it does not, or cannot be read."""
    try:
        return int(headers.get("Content-Length") or 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class Tail:
    """The last bytes of a file: ``data`` is its bytes ``start`` to ``total - 1``."""

    data: bytes
    start: int
    total: int


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int


def _watched(chunks: Iterator[bytes], policy: Policy, shown: str, where: str) -> Iterator[bytes]:
    """``chunks``, stopped on Ctrl-C and when the server trickles slower than the stall limit."""
    window_start, window_bytes = time.monotonic(), 0
    for chunk in chunks:
        if cancelled.is_set():
            raise KeyboardInterrupt
        yield chunk
        window_bytes += len(chunk)
        elapsed = time.monotonic() - window_start
        if elapsed >= policy.stall_seconds:
            if window_bytes < policy.min_rate * elapsed:
                raise PipmodelsError(
                    f"{where}: {shown} sent only {window_bytes} bytes in {elapsed:.0f}s; "
                    "pipmodels gave up on it. Nothing was added to the cache.",
                    "Try again later, or from a faster network.",
                )
            window_start, window_bytes = time.monotonic(), 0


def host_of(url: str) -> str:
    """The host (and port) of ``url`` for a message: never its user-info."""
    parts = urlsplit(url)
    host = parts.hostname or "the server"
    return f"{host}:{parts.port}" if parts.port else host


class TooMuch(PipmodelsError):
    """A server sent more, slower, or deeper than :class:`Limits` allows."""


def read_bounded(response: requests.Response, url: str, limits: Limits) -> bytes:
    """The decoded body of ``response``, or TooMuch past the size, time or stall limit."""
    host = host_of(url)
    declared = _number(response.headers.get("Content-Length"))
    if declared is not None and declared > limits.max_bytes:
        raise _too_large(host, limits)
    body = bytearray()
    start = window_start = time.monotonic()
    window_bytes = 0
    for chunk in _decoded_chunks(response):
        if cancelled.is_set():
            raise KeyboardInterrupt
        body += chunk
        window_bytes += len(chunk)
        if len(body) > limits.max_bytes:
            raise _too_large(host, limits)
        now = time.monotonic()
        if now - start > limits.total_seconds:
            raise TooMuch(
                f"{host} took longer than {limits.total_seconds:.0f}s to send one page; "
                "pipmodels gave up on it.",
                f"Try again later. {ENV_PAGE_SECONDS} sets the limit.",
            )
        if now - window_start >= limits.stall_seconds:
            if window_bytes < limits.min_rate * (now - window_start):
                raise TooMuch(
                    f"{host} sent only {window_bytes} bytes of a page in "
                    f"{now - window_start:.0f}s; pipmodels gave up on it.",
                    "Try again later, or from a faster network.",
                )
            window_start, window_bytes = now, 0
    return bytes(body)


def _too_large(host: str, limits: Limits) -> TooMuch:
    return TooMuch(
        f"{host} sent a page or answer larger than {limits.max_bytes >> 20} MB; pipmodels "
        "stopped reading it.",
        f"Check the URL. If the page is that large on purpose, raise {ENV_MAX_PAGE_BYTES}.",
    )


def _decoded_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, Content-Encoding undone, in small raw reads: a gzip bomb
    inflates at most one small read at a time before the size limit sees it."""
    import requests
    import urllib3

    raw = response.raw
    try:
        if hasattr(raw, "read1"):  # urllib3 2
            while chunk := raw.read1(PAGE_CHUNK, decode_content=True):
                yield chunk
        else:  # pragma: no cover - urllib3 1
            yield from raw.stream(PAGE_CHUNK, decode_content=True)
    except urllib3.exceptions.HTTPError as exc:
        # urllib3's own errors while reading the body, as requests would have wrapped them
        raise requests.exceptions.ConnectionError(str(exc)) from None


PAGE_CHUNK = 1 << 14


def parse_json(data: bytes, url: str, limits: Limits) -> Any:
    """``data`` as JSON (ValueError when it is not), refusing nesting deeper than the limit
    with a message, never a RecursionError."""
    import json

    host = host_of(url)
    too_deep = TooMuch(
        f"{host} answered with JSON nested deeper than {limits.max_depth} levels, which no "
        "real answer is; pipmodels refused it.",
        "Check the URL: it must serve the JSON document pipmodels expects.",
    )
    try:
        value = json.loads(data)
    except RecursionError:
        raise too_deep from None
    if _depth_exceeds(value, limits.max_depth):
        raise too_deep
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


@dataclass(frozen=True)
class Page:
    """A page read whole within the limits: what callers need of the answer."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    encoding: str | None
    is_redirect: bool
    limits: Limits
    url: str

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON, TooMuch when it nests too deep."""
        return parse_json(self.content, self.url, self.limits)


def _check_status(status: int, shown: str, where: str, had_credentials: bool) -> None:
    if status in (401, 403):
        what = "refused the credentials" if had_credentials else "asks for credentials"
        raise PipmodelsError(
            f"{where}: the server {what} for {shown} (HTTP {status}).",
            "Check the key in the URL or its ${VAR}, then run again."
            if had_credentials
            else "Add the key to the URL (https://${KEY}@host/...) or to your netrc file.",
        )
    if status != 200:
        raise PipmodelsError(
            f"{where}: {shown} answered HTTP {status}.", "Check the URL in a browser."
        )


def archive_filename(url: str, headers: Mapping[str, str], *, where: str) -> str:
    """The archive's name: the URL's last path segment, else Content-Disposition; made safe."""
    from_url = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if is_archive_name(from_url):
        return safe_filename(from_url, what=where)
    disposition = _disposition_filename(headers.get("Content-Disposition", ""))
    if disposition:
        return safe_filename(disposition, what=f"{where} (Content-Disposition)")
    return safe_filename(from_url, what=where)


def _disposition_filename(header: str) -> str | None:
    from email.message import Message

    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return unquote(name) if name else None


@contextmanager
def client(
    environ: Mapping[str, str], redactor: Redactor, creds: Sequence[Credential]
) -> Iterator[Client]:
    http = Client(Policy.from_environment(environ), redactor, creds)
    try:
        yield http
    finally:
        http.session.close()
