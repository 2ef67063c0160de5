"""``pipmodels links``: find-links pages of a GitHub repository's release assets or of a local
model cache, in the format of :mod:`pipmodels.pages`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import is_archive_name
from pipmodels.files import write_or_explain
from pipmodels.pages import Link, render_page

if TYPE_CHECKING:
    from pipmodels import github

__all__ = [  # Link and render_page live in pages.py; kept importable from here
    "AssetFilter",
    "Link",
    "LinksOptions",
    "build_page",
    "cache_links",
    "github_links",
    "links",
    "parse_patterns",
    "render_page",
    "write_page",
]

GITHUB_PREFIX = "github:"


@dataclass(frozen=True)
class AssetFilter:
    patterns: tuple[str, ...] = ()  # globs on the filename; any may match; none keeps all
    archives_only: bool = True

    def keeps(self, filename: str) -> bool:
        if self.archives_only and not is_archive_name(filename):
            return False
        return not self.patterns or any(fnmatch.fnmatchcase(filename, p) for p in self.patterns)


@dataclass(frozen=True)
class LinksOptions:
    source: str  # "github:OWNER/REPO" or a cache folder
    output: Path | None = None  # None: stdout
    asset_filter: AssetFilter = AssetFilter()
    github_cache_dir: Path | None = None


def build_page(options: LinksOptions, environ: Mapping[str, str]) -> tuple[str, int]:
    """The page for ``options.source`` and how many links it holds."""
    if options.source.startswith(GITHUB_PREFIX):
        from pipmodels import github

        repo = options.source[len(GITHUB_PREFIX) :]
        settings = github.settings_from_environment(environ, cache_dir=options.github_cache_dir)
        links = github_links(github.fetch_releases(repo, settings), options.asset_filter)
        title = f"Release assets of {repo}"
    else:
        links = cache_links(Path(options.source), options.output)
        title = "pipmodels cache"
    return render_page(links, title), len(links)


def github_links(releases: github.Releases, asset_filter: AssetFilter) -> list[Link]:
    links = [Link(a.name, a.url, a.sha256) for a in releases.assets if asset_filter.keeps(a.name)]
    left_out = len(releases.assets) - len(links)
    without = sum(1 for k in links if k.sha256 is None)
    console.info(
        f"{len(links)} of {len(releases.assets)} assets kept"
        + (f" ({left_out} left out by the filters)" if left_out else "")
        + (f"; {without} carry no sha256 (GitHub has no digest for them)" if without else "")
    )
    if not links:
        console.warn(f"no asset of {releases.repo} passed the filters; the page is empty")
    return links


def cache_links(root: Path, output: Path | None) -> list[Link]:
    """The cache's verified archives, linked relative to the page's folder (default: the cache)."""
    from pipmodels.cache import MANIFEST, Cache

    cache = Cache(root)
    if not root.is_dir():
        raise PipmodelsError(
            f"{root} is neither a folder nor github:OWNER/REPO.",
            "Give a pipmodels cache folder, or github:OWNER/REPO for a repository's releases.",
        )
    if not (cache.state / MANIFEST).is_file():
        raise PipmodelsError(
            f"{root} is not a pipmodels cache (it has no {cache.state.name}/{MANIFEST}).",
            "Fill it first with `pipmodels download --cache-dir`, or give the right folder.",
        )
    page_dir = (output.absolute().parent if output is not None else cache.root).resolve()
    links = cache.links(page_dir)
    console.info(f"{len(links)} archive(s) in {cache.root}")
    return links


def write_page(text: str, output: Path) -> None:
    write_or_explain(output, text, hint="Check that its folder exists and is writable.")


def links(options: LinksOptions, environ: Mapping[str, str]) -> str | None:
    """Build the page; write it to ``options.output`` and return None, or return it for stdout."""
    text, count = build_page(options, environ)
    if options.output is None:
        return text
    write_page(text, options.output)
    console.info(f"wrote {count} link(s) to {options.output}")
    return None


def parse_patterns(values: Sequence[str]) -> tuple[str, ...]:
    """``--match`` values; commas separate patterns too (``en_*,de_*``)."""
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())
