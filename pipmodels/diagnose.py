"""Turning a failed ``pip download`` into one paragraph a person can act on.

pip reports a rejected key on a find-links page only as "No matching distribution found", so
pipmodels asks the hosts itself what went wrong.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from pipmodels.credentials import Redactor, env_var_names, expand, redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.reqfile import URL_START, Line
from pipmodels.runner import Result

LOCATION_OPTIONS = ("-f", "--find-links", "-i", "--index-url", "--extra-index-url")
PROBE_TIMEOUT = 15


def explain_download_failure(
    line: Line,
    options: Sequence[Line],
    result: Result,
    environ: Mapping[str, str],
    redactor: Redactor,
) -> PipmodelsError:
    where = line.where
    shown = redactor(line.text)
    output = result.output
    if "DO NOT MATCH THE HASHES" in output:
        return PipmodelsError(
            f"{where}: the file downloaded for {shown} does not match its --hash. Nothing was "
            "added to the cache.",
            "If the file changed on purpose, update the --hash; otherwise do not trust the source.",
        )
    mismatch = re.search(
        r"has inconsistent (name|version): expected '(.*)', but metadata has '(.*)'", output
    )
    if mismatch:
        what, expected, actual = mismatch.groups()
        return PipmodelsError(
            f"{where}: the archive for {shown} is mislabelled: its filename says {what} "
            f"{expected!r} but its metadata says {actual!r}. Nothing was added to the cache.",
            "Use the archive under its real name, or rebuild it with matching metadata.",
        )
    if re.search(r"Wheel '.*' located at .* is invalid|BadZipFile|not a zip file", output):
        return PipmodelsError(
            f"{where}: what {shown} served is not a readable package archive (an HTML page, a "
            "sign-in form or a truncated file). Nothing was added to the cache.",
            "Open the URL in a browser: it must download the .whl, .tar.gz or .zip itself.",
        )
    for text in [line.text] + [o.text for o in options]:
        for url in _urls(text):
            problem = _probe(expand(url, environ))
            if problem:
                variables = env_var_names(text)
                check = (
                    f"Check {', '.join(variables)}" if variables else "Check the URL and its key"
                )
                return PipmodelsError(
                    f"{where}: {problem} at {redact_url(redactor(url))}.",
                    f"{check} (in your environment or .env file), then run again.",
                )
    if "No matching distribution found" in output or "Could not find a version" in output:
        return PipmodelsError(
            f"{where}: no package matching {shown} was found on the configured find-links pages "
            "or indexes.",
            "Check the name and version, and that the page or index lists it.",
        )
    tail = "\n".join("    " + row for row in output.splitlines()[-12:])
    return PipmodelsError(
        f"{where}: pip download failed for {shown} (exit {result.returncode}):\n{tail}\n",
        "Rerun with -v for pip's full output.",
    )


def _urls(text: str) -> list[str]:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    urls = []
    for index, word in enumerate(words):
        option, _, value = word.partition("=")
        if option in LOCATION_OPTIONS:
            value = value or (words[index + 1] if index + 1 < len(words) else "")
        else:
            value = word
        if URL_START.match(value) and value.startswith(("http://", "https://")):
            urls.append(value)
    return urls


def _probe(url: str) -> str | None:
    """What is wrong with ``url`` from here, or None when it answers normally."""
    import requests  # only on failure: keeps it off the start-up path of every run

    try:
        with requests.get(url, timeout=PROBE_TIMEOUT, stream=True) as response:
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
