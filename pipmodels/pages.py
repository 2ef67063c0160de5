"""The find-links page format: one ``<a>`` per archive, with ``#sha256=`` where known.

A page lists one ``<a>`` per archive, sorted, HTML-escaped, with ``#sha256=`` where the digest is
known, which is all pip's find-links parser reads. The same input always gives the same bytes.
Both the cache (:mod:`pipmodels.cache`) and the other pages (:mod:`pipmodels.links`) write it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    filename: str
    href: str  # without the fragment
    sha256: str | None = None


def render_page(links: Iterable[Link], title: str) -> str:
    """The page: sorted by filename, then URL, so that the same links give the same bytes."""
    rows = []
    for link in sorted(links, key=lambda k: (k.filename, k.href)):
        href = link.href + (f"#sha256={link.sha256}" if link.sha256 else "")
        rows.append(f'<a href="{html.escape(href)}">{html.escape(link.filename)}</a><br>')
    body = "\n".join(rows)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head><body>\n"
        f"{body}\n</body></html>\n"
    )
