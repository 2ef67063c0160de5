"""The find-links page format: one ``<a>`` per archive, sorted, escaped, with sha256 fragments.

pip reads nothing else from such a page; the same links always give the same bytes.
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
