"""GitHub's REST API, as far as release assets go: every release of a repository, every asset.

The token travels in the ``Authorization`` header to the API's own host and nowhere else: not
into messages, not into the response cache, not to any other host a ``Link`` header names.
Answers are kept with their ``ETag`` so that a repeat run asks with ``If-None-Match`` and
GitHub's ``304 Not Modified`` costs no rate-limit quota. The client is in githubapi.py.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from pipmodels import console, http
from pipmodels.credentials import Redactor
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import filename_problem
from pipmodels.githubapi import (
    DEFAULT_API_URL,
    SHA256,
    ApiClient,
    ApiSettings,
    Counts,
    ResponseCache,
    Slim,
    settings_from_environment,
)

__all__ = ["ApiSettings", "Asset", "Releases", "fetch_releases", "settings_from_environment"]


# -- releases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    sha256: str | None
    tag: str


@dataclass(frozen=True)
class Releases:
    repo: str
    assets: tuple[Asset, ...]
    listed: int  # releases the list endpoint gave
    capped: bool  # the list endpoint stopped before the end
    through_tags: int  # releases fetched one by one through the tags
    tags_without_release: int
    drafts: int


def parse_repo(text: str) -> tuple[str, str]:
    owner, sep, repo = text.strip().strip("/").partition("/")
    if not sep or not owner or not repo or "/" in repo:
        raise PipmodelsError(
            f"{text!r} is not OWNER/REPO.",
            "Write it as github:OWNER/REPO, e.g. github:explosion/spacy-models.",
        )
    return owner, repo.removesuffix(".git")


def cache_file(settings: ApiSettings, owner: str, repo: str) -> Path | None:
    if settings.cache_dir is None:
        return None
    key = hashlib.sha256(f"{settings.api_url}/{owner}/{repo}".lower().encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{owner}--{repo}")
    return settings.cache_dir / f"{safe}-{key}.json"


def fetch_releases(
    repo_spec: str,
    settings: ApiSettings,
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Releases:
    """Every release of ``OWNER/REPO`` with its assets, past the list endpoint's 1,000 too."""
    owner, repo = parse_repo(repo_spec)
    cache = ResponseCache(cache_file(settings, owner, repo))
    redactor = Redactor()
    redactor.add([settings.token] if settings.token else [])
    web = http.Client(settings.policy, redactor, sleep=sleep)
    if session is not None:
        web.session = session
    client = ApiClient(settings, cache, web)
    complete = False
    try:
        releases = _walk(client, owner, repo)
        complete = True
        return releases
    finally:
        cache.save(complete=complete)
        _report_counts(client.counts, settings)


def _walk(client: ApiClient, owner: str, repo: str) -> Releases:
    base = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
    per_page = f"per_page={client.settings.per_page}"
    console.info(f"Listing the releases of {owner}/{repo} on {client.settings.host}")
    listed, cut = _all_pages(client, client.url(f"{base}/releases?{per_page}"), _slim_releases)
    by_tag = {r["tag"]: r for r in listed}
    capped = cut or len(listed) >= client.settings.list_cap
    through_tags = no_release = 0
    if capped:
        tags, _ = _all_pages(client, client.url(f"{base}/tags?{per_page}"), _slim_tags)
        unseen = [t for t in tags if t["name"] not in by_tag]
        console.info(
            f"  the list endpoint stopped at {len(listed)}; asking for {len(unseen)} of "
            f"{len(tags)} tags one by one"
        )
        for tag in unseen:
            answer = client.get(
                client.url(f"{base}/releases/tags/{quote(tag['name'], safe='')}"),
                slim=_slim_release,
                allow=frozenset({404}),
                absent_key=tag["sha"],
            )
            if answer.status == 404:
                no_release += 1
            else:
                by_tag.setdefault(answer.body["tag"], answer.body)
                through_tags += 1
    drafts = sum(1 for r in by_tag.values() if r["draft"])
    assets = tuple(
        Asset(a["name"], a["url"], a["sha256"], r["tag"])
        for r in by_tag.values()
        if not r["draft"]  # a draft's assets download for its editors only
        for a in r["assets"]
        if _usable_asset(a, r["tag"])
    )
    _report_walk(len(listed), capped, through_tags, no_release, drafts)
    return Releases(
        f"{owner}/{repo}", assets, len(listed), capped, through_tags, no_release, drafts
    )


