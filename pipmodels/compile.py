"""pip-compile over the user's inputs, with every model replaced by its cached archive.

pip-compile reads a scratch copy of the input files in which each model line points at its file in
the cache, so it never asks the index about a model name (where impostors and 999.9.9
placeholders live) and hashes only the cached file. Its output then gets plain
``name==version`` pins, and replaces requirements.txt atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console, engines, locktext, progress, pylock, pylockfiles
from pipmodels.cache import Cache
from pipmodels.errors import PipmodelsError
from pipmodels.files import write_or_explain
from pipmodels.inputs import INDEX_OPTIONS, PROJECT_FILES, Inputs, Model, Pin
from pipmodels.options import DEFAULT_FORMAT
from pipmodels.pyproject import project_name
from pipmodels.reqfile import Line, RequirementsFile, split_option

if TYPE_CHECKING:
    from pipmodels.options import Options
    from pipmodels.session import Session


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
    if options.engine != engines.DEFAULT:  # the default's digest stays what it was
        digest.update(f"engine {options.engine}\n".encode())
    if options.format != DEFAULT_FORMAT:
        digest.update(f"format {options.format}\n".encode())
    return digest.hexdigest()


def _current_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def lock_digest(inputs: str, text: str) -> str:
    """What the digest line records: the inputs' digest and requirements.txt's own text as
    compiled (without the digest record), so that a line added by hand is a difference to
    ``sync`` as it is to ``compile --check``."""
    return hashlib.sha256(f"{inputs}\n{locktext.without_digest(text)}".encode()).hexdigest()


def recorded_digest(output: Path) -> str | None:
    text = _current_text(output)
    return None if text is None else locktext.recorded_digest(text)


@dataclass(frozen=True)
class ModelFile:
    """The file the compile reads for a model line: its cached archive, or a head start's
    stub (:mod:`pipmodels.headstart`) while the archive downloads."""

    model: Model
    name: str
    version: str
    path: Path


def compile_requirements(
    session: Session,
    pins: Sequence[Pin],
    *,
    write: bool = True,
    verify: Callable[[str], None] | None = None,
    early: tuple[str, Mapping[Line, ModelFile], Mapping[str, str]] | None = None,
) -> str:
    """Compile and, with ``write``, replace the output file; return the new text either way.

    ``verify`` sees the new text before anything is written, and may refuse it by raising.
    ``early`` is a head start's compile: its output, the stubs it read, and each stub's
    sha256 with the archive's that replaces it.
    """
    options, cache = session.options, session.cache
    output_file = options.output_path
    files: Mapping[Line, ModelFile]
    if early is None:
        files = {pin.model.req.line: model_file(pin, cache) for pin in pins}
        current = _current_text(output_file)
        # pip-compile keeps a model's hashes from its output file; not when the cached file has
        # new bytes under the same version (a local wheel rebuilt): then it must hash afresh.
        reuse = current is None or not _model_bytes_changed(current, pins)
        text = engine_output(session, files, reuse_hashes=reuse, write=write)
    else:
        text, files, hashes = early
        for stub_hash, archive_hash in hashes.items():
            text = text.replace(f"sha256:{stub_hash}", f"sha256:{archive_hash}")
    text = _pin_models(text, files, cache)
    text = _add_declared_indexes(text, session, options.header_command)
    if verify is not None:
        verify(text)
    if options.format == pylock.FORMAT:
        text = pylockfiles.lock_text(session, pins, text)
    digest = lock_digest(inputs_digest(session.inputs, pins, options), text)
    text = locktext.add_digest(text, options.header_command, digest)
    if write and _current_text(output_file) != text:
        _write(output_file, text)  # unchanged content keeps its mtime, for make
    return text


def model_file(pin: Pin, cache: Cache) -> ModelFile:
    return ModelFile(
        pin.model, pin.entry.name, str(pin.entry.version), cache.file(pin.entry.filename)
    )


def engine_output(
    session: Session, files: Mapping[Line, ModelFile], *, reuse_hashes: bool, write: bool = True
) -> str:
    """The engine's compile of the inputs with each model line pointing at its file; model
    references are still the files' URLs (:func:`_pin_models` makes them pins)."""
    options, cache = session.options, session.cache
    output_file = options.output_path
    inputs = session.inputs
    with session.ctx.scratch("compile-") as tmp:
        copy = _ScratchCopy(tmp)
        page = cache.run_page(tmp)
        for parsed in inputs.source_tree:
            copy.write(parsed, _rewrite(parsed, files, session, models_file=False))
        for parsed in inputs.models_tree:
            copy.write(parsed, _rewrite(parsed, files, session, models_file=True))
        output = copy.path(output_file)
        if options.format == pylock.FORMAT:  # uv would write a lock itself, by the name
            output = output.with_name(f"{output.name}.txt")
        output.parent.mkdir(parents=True, exist_ok=True)
        current = _seed(output_file)
        if current is not None:
            # pip-compile keeps the pins it finds in its output file, so hand it the current one
            output.write_text(current, encoding="utf-8")
        sources = [copy.argument(p) for p in (*inputs.sources, *inputs.models_files)]
        # A project is built where it lies, so pip-compile sees its real folder.
        sources += [str(p.absolute()) for p in inputs.projects]
        engine = engines.get(options.engine)
        command = engine.compile_command(
            session, sources, output, page=page, reuse_hashes=reuse_hashes
        )
        if not inputs.projects:  # the extras were a pyproject.toml's, read as requirements
            command = dataclasses.replace(command, cmd=_without_extras(command.cmd))
        console.info(f"{'Compiling' if write else 'Checking'} {_display(output_file)}")
        with progress.phase(command.what):
            session.ctx.run(
                command.cmd,
                env=command.env,
                cwd=copy.path(Path.cwd()),
                what=command.what,
                hint="Fix the conflict or missing package shown above; requirements.txt was "
                "left as it was.",
            )
        text = locktext.without_prefix(output.read_text(encoding="utf-8"), str(copy.root))
    text = locktext.with_paths_as_given(
        text, {str(project.absolute()): str(project) for project in inputs.projects}
    )
    return locktext.with_projects_named(
        text,
        {
            copy.argument(source): f"{project_name(source)} ({source})"
            for source in inputs.sources
            if source.name in PROJECT_FILES
        },
    )


