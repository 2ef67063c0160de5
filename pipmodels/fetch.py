"""Downloads that pip refuses: archive URLs whose filename carries no valid version.

Hugging Face serves spaCy pipelines as ``en_core_web_sm-any-py3-none-any.whl``; pip rejects that
name before fetching it, so pipmodels fetches such a file itself and names it from its metadata.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipmodels.archives import name_from_filename
from pipmodels.credentials import redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.reqfile import is_archive_name

CHUNK = 1 << 20
TIMEOUT = 60


def pip_can_fetch(url: str) -> bool:
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return not (is_archive_name(filename) and name_from_filename(filename) is None)


def fetch(url: str, dest: Path, *, where: str) -> Path:
    """Stream ``url`` (credentials expanded, in memory only) into ``dest``; return the file."""
    import requests

    shown = redact_url(url)
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    target = dest / filename
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code in (401, 403):
                raise PipmodelsError(
                    f"{where}: the server refused the credentials for {shown} "
                    f"(HTTP {response.status_code}).",
                    "Check the key in the URL or its ${VAR}, then run again.",
                )
            if response.status_code != 200:
                raise PipmodelsError(
                    f"{where}: {shown} answered HTTP {response.status_code}.",
                    "Check the URL in a browser.",
                )
            with target.open("wb") as stream:
                for chunk in response.iter_content(CHUNK):
                    stream.write(chunk)
    except requests.exceptions.RequestException as exc:
        raise PipmodelsError(
            f"{where}: downloading {shown} failed ({type(exc).__name__}).",
            "Check the network and the URL, then run again.",
        ) from None
    return target