def _all_pages(client: ApiClient, url: str, slim: Slim) -> tuple[list[Any], bool]:
    """Every item of a paginated list, and whether the list was cut off (422 past its cap)."""
    items: list[Any] = []
    seen: set[str] = set()
    unchanged = True  # every page so far answered 304: the cut, if any, is where it was
    next_url: str | None = url
    while next_url and next_url not in seen:
        if len(seen) >= client.settings.policy.limits.max_pages:
            raise PipmodelsError(
                f"{http.host_of(url)} kept naming a next page after "
                f"{client.settings.policy.limits.max_pages} pages of one list; pipmodels stopped "
                "following it.",
                f"Check GITHUB_API_URL. If the list is that long on purpose, raise "
                f"{http.ENV_MAX_PAGES}.",
            )
        seen.add(next_url)
        record = client.cache.get(next_url)
        if items and unchanged and record is not None and record.get("cut"):
            client.counts.remembered += 1
            return items, True
        answer = client.get(next_url, slim=slim, allow=frozenset({422}) if items else frozenset())
        if answer.status == 422:
            client.cache.put(next_url, {"cut": True})
            return items, True
        unchanged = unchanged and answer.from_cache
        items.extend(answer.body)
        next_url = answer.next_url
    return items, False


def _slim_releases(body: Any) -> list[dict[str, Any]]:
    return [_slim_release(r) for r in _expect(body, list)]


def _slim_release(body: Any) -> dict[str, Any]:
    """What the links need of a release; the rest (notes, uploaders) is not worth keeping."""
    release = _expect(body, dict)
    return {
        "tag": str(release.get("tag_name", "")),
        "draft": bool(release.get("draft")),
        "assets": [
            {
                "name": str(a["name"]),
                "url": str(a["browser_download_url"]),
                "sha256": _sha256(a.get("digest")),
            }
            for a in release.get("assets") or []
            if isinstance(a, dict) and a.get("name") and a.get("browser_download_url")
        ],
    }


def _usable_asset(asset: dict[str, Any], tag: str) -> bool:
    """Whether an asset may go on a links page: a plain file name and an http(s) download URL.

    Checked after the response cache too, so that an answer kept by an older run, or a cache
    file someone edited, is held to the same rule as a fresh one.
    """
    name, url = asset.get("name"), asset.get("url")
    problem = filename_problem(name) if isinstance(name, str) else "it is not text"
    if problem is None and not _download_url(url):
        problem = "its download URL is not an http(s) URL"
    if problem is None:
        return True
    console.warn(
        f"left out the asset {ascii(str(name))[:60]} of release {ascii(tag)[:40]}: {problem}"
    )
    return False


def _download_url(url: Any) -> bool:
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [ in the host, a port that is not a number
        return False


def _slim_tags(body: Any) -> list[dict[str, str]]:
    return [
        {"name": str(t["name"]), "sha": str((t.get("commit") or {}).get("sha", ""))}
        for t in _expect(body, list)
        if isinstance(t, dict) and t.get("name")
    ]


def _sha256(digest: Any) -> str | None:
    match = SHA256.fullmatch(digest) if isinstance(digest, str) else None
    return match.group(1) if match else None


def _expect(body: Any, kind: type) -> Any:
    if not isinstance(body, kind):
        raise PipmodelsError(
            f"GitHub answered with a JSON {type(body).__name__} where a {kind.__name__} was "
            "expected.",
            "Check GITHUB_API_URL: it must be the REST API root.",
        )
    return body


def _report_walk(
    listed: int, capped: bool, through_tags: int, no_release: int, drafts: int
) -> None:
    if capped:
        extra = f" ({no_release} tags have no release)" if no_release else ""
        console.info(
            f"listed {listed} releases; the list endpoint stops at {listed}, fetched "
            f"{through_tags} more through tags{extra}"
        )
    else:
        console.info(f"listed {listed} releases")
    if drafts:
        console.info(f"  left out the assets of {drafts} draft release(s)")


def _report_counts(counts: Counts, settings: ApiSettings) -> None:
    where = "GitHub" if settings.api_url == DEFAULT_API_URL else settings.host
    text = f"  {_plural(counts.sent, 'request')} to {where}"
    if counts.not_modified:
        text += f", {counts.not_modified} answered 304 Not Modified (no quota used)"
    if counts.remembered:
        text += f"; {counts.remembered} answer(s) known from the last run were not asked again"
    console.info(text)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
