"""A GitHub-like REST API on 127.0.0.1, with the habits of the real one that matter to a client.

- ``GET /repos/O/R/releases`` pages with ``Link`` headers (``/repositories/ID/...`` URLs, as
  GitHub writes them) and stops at ``list_cap`` results: the page past it answers
  ``422 Only the first 1000 results are available.``, as api.github.com does.
- ``GET /repos/O/R/tags`` pages without a cap; ``GET /repos/O/R/releases/tags/T`` gives one
  release, or 404 for a tag without one.
- Every JSON answer has a strong ``ETag``; ``If-None-Match`` with it gets ``304`` and, as on
  GitHub, costs no quota.
- ``X-RateLimit-*`` headers count a quota down; at zero the answer is ``403`` with
  ``X-RateLimit-Remaining: 0``.
- ``fail(path, times)`` answers the next requests for a path with ``502``.
- Release assets download from ``/O/R/releases/download/T/NAME`` with a redirect to a blob.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.servers import LocalHost

REPO_ID = 84940268


@dataclass
class FakeAsset:
    name: str
    data: bytes
    digest: str | None  # "sha256:..." as GitHub shows it, or None where GitHub has none

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class FakeRelease:
    tag: str
    assets: list[FakeAsset] = field(default_factory=list)
    draft: bool = False


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it, and its answer's status."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    status: int


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class GitHubAPI(LocalHost):
    def __init__(self, owner_repo: str = "explosion/spacy-models", *, list_cap: int = 1000) -> None:
        self.owner_repo = owner_repo
        self.list_cap = list_cap
        self.releases: list[FakeRelease] = []  # newest first, as the list endpoint gives them
        self.bare_tags: list[str] = []  # tags that have no release
        self.token: str | None = None  # when set, any other Authorization gets 401
        self.quota = 5000
        self.remaining = 5000
        self.reset_at = int(time.time()) + 3600
        self.failures: dict[str, int] = {}
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out apart: no 40 ms stalls

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with api._lock:
                    reply = api._answer(unquote(parts.path), parse_qs(parts.query), headers)
                    api.log.append(
                        Seen(unquote(parts.path), parse_qs(parts.query), headers, reply.status)
                    )
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.serve(_Handler)

    # -- building the world ---------------------------------------------------------------------

    def add_release(
        self,
        tag: str,
        archives: Sequence[Path] = (),
        *,
        digest: bool = True,
        draft: bool = False,
        files: dict[str, bytes] | None = None,
    ) -> FakeRelease:
        """A release older than every one added before (the list gives the newest first).

        Its assets are ``archives`` and ``files`` (name -> bytes); ``digest`` says whether GitHub
        shows their sha256 (it does for assets uploaded since mid-2025).
        """
        contents = {a.name: a.read_bytes() for a in archives} | (files or {})
        assets = [
            FakeAsset(name, data, f"sha256:{hashlib.sha256(data).hexdigest()}" if digest else None)
            for name, data in contents.items()
        ]
        release = FakeRelease(tag, assets, draft)
        self.releases.append(release)
        return release

    def add_many(self, count: int, *, bare_tags: int = 0) -> None:
        """``count`` releases of two assets each, every third without a digest, and tags
        without a release, the way a repository with years of model releases looks."""
        for i in range(count):
            version = f"3.{i // 10}.{i % 10}"
            self.add_release(
                f"xx_model_{i:04d}-{version}",
                files={
                    f"xx_model_{i:04d}-{version}-py3-none-any.whl": f"wheel {i}".encode(),
                    f"xx_model_{i:04d}-{version}.tar.gz": f"sdist {i}".encode(),
                },
                digest=i % 3 != 0,
            )
        self.bare_tags += [f"v0.{i}" for i in range(bare_tags)]

    def asset_url(self, release: FakeRelease, asset: FakeAsset) -> str:
        tag, name = quote(release.tag), quote(asset.name)
        return f"{self.url}/{self.owner_repo}/releases/download/{tag}/{name}"

    def expected_links(self) -> set[tuple[str, str | None]]:
        """(URL, sha256 or None) of every asset of every published release."""
        return {
            (self.asset_url(r, a), a.digest.split(":", 1)[1] if a.digest else None)
            for r in self.releases
            if not r.draft
            for a in r.assets
        }

    def fail(self, path: str, times: int = 1) -> None:
        self.failures[path] = times

    def api_requests(self) -> list[Seen]:
        return [s for s in self.log if s.path.startswith(("/repos/", "/repositories/"))]

    def downloads(self) -> list[Seen]:
        return [s for s in self.log if "/releases/download/" in s.path]

    # -- answering ------------------------------------------------------------------------------

    def _answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        if "/releases/download/" in path or path.startswith("/blob/"):
            return self._download(path)
        if self.failures.get(path):
            self.failures[path] -= 1
            return self._json(502, {"message": "Server Error"}, headers)
        auth = headers.get("authorization")
        if auth is not None and self.token is not None and auth != f"Bearer {self.token}":
            return self._json(401, {"message": "Bad credentials"}, headers)
        status, body, link = self._route(path, query)
        return self._json(status, body, headers, link)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, str | None]:
        page = int(query.get("page", ["1"])[0])
        per_page = min(100, int(query.get("per_page", ["30"])[0]))
        for prefix in (f"/repos/{self.owner_repo}", f"/repositories/{REPO_ID}"):
            if path == f"{prefix}/releases":
                return self._releases_page(page, per_page)
            if path == f"{prefix}/tags":
                return self._paged("tags", self._tags(), page, per_page, cap=None)
            if path.startswith(f"{prefix}/releases/tags/"):
                tag = path[len(f"{prefix}/releases/tags/") :]
                found = [r for r in self.releases if r.tag == tag and not r.draft]
                if not found:
                    return 404, {"message": "Not Found"}, None
                return 200, self._release_json(found[0]), None
        return 404, {"message": "Not Found"}, None

    def _releases_page(self, page: int, per_page: int) -> tuple[int, Any, str | None]:
        visible = [r for r in self.releases if not r.draft or self.token is not None]
        if (page - 1) * per_page >= self.list_cap:
            return 422, {"message": f"Only the first {self.list_cap} results are available."}, None
        items = [self._release_json(r) for r in visible]
        return self._paged("releases", items, page, per_page, cap=self.list_cap)

    def _paged(
        self, what: str, items: list[Any], page: int, per_page: int, cap: int | None
    ) -> tuple[int, Any, str | None]:
        start = (page - 1) * per_page
        end = start + per_page if cap is None else min(start + per_page, cap)
        link = None
        if start + per_page < len(items):  # GitHub offers a next page even past its cap
            base = f"{self.url}/repositories/{REPO_ID}/{what}?per_page={per_page}"
            last = (len(items) + per_page - 1) // per_page
            link = f'<{base}&page={page + 1}>; rel="next", <{base}&page={last}>; rel="last"'
        return 200, items[start:end], link

    def _tags(self) -> list[Any]:
        published = [r.tag for r in self.releases if not r.draft]  # a draft makes no tag
        names = sorted(published + self.bare_tags, reverse=True)
        return [
            {"name": n, "commit": {"sha": hashlib.sha1(n.encode()).hexdigest(), "url": ""}}
            for n in names
        ]

    def _release_json(self, release: FakeRelease) -> dict[str, Any]:
        return {
            "id": abs(hash(release.tag)) % 10**8,
            "tag_name": release.tag,
            "name": release.tag,
            "draft": release.draft,
            "prerelease": False,
            "body": "Release notes. " * 40,
            "author": {"login": "explosion-bot", "id": 1},
            "assets": [
                {
                    "id": abs(hash(a.name)) % 10**8,
                    "name": a.name,
                    "size": len(a.data),
                    "digest": a.digest,
                    "content_type": "application/octet-stream",
                    "uploader": {"login": "explosion-bot", "id": 1},
                    "browser_download_url": self.asset_url(release, a),
                }
                for a in release.assets
            ],
        }

    def _json(
        self, status: int, body: Any, headers: dict[str, str], link: str | None = None
    ) -> Reply:
        data = json.dumps(body).encode()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        reply_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": str(self.quota),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if status == 200 and headers.get("if-none-match") == etag:
            reply_headers["X-RateLimit-Remaining"] = str(self.remaining)
            reply_headers["ETag"] = etag
            return Reply(304, b"", reply_headers)  # costs no quota, as on GitHub
        if self.remaining <= 0:
            reply_headers["X-RateLimit-Remaining"] = "0"
            message = {"message": "API rate limit exceeded for 127.0.0.1."}
            return Reply(403, json.dumps(message).encode(), reply_headers)
        self.remaining -= 1
        reply_headers["X-RateLimit-Remaining"] = str(self.remaining)
        if status == 200:
            reply_headers["ETag"] = etag
        if link:
            reply_headers["Link"] = link
        return Reply(status, data, reply_headers)

    def _download(self, path: str) -> Reply:
        for release in self.releases:
            for asset in release.assets:
                blob = f"/blob/{asset.sha256}"
                if path == f"/{self.owner_repo}/releases/download/{release.tag}/{asset.name}":
                    return Reply(302, b"", {"Location": self.url + blob})
                if path == blob:
                    return Reply(
                        200,
                        asset.data,
                        {
                            "Content-Type": "application/octet-stream",
                            "Content-Disposition": f"attachment; filename={asset.name}",
                        },
                    )
        return Reply(404, b"not found")
