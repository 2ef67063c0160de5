"""The GitHub REST API client: settings, conditional requests, and errors a person can act on.

The token travels in the ``Authorization`` header to the API's own host and nowhere else: not
into messages, not into the response cache, not to any other host a ``Link`` header names.
Answers are kept with their ``ETag`` so that a repeat run asks with ``If-None-Match`` and
GitHub's ``304 Not Modified`` costs no rate-limit quota.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from pipmodels import __version__, console, http
from pipmodels.credentials import Origin, redact_url, strip_userinfo
from pipmodels.errors import PipmodelsError
from pipmodels.files import atomic_write
from pipmodels.statedir import state_home

DEFAULT_API_URL = "https://api.github.com"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
CACHE_DIR_VARIABLE = "PIPMODELS_GITHUB_CACHE_DIR"
PER_PAGE = 100  # the most GitHub gives per page
# GitHub's API gets one more retry and a longer first wait than a download.
API_POLICY = http.Policy(connect_timeout=30.0, read_timeout=30.0, retries=4, backoff=1.0)
LIST_CAP = 1000  # the releases list answers 422 "Only the first 1000 results are available"
SHA256 = re.compile(r"sha256:([0-9a-f]{64})")

Slim = Callable[[Any], Any]


@dataclass(frozen=True)
class ApiSettings:
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    cache_dir: Path | None = None  # where answers and their ETags are kept; None keeps none
    per_page: int = PER_PAGE
    list_cap: int = LIST_CAP
    # Timeouts and retries (5xx answers, dropped connections), as the one HTTP door takes them
    policy: http.Policy = API_POLICY

    @property
    def host(self) -> str:
        return urlsplit(strip_userinfo(self.api_url)).netloc


def settings_from_environment(
    environ: Mapping[str, str], *, cache_dir: Path | None = None
) -> ApiSettings:
    """Settings from ``GITHUB_API_URL`` (set by Actions and Enterprise) and the token variables."""
    api_url = (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    token = next((environ[n] for n in TOKEN_VARIABLES if environ.get(n, "").strip()), None)
    if cache_dir is None:
        cache_dir = default_cache_dir(environ)
    return ApiSettings(
        api_url=api_url,
        token=token and token.strip(),
        cache_dir=cache_dir,
        policy=dataclasses.replace(API_POLICY, limits=http.Limits.from_environment(environ)),
    )


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    if environ.get(CACHE_DIR_VARIABLE):
        return Path(environ[CACHE_DIR_VARIABLE])
    return state_home(environ) / "github"


# -- the response cache ------------------------------------------------------------------------


class ResponseCache:
    """Answers by URL with their ETag, in one JSON file; the entries a run did not use are dropped.

    URLs only, never a header: nothing secret is written here.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[str, dict[str, Any]] = {}
        self._new: dict[str, dict[str, Any]] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError, RecursionError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("responses"), dict):
                    self._old = data["responses"]

    def get(self, url: str) -> dict[str, Any] | None:
        record = self._new.get(url) or self._old.get(url)
        if record is not None:
            self._new[url] = record
        return record

    def put(self, url: str, record: dict[str, Any]) -> None:
        self._new[url] = record

    def save(self, *, complete: bool) -> None:
        """Keep what this run used; after a run cut short (a rate limit), keep the rest too."""
        keep = self._new if complete else {**self._old, **self._new}
        if self.path is None or keep == self._old:
            return
        text = json.dumps({"responses": keep}, sort_keys=True, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(self.path, text + "\n")
        except OSError as exc:
            console.warn(f"cannot keep GitHub's answers in {self.path}: {exc.strerror}")


# -- the client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    next_url: str | None
    from_cache: bool = False  # 304, or a remembered 404: no quota used


@dataclass
class Counts:
    sent: int = 0
    not_modified: int = 0
    remembered: int = 0


@dataclass
class ApiClient:
    settings: ApiSettings
    cache: ResponseCache
    web: http.Client
    counts: Counts = field(default_factory=Counts)

    def url(self, path: str) -> str:
        return self.settings.api_url + path

    def get(
        self,
        url: str,
        *,
        slim: Slim = lambda body: body,
        allow: frozenset[int] = frozenset(),
        absent_key: str | None = None,
    ) -> Answer:
        """GET ``url`` and return its JSON (through ``slim``), or raise a PipmodelsError.

        A status in ``allow`` comes back as an Answer instead of an error. With ``absent_key``
        a 404 is remembered for as long as the key stays the same, and not asked again.
        """
        record = self.cache.get(url)
        if record and absent_key is not None and record.get("absent") == absent_key:
            self.counts.remembered += 1
            return Answer(404, None, None, from_cache=True)
        etag = record.get("etag") if record else None
        response = self._send(url, etag)
        if response.status_code == 304 and record is not None and "body" in record:
            self.counts.not_modified += 1
            return Answer(200, record["body"], self._next(url, record.get("link")), True)
        if response.status_code == 200:
            body = slim(self._json(response, url))
            link = response.headers.get("Link")
            if response.headers.get("ETag"):
                self.cache.put(url, {"etag": response.headers["ETag"], "link": link, "body": body})
            return Answer(200, body, self._next(url, link))
        if response.status_code == 404 and absent_key is not None:
            self.cache.put(url, {"absent": absent_key})
        if response.status_code in allow:
            return Answer(response.status_code, None, None)
        raise _failure(response, self.shown(url), bool(self.settings.token))

    def shown(self, url: str) -> str:
        return redact_url(url)

    def _send(self, url: str, etag: str | None) -> http.Page:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"pipmodels/{__version__}",
        }
        if etag:
            headers["If-None-Match"] = etag
        if self.settings.token and Origin.of(url) == Origin.of(
            strip_userinfo(self.settings.api_url)
        ):
            headers["Authorization"] = f"Bearer {self.settings.token}"
        before = self.web.attempts
        try:
            return self.web.fetch_page(url, headers=headers, retry_when=_secondary_limit_wait)
        except requests.RequestException as exc:
            raise PipmodelsError(
                f"Cannot reach GitHub at {self.shown(url)}: {type(exc).__name__}.",
                "Check the network, or GITHUB_API_URL if you set it.",
            ) from None
        finally:
            self.counts.sent += self.web.attempts - before

    def _json(self, response: http.Page, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PipmodelsError(
                f"GitHub's answer to {self.shown(url)} is not JSON.",
                "Check GITHUB_API_URL: it must be the REST API root, e.g. "
                "https://github.example.com/api/v3.",
            ) from None

    def _next(self, url: str, link: str | None) -> str | None:
        if not link:
            return None
        for item in requests.utils.parse_header_links(link):
            if item.get("rel") == "next" and item.get("url"):
                next_url = item["url"]
                if urlsplit(next_url).netloc != urlsplit(url).netloc:
                    raise PipmodelsError(
                        f"GitHub's next page for {self.shown(url)} is on another host "
                        f"({urlsplit(next_url).netloc}).",
                        "Check GITHUB_API_URL; pipmodels sends the token to its host only.",
                    )
                return next_url
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _secondary_limit_wait(response: requests.Response) -> float | None:
    """A secondary rate limit worth waiting out (a minute or less): retry after that long."""
    wait = _secondary_limit(response)
    return wait if wait is not None and wait <= 60 else None


def _secondary_limit(response: requests.Response) -> float | None:
    """Seconds GitHub asks to wait after a secondary rate limit, or None."""
    if response.status_code in (403, 429) and response.headers.get("X-RateLimit-Remaining") != "0":
        return _number(response.headers.get("Retry-After"))
    return None


def _failure(response: http.Page, shown: str, has_token: bool) -> PipmodelsError:
    status = response.status_code
    try:
        message = str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        message = ""
    said = f" ({message})" if message else ""
    headers = response.headers
    if status in (403, 429) and headers.get("X-RateLimit-Remaining") == "0":
        return _rate_limited(headers, has_token)
    if status in (403, 429) and headers.get("Retry-After"):
        return PipmodelsError(
            f"GitHub's secondary rate limit: it asks to wait {headers['Retry-After']}s "
            f"before {shown}.",
            "Run again later.",
        )
    if status == 401:
        return PipmodelsError(
            f"GitHub rejected the token{said}.",
            "Check GITHUB_TOKEN or GH_TOKEN: it may have expired or been revoked.",
        )
    if status == 404:
        return PipmodelsError(
            f"GitHub answered 404 Not Found to {shown}.",
            "Check OWNER/REPO; for a private repository set GITHUB_TOKEN to a token that can "
            "read it."
            if not has_token
            else "Check OWNER/REPO, and that the token can read that repository.",
        )
    return PipmodelsError(
        f"GitHub answered {status} to {shown}{said}.",
        "Rerun with -v to see every request; a 5xx was retried before giving up.",
    )


def _rate_limited(headers: Mapping[str, str], has_token: bool) -> PipmodelsError:
    reset = _number(headers.get("X-RateLimit-Reset"))
    limit = headers.get("X-RateLimit-Limit", "?")
    when = "later"
    if reset is not None:
        minutes = max(0, round((reset - time.time()) / 60))
        when = f"at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(reset))} (in {minutes} min)"
    who = "this token" if has_token else "unauthenticated requests from this address"
    return PipmodelsError(
        f"GitHub's rate limit is used up: {limit} requests an hour for {who}; it resets {when}.",
        "Run again after the reset; answers fetched so far are kept and cost nothing then."
        if has_token
        else "Set GITHUB_TOKEN (or GH_TOKEN) to a token to get 5,000 requests an hour, or run "
        "again after the reset.",
    )
