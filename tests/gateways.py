"""The gateway as the tests meet it: one started for a local origin's key, and a fetch that
does what a child does (no redirect followed, the answer's status, body and headers)."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator

from pipmodels.credentials import Credential, Origin
from pipmodels.gateway import Gateway, Upstream
from tests.servers import Server


@contextlib.contextmanager
def gateway_for(server: Server, key: str) -> Iterator[Gateway]:
    """A gateway holding ``key`` for ``server``'s origin (login ``key``, no password)."""
    origin = Origin.of(server.url)
    assert origin is not None
    gateway = Gateway([Credential(origin, key, "")], Upstream(timeout=(5, 5)))
    try:
        yield gateway
    finally:
        gateway.close()


def fetch(url: str, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url`` as a child would, following no redirect."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
