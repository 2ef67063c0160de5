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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console, engines
from pipmodels.cache import Cache
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_name
from pipmodels.files import write_or_explain
from pipmodels.inputs import INDEX_OPTIONS, Inputs, Pin
from pipmodels.options import PIP_TOOLS
from pipmodels.reqfile import Line, RequirementsFile, split_option

if TYPE_CHECKING:
    from pipmodels.options import Options
    from pipmodels.session import Session

DIGEST_LINE = re.compile(r"^# pipmodels inputs digest: sha256:([0-9a-f]{64})$", re.M)


def inputs_digest(inputs: Inputs, pins: Sequence[Pin], options: Options) -> str:
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
    digest.update(f"hashes {options.hashes} args {options.compile_args!r}\n".encode())
    if options.engine != PIP_TOOLS:  # the default's digest stays what it was
        digest.update(f"engine {options.engine}\n".encode())
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
    session: Session,
    pins: Sequence[Pin],
    *,
    write: bool = True,
    verify: Callable[[str], None] | None = None,
) -> str:
    """Compile and, with ``write``, replace the output file; return the new text either way.

    ``verify`` sees the new text before anything is written, and may refuse it by raising.
    """
    options, cache = session.options, session.cache
    output_file = options.output_path
    with session.ctx.scratch("compile-") as tmp:
        mirror = _Mirror(tmp)
        page = cache.run_page(tmp)
        by_line = {pin.model.req.line: pin for pin in pins}
        for parsed in session.inputs.source_tree:
            mirror.write(parsed, _rewrite(parsed, by_line, session, models_file=False))
        for parsed in session.inputs.models_tree:
            mirror.write(parsed, _rewrite(parsed, by_line, session, models_file=True))
        output = mirror.path(output_file)
        output.parent.mkdir(parents=True, exist_ok=True)
        current = _current_text(output_file)
        if current is not None:
            # pip-compile keeps the pins it finds in its output file, so hand it the current one
            output.write_bytes(output_file.read_bytes())
        inputs = session.inputs
        sources = [mirror.argument(p) for p in (*inputs.sources, *inputs.models_files)]
        # A project is built where it lies, so pip-compile sees its real folder.
        sources += [str(p.absolute()) for p in inputs.projects]
        # ... but it would also keep a model's old hashes when the cached file has new bytes
        # under the same version (a local wheel rebuilt): then it must hash afresh.
        reuse = current is None or not _model_bytes_changed(current, pins)
        command = engines.compile_command(session, sources, output, page=page, reuse_hashes=reuse)
        console.info(f"{'Compiling' if write else 'Checking'} {_display(output_file)}")
        session.ctx.run(
            command.cmd,
            env=command.env,
            cwd=mirror.path(Path.cwd()),
            what=command.what,
            hint="Fix the conflict or missing package shown above; requirements.txt was left as "
            "it was.",
        )
        text = output.read_text(encoding="utf-8").replace(str(mirror.root), "")
    for project in inputs.projects:  # "# via app (pyproject.toml)", as the user named it
        text = text.replace(f"({project.absolute()})", f"({project})")
    text = _pin_models(text, pins, cache)
    text = _add_declared_indexes(text, session, options.header_command)
    text = _add_digest(text, options.header_command, inputs_digest(inputs, pins, options))
    if verify is not None:
        verify(text)
    if write and _current_text(output_file) != text:
        _write(output_file, text)  # unchanged content keeps its mtime, for make
    return text


_PINNED = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)[ \t]*\\?\n((?:[ \t]+--hash=\S+[ \t]*\\?\n)*)", re.M
)


def _model_bytes_changed(text: str, pins: Sequence[Pin]) -> bool:
    """Whether ``text`` pins a model at its version with hashes that are not its cached file's."""
    recorded = {
        canonical_name(m.group(1)): (m.group(2), m.group(3)) for m in _PINNED.finditer(text)
    }
    for pin in pins:
        version, hashes = recorded.get(pin.entry.name, (None, ""))
        if version == str(pin.entry.version) and hashes and pin.entry.sha256 not in hashes:
            return True
    return False


def _write(output: Path, text: str) -> None:
    write_or_explain(
        output, text, hint="Make the file and its folder writable, or choose another with -o."
    )


class _Mirror:
    """A copy of the input files at their absolute paths under a scratch folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, real: Path) -> Path:
        absolute = Path(os.path.abspath(real))
        # Windows: C:\\x\\y becomes ROOT/C/x/y
        return self.root.joinpath(absolute.drive.rstrip(":"), *absolute.parts[1:])

    def argument(self, real: Path) -> str:
        # Relative paths stay relative so that pip-compile's "# via -r ..." names the user's files.
        return str(self.path(real)) if real.is_absolute() else str(real)

    def write(self, parsed: RequirementsFile, text: str) -> None:
        target = self.path(parsed.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _rewrite(
    parsed: RequirementsFile, by_line: Mapping[Line, Pin], session: Session, *, models_file: bool
) -> str:
    option_lines = set(parsed.options)
    out = []
    for line in parsed.lines:
        pin = by_line.get(line)
        if pin is not None:
            req = pin.model.req
            url = session.cache.file(pin.entry.filename).as_uri()
            out.append(f"{pin.entry.name}{req.extras} @ {url}{_spaced(req.marker)}")
        elif models_file and line in option_lines:
            continue  # a models file's indexes and keys are for filling the cache only
        elif line in option_lines:
            out.append(session.portable_option(line))
        else:
            out.append(line.text)
    return "\n".join(out) + "\n"


def _spaced(marker: str) -> str:
    return f" {marker}" if marker else ""


def _pin_models(text: str, pins: Sequence[Pin], cache: Cache) -> str:
    for pin in pins:
        url = cache.file(pin.entry.filename).as_uri()
        text = text.replace(f" @ {url}", f"=={pin.entry.version}")
    if cache.root.as_uri() in text:
        raise PipmodelsError(
            "pip-compile wrote a cache path into requirements.txt that pipmodels did not expect.",
            "Please report this; requirements.txt was left as it was.",
        )
    return text


def _add_declared_indexes(text: str, session: Session, header_command: str) -> str:
    """The index lines the inputs declare, without credentials, after the header.

    pip-compile runs with --no-emit-index-url: the indexes of the machine it runs on (pip.conf,
    ``PIP_*``) are not part of a lock that other machines read.
    """
    declared = []
    for parsed in session.inputs.source_tree:
        for line in parsed.options:
            flag = split_option(line.text)[0]
            if flag in INDEX_OPTIONS:
                option = "--extra-index-url" if flag == "--extra-index-url" else "--index-url"
                value = split_option(session.portable_option(line))[1]
                declared.append(f"{option} {value}\n")
    if not declared:
        return text
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join([*lines[:at], *dict.fromkeys(declared), "\n", *lines[at:]])


def _add_digest(text: str, header_command: str, digest: str) -> str:
    lines = text.splitlines(keepends=True)
    record = [f"# pipmodels inputs digest: sha256:{digest}\n", "#\n"]
    command_line = f"#    {header_command}\n"
    at = lines.index(command_line) + 1 if command_line in lines else 0
    if at and lines[at : at + 1] == ["#\n"]:  # pip-compile closes its header with "#"; uv not
        at += 1
    return "".join(lines[:at] + record + lines[at:])


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
