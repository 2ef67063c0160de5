"""Turning what went wrong in a download into one paragraph a person can act on, and asking the
package index about a model's name (namesakes and 999.9.9 placeholders).

pip reports a rejected key on a find-links page only as "No matching distribution found", so
pipmodels asks the hosts itself, through its one HTTP client, with the same credentials.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipmodels import pipoutput
from pipmodels.credentials import env_var_names
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import name_from_filename
from pipmodels.inputs import Model
from pipmodels.reqfile import Line, split_option

if TYPE_CHECKING:
    from pipmodels.context import Context
    from pipmodels.http import Client
    from pipmodels.runner import Result
    from pipmodels.session import Session

DEFAULT_INDEX = "https://pypi.org/simple/"
_HREF = re.compile(r"""href=["']([^"'#]+)""", re.I)


def download_failure(model: Model, session: Session, result: Result) -> PipmodelsError:
    """The error for a failed ``pip download`` of ``model``."""
    where, shown = model.req.line.where, model.shown
    failure = pipoutput.download_failure(result.output)
    if failure.kind == "hash":
        return PipmodelsError(
            f"{where}: the file downloaded for {shown} does not match its --hash. Nothing was "
            "added to the cache.",
            "If the file changed on purpose, update the --hash; otherwise do not trust the source.",
        )
    if failure.kind == "mislabelled":
        what, expected, actual = failure.detail
        return PipmodelsError(
            f"{where}: the archive for {shown} is mislabelled: its filename says {what} "
            f"{expected!r} but its metadata says {actual!r}. Nothing was added to the cache.",
            "Use the archive under its real name, or rebuild it with matching metadata.",
        )
    if failure.kind == "not-archive":
        return PipmodelsError(
            f"{where}: what {shown} served is not a readable package archive (an HTML page, a "
            "sign-in form or a truncated file). Nothing was added to the cache.",
            "Open the URL in a browser: it must download the .whl, .tar.gz or .zip itself.",
        )
    with session.ctx.web() as web:
        problem = _location_problem(model, session, web)
        if problem is not None:
            return problem
        if failure.kind == "no-match":
            return _no_match(model, session.ctx, web)
    tail = "\n".join("    " + row for row in result.output.splitlines()[-12:])
    return PipmodelsError(
        f"{where}: pip download failed for {shown} (exit {result.returncode}):\n{tail}\n",
        "Rerun with -v for pip's full output.",
    )


def _location_problem(model: Model, session: Session, web: Client) -> PipmodelsError | None:
    for option in model.options:
        if option not in session.locations:
            continue
        location = session.location(option)
        if location.origin is None:
            continue
        problem = web.problem(location.public)
        if problem:
            variables = env_var_names(split_option(option.text)[1])
            check = f"Check {', '.join(variables)}" if variables else "Check the URL and its key"
            return PipmodelsError(
                f"{model.req.line.where}: {problem} at {location.shown} ({option.where}).",
                f"{check} (in your environment or .env file), then run again.",
            )
    return None


def _no_match(model: Model, ctx: Context, web: Client) -> PipmodelsError:
    name = model.req.name or ""
    files = index_files(name, ctx, web) if name else []
    if files and not any(f.endswith(".whl") for f in files):
        return PipmodelsError(placeholder_message(model.req.line, name, files))
    return PipmodelsError(
        f"{model.req.line.where}: no wheel matching {model.shown} was found on the configured "
        "find-links pages or indexes.",
        "Check the name and version, and that the page or index lists a wheel of it: "
        "pipmodels downloads models by name as wheels only, so that no setup.py from an index "
        "runs. For a model published only as an sdist, give its file's URL instead "
        "(name @ https://host/name-1.0.tar.gz).",
    )


def placeholder_message(line: Line, name: str, files: list[str] | None = None) -> str:
    versions = sorted({str(v) for f in files or [] if (v := _version(f))})
    found = f" (it has only {', '.join(versions)} as sdists)" if versions else ""
    return (
        f"{line.where}: {name} on the package index is a placeholder, not the model{found}; "
        "pipmodels will not run its setup.py. Give the model's release URL "
        f"({name} @ https://.../{name.replace('-', '_')}-VERSION-py3-none-any.whl) or a "
        "find-links page (-f) in a models file."
    )


def _version(filename: str) -> str | None:
    parsed = name_from_filename(filename)
    return str(parsed[1]) if parsed else None


def index_files(name: str, ctx: Context, web: Client) -> list[str]:
    """The file names the user's first index lists for ``name`` (empty: none, or unreachable)."""
    if ctx.base_environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        return []
    configured = ctx.settings.get("index-url")
    index = configured[0].public if configured else DEFAULT_INDEX
    try:
        page = web.fetch_page(index.rstrip("/") + f"/{name}/", headers={"Accept": "text/html"})
        if page.status_code != 200:
            return []
        text = page.text
    except Exception:  # the check is advice; an unreachable index must not fail the run
        return []
    return [href.rsplit("/", 1)[-1] for href in _HREF.findall(text)]


def namesake_warning(name: str, web: Client, ctx: Context) -> str | None:
    files = index_files(name, ctx, web)
    versions = sorted({v for f in files if (v := _version(f))})
    if not versions:
        return None
    return (
        f"{name} also exists on your package index (versions: {', '.join(versions)}). pipmodels "
        "pins it to the file in its cache; an install without that pin would take the index's "
        "package instead."
    )
