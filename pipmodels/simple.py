"""Reading package indexes: PEP 503 simple pages and find-links pages, and their files.

Both are HTML with one ``<a href>`` per archive, ``#sha256=`` where the index knows the digest;
devpi links relatively, pypiserver absolutely. The team mirror and ``pipmodels publish`` read
indexes through this module only, with the one HTTP client (:mod:`pipmodels.http`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests

from pipmodels import http
from pipmodels.credentials import strip_userinfo
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name, is_archive_name, safe_filename

MAX_REDIRECTS = 5
_SHA256 = re.compile(r"(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)")


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str  # absolute, without the fragment
    sha256: str | None = None  # lower-case hex, when the page gives it


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if href is None:
            return
        if tag == "a":
            self.hrefs.append(href)
        elif tag == "base" and self.base is None:
            self.base = href


def parse_page(text: str, page_url: str) -> list[IndexFile]:
    """The archives a simple or find-links page links to, resolved against ``page_url``.

    A link counts when its last path segment is a safe archive filename (``.whl``, ``.tar.gz``,
    ``.zip``...); project links of an index root and anything else are left out.
    """
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for href in parser.hrefs:
        url = urljoin(base, href)
        parts = urlsplit(url)
        filename = safe_archive_name(unquote(parts.path.rsplit("/", 1)[-1]))
        if filename is None:
            continue
        match = _SHA256.search(parts.fragment)
        sha256 = match.group(1).lower() if match else None
        files.append(IndexFile(filename, urlunsplit(parts._replace(fragment="")), sha256))
    return files


def safe_archive_name(raw: str) -> str | None:
    """``raw`` when it can be a file in the cache folder: an archive with a safe base name."""
    if not is_archive_name(raw):
        return None
    try:
        return safe_filename(raw, what="a link")
    except PipmodelsError:
        return None


def project_url(index_url: str, name: str) -> str:
    """PEP 503: the project page is the index URL plus the normalised name and a slash."""
    return index_url.rstrip("/") + "/" + canonical_name(name) + "/"


def get_page(web: http.Client, url: str) -> list[IndexFile] | None:
    """The files linked from the page at ``url``; None when it does not exist (HTTP 404/410).

    Redirects are followed on the same host only: pypiserver sends unknown projects to the public
    index, whose namesakes must never be taken for the team's files.
    """
    current = url
    try:
        for _ in range(MAX_REDIRECTS):
            response = web.fetch_page(current, follow_redirects=False)
            location = response.headers.get("location")
            if response.is_redirect and location:
                target = urljoin(strip_userinfo(current), location)
                if not _same_host(current, target):
                    return None
                current = _with_userinfo_of(current, target)
                continue
            if response.status_code in (404, 410):
                return None
            if response.status_code != 200:
                raise PipmodelsError(
                    f"{web.shown(url)} answered HTTP {response.status_code}.",
                    _auth_hint(response.status_code),
                )
            return parse_page(response.text, strip_userinfo(current))
    except requests.exceptions.RequestException as exc:
        raise PipmodelsError(
            f"Cannot read {web.shown(url)} ({type(exc).__name__}).",
            "Check the URL and the network.",
        ) from None
    raise PipmodelsError(f"{web.shown(url)} redirects too often.", "Check the URL.")


def is_index(web: http.Client, url: str) -> bool:
    """Whether ``url`` answers with an HTML page (a simple index's root), without reading it."""
    try:
        with web.send(url, stream=True) as response:
            kind = response.headers.get("content-type", "")
            return response.status_code == 200 and kind.startswith("text/html")
    except requests.exceptions.RequestException:
        return False


def _with_userinfo_of(original: str, target: str) -> str:
    """``target`` (same host) with the user-info ``original`` carried, as browsers keep it."""
    netloc = urlsplit(original).netloc
    if "@" not in netloc:
        return target
    return urlunsplit(urlsplit(target)._replace(netloc=netloc))


def _same_host(a: str, b: str) -> bool:
    return _host(a) == _host(b)


def _host(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _auth_hint(status: int) -> str:
    if status in (401, 403):
        return "Give the credentials in ~/.netrc (machine HOST login USER password PASSWORD)."
    return "Check the URL in a browser."


def locate(
    web: http.Client,
    pages: Sequence[tuple[str, bool]],
    name: str,
    wanted: Callable[[IndexFile], bool],
    seen: dict[str, list[IndexFile]],
) -> tuple[str | None, list[IndexFile]]:
    """The files of project ``name`` that are ``wanted``, from the first of ``pages`` (each an
    index root, True, or a find-links page, False) that lists any; with the index root they
    were found on (None for a find-links page). ``seen`` keeps pages read before."""
    for url, is_index in pages:
        page = project_url(url, name) if is_index else url
        if page not in seen:
            seen[page] = get_page(web, page) or []
        found = [f for f in seen[page] if wanted(f)]
        if found:
            return (url if is_index else None), found
    return None, []
