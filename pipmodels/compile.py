"""pip-compile over the user's inputs, with every model replaced by its cached archive.

pip-compile reads a mirror of the input files in which each model line points at its file in
the cache, so it never asks the index about a model name (where impostors and 999.9.9
placeholders live) and hashes only the cached file. Its output then gets plain
``name==version`` pins, and replaces requirements.txt atomically.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipmodels import console, piptools, runner
from pipmodels.cache import Cache
from pipmodels.credentials import URL_USERINFO, Redactor, redact_url
from pipmodels.errors import PipmodelsError
from pipmodels.files import atomic_write
from pipmodels.fill import Pin
from pipmodels.inputs import Inputs
from pipmodels.reqfile import Line, RequirementsFile

INDEX_LINE = re.compile(r"^--(index-url|extra-index-url)[=\s]")
DIGEST_LINE = re.compile(r"^# pipmodels inputs digest: sha256:([0-9a-f]{64})$", re.M)


@dataclass(frozen=True)
class CompileSettings:
    output: Path
    header_command: str
    hashes: bool = True
    extra_args: tuple[str, ...] = ()


def inputs_digest(inputs: Inputs, pins: Sequence[Pin], settings: CompileSettings) -> str:
    """What requirements.txt was compiled from: input lines, model pins and options."""
    digest = hashlib.sha256()
    for parsed in inputs.files:
        digest.update(f"file {parsed.path}\n".encode())
        for line in parsed.lines:
            digest.update(f"{line.text}\n".encode())
    for project in inputs.projects:
        digest.update(f"project {project}\n".encode() + project.read_bytes())
    for pin in sorted(pins, key=lambda p: p.entry.filename):
        digest.update(f"pin {pin.text} {pin.entry.sha256}\n".encode())
    digest.update(f"hashes {settings.hashes} args {settings.extra_args!r}\n".encode())
    return digest.hexdigest()


def _current_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def recorded_digest(output: Path) -> str | None:
    try:
        match = DIGEST_LINE.search(output.read_text(encoding="utf-8"))
    except OSError:
        return None
    return match.group(1) if match else None


def compile_requirements(
    inputs: Inputs,
    pins: Sequence[Pin],
    cache: Cache,
    settings: CompileSettings,
    *,
    environ: Mapping[str, str],
    redactor: Redactor,
    write: bool = True,
) -> str:
    """Compile and, with ``write``, replace the output file; return the new text either way."""
    with tempfile.TemporaryDirectory(prefix="pipmodels-compile-") as tmp:
        mirror = _Mirror(Path(tmp))
        by_line = {pin.model.req.line: pin for pin in pins}
        for parsed in inputs.source_tree:
            mirror.write(parsed, _rewrite(parsed, by_line, cache, models_file=False))
        for parsed in inputs.models_tree:
            mirror.write(parsed, _rewrite(parsed, by_line, cache, models_file=True))
        output = mirror.path(settings.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        if settings.output.exists():
            # pip-compile keeps the pins it finds in its output file, so hand it the current one
            output.write_bytes(settings.output.read_bytes())
        sources = [mirror.argument(p) for p in (*inputs.sources, *inputs.models_files)]
        # A project is built where it lies, so pip-compile sees its real folder.
        sources += [str(p.absolute()) for p in inputs.projects]
        cmd = piptools.pip_compile(
            sources,
            output,
            find_links=cache.page,
            hashes=settings.hashes,
            extra_args=settings.extra_args,
            verbose=console.is_verbose(),
        )
        verb = "Compiling" if write else "Checking"
        console.info(f"{verb} {_display(settings.output)}")
        runner.run(
            cmd,
            env=piptools.compile_environment(environ, settings.header_command),
            redactor=redactor,
            cwd=mirror.path(Path.cwd()),
            what="pip-compile",
            hint="Fix the conflict or missing package shown above; requirements.txt was left as "
            "it was.",
        )
        text = output.read_text(encoding="utf-8").replace(tmp, "")
    for project in inputs.projects:  # "# via app (pyproject.toml)", as the user named it
        text = text.replace(f"({project.absolute()})", f"({project})")
    text = _pin_models(text, pins, cache)
    text = _drop_credentialed_indexes(text)
    text = _add_digest(text, settings.header_command, inputs_digest(inputs, pins, settings))
    if write and _current_text(settings.output) != text:
        atomic_write(settings.output, text)  # unchanged content keeps its mtime, for make
    return text


class _Mirror:
    """A copy of the input files at their absolute paths under a scratch folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, real: Path) -> Path:
        return self.root / os.path.abspath(real).lstrip("/")

    def argument(self, real: Path) -> str:
        # Relative paths stay relative so that pip-compile's "# via -r ..." names the user's files.
        return str(self.path(real)) if real.is_absolute() else str(real)

    def write(self, parsed: RequirementsFile, text: str) -> None:
        target = self.path(parsed.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _rewrite(
    parsed: RequirementsFile, by_line: Mapping[Line, Pin], cache: Cache, *, models_file: bool
) -> str:
    option_lines = set(parsed.options)
    out = []
    for line in parsed.lines:
        pin = by_line.get(line)
        if pin is not None:
            req = pin.model.req
            url = (cache.root / pin.entry.filename).as_uri()
            out.append(f"{pin.entry.name}{req.extras} @ {url}{_spaced(req.marker)}")
        elif models_file and line in option_lines:
            continue  # a models file's indexes and keys are for filling the cache only
        else:
            out.append(line.text)
    return "\n".join(out) + "\n"


def _spaced(marker: str) -> str:
    return f" {marker}" if marker else ""


def _pin_models(text: str, pins: Sequence[Pin], cache: Cache) -> str:
    for pin in pins:
        url = (cache.root / pin.entry.filename).as_uri()
        text = text.replace(f" @ {url}", f"=={pin.entry.version}")
    if cache.root.as_uri() in text:
        raise PipmodelsError(
            "pip-compile wrote a cache path into requirements.txt that pipmodels did not expect.",
            "Please report this; requirements.txt was left as it was.",
        )
    return text


def _drop_credentialed_indexes(text: str) -> str:
    """Keep index URLs that carry credentials out of requirements.txt.

    pip-compile writes them in full, and pip-sync would copy them onto pip's command line.
    ``pipmodels sync`` hands them to pip through the environment instead.
    """
    kept = []
    for line in text.splitlines(keepends=True):
        if INDEX_LINE.match(line) and URL_USERINFO.search(line):
            console.warn(
                f"left {redact_url(line.strip())} out of requirements.txt: it carries "
                "credentials. pipmodels sync passes it to pip through the environment; for "
                "plain pip-sync, set it in PIP_INDEX_URL or pip.conf."
            )
            continue
        kept.append(line)
    return "".join(kept)


def _add_digest(text: str, header_command: str, digest: str) -> str:
    lines = text.splitlines(keepends=True)
    record = [f"# pipmodels inputs digest: sha256:{digest}\n", "#\n"]
    command_line = f"#    {header_command}\n"
    at = lines.index(command_line) + 2 if command_line in lines else 0
    return "".join(lines[:at] + record + lines[at:])


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