def _seed(output: Path) -> str | None:
    """The current output as pip-compile reads its own: a pylock.toml as its pins."""
    current = _current_text(output)
    if current is None or not pylock.is_lock_name(output):
        return current
    try:
        packages = pylock.loads(current, output)
    except PipmodelsError:
        return None  # not a lock we wrote: resolve afresh
    return pylock.as_requirements(packages, output.parent, {})


def _model_bytes_changed(text: str, pins: Sequence[Pin]) -> bool:
    """Whether ``text`` pins a model at its version with hashes that are not its cached file's."""
    recorded = locktext.pins_with_hashes(text)
    for pin in pins:
        version, hashes = recorded.get(pin.entry.name, (None, ""))
        if version == str(pin.entry.version) and hashes and pin.entry.sha256 not in hashes:
            return True
    return False


def _write(output: Path, text: str) -> None:
    write_or_explain(
        output, text, hint="Make the file and its folder writable, or choose another with -o."
    )


class _ScratchCopy:
    """A copy of the input files at their absolute paths under a scratch folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, real: Path) -> Path:
        absolute = Path(os.path.abspath(real))
        if absolute.name in PROJECT_FILES:
            # A pyproject.toml read as requirements is mirrored as a requirements file: by
            # its name pip-compile would build it as a project.
            absolute = absolute.with_name(f"{absolute.name}.txt")
        # Windows: C:\\x\\y becomes ROOT/C/x/y
        return self.root.joinpath(absolute.drive.rstrip(":"), *absolute.parts[1:])

    def argument(self, real: Path) -> str:
        # Relative paths stay relative so that pip-compile's "# via -r ..." names the user's files.
        if real.name in PROJECT_FILES:
            real = real.with_name(f"{real.name}.txt")
        return str(self.path(real)) if real.is_absolute() else str(real)

    def write(self, parsed: RequirementsFile, text: str) -> None:
        target = self.path(parsed.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _rewrite(
    parsed: RequirementsFile,
    files: Mapping[Line, ModelFile],
    session: Session,
    *,
    models_file: bool,
) -> str:
    option_lines = set(parsed.options)
    out = []
    for line in parsed.lines:
        found = files.get(line)
        if found is not None:
            req = found.model.req
            url = found.path.as_uri()
            out.append(f"{found.name}{req.extras} @ {url}{_spaced(req.marker)}")
        elif models_file and line in option_lines:
            continue  # a models file's indexes and keys are for filling the cache only
        elif line in option_lines:
            out.append(session.child_option(line))
        else:
            out.append(line.text)
    return "\n".join(out) + "\n"


def _without_extras(cmd: list[str]) -> list[str]:
    """``cmd`` without ``--extra NAME``: pip-compile refuses it when no input is a project."""
    out: list[str] = []
    words = iter(cmd)
    for word in words:
        if word == "--extra":
            next(words, None)
        elif not word.startswith("--extra="):
            out.append(word)
    return out


def _spaced(marker: str) -> str:
    return f" {marker}" if marker else ""


def _pin_models(text: str, files: Mapping[Line, ModelFile], cache: Cache) -> str:
    versions = {found.path.as_uri(): found.version for found in files.values()}
    pinned = locktext.pin_references(text, versions, forbidden=cache.root.as_uri())
    if pinned is None:
        raise PipmodelsError(
            "pip-compile wrote a cache path into requirements.txt that pipmodels did not expect.",
            "Please report this; requirements.txt was left as it was.",
        )
    return pinned


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
                value = split_option(session.public_option(line))[1]
                declared.append(f"{option} {value}\n")
    if not declared:
        return text
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join([*lines[:at], *dict.fromkeys(declared), "\n", *lines[at:]])


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
