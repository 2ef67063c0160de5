"""The ``pipmodels`` command: options in, plain function calls, errors out as one message."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from pipmodels import __version__, config, console, fastpath, lockfile
from pipmodels.clioptions import options_for
from pipmodels.errors import Interrupted, PipmodelsError
from pipmodels.options import CommandLine, Options, resolve
from pipmodels.session import Session


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """The one place that turns a PipmodelsError into a message and an exit code."""
    previous = _stop_on_sigterm()
    try:
        yield
    except (Interrupted, KeyboardInterrupt):
        console.error(Interrupted().message)
        # A download thread may sit in a socket read for its whole timeout; the run's
        # folders are cleaned up already, so leave now rather than wait for it.
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)
    except PipmodelsError as exc:
        console.error(exc.message)
        if exc.hint:
            console.info_always("  " + exc.hint)
        sys.exit(1)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm() -> Any:
    """SIGTERM (a CI timeout, ``kill``) cleans up as Ctrl-C does, instead of dying mid-write."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def make_options(kwargs: dict[str, Any]) -> Options:
    """Command-line values over [tool.pipmodels] over built-in defaults."""
    verbose, quiet = kwargs.pop("verbose", 0), kwargs.pop("quiet", False)
    console.set_level(console.QUIET if quiet else console.VERBOSE if verbose else console.NORMAL)
    given = CommandLine(**kwargs)  # an unknown or misspelt option fails here, not later
    return resolve(given, config.load(Path("pyproject.toml")))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipmodels")
def main() -> None:
    """Install big model packages once, pinned by name and version, with credentials that
    never leak.

    \b
    Example:
      pipmodels sync -m requirements-models.txt requirements.in
    """


@main.command()
@options_for("download")
def download(**kwargs: Any) -> None:
    """Fill the model cache and print the pins.

    \b
    Example:
      pipmodels download -m requirements-models.txt
    """
    # Each command imports what it runs, here rather than at the top: a run that waits for
    # another on the cache, `links`, `--help` and a no-op sync through click start faster.
    from pipmodels import workflow

    with reported_errors(), Session.open(make_options(kwargs)) as session:
        for pin in workflow.download(session):
            click.echo(pin.text)


@main.command(name="compile")
@options_for("compile")
def compile_command(**kwargs: Any) -> None:
    """Fill the cache, then write requirements.txt with pip-compile.

    \b
    Example:
      pipmodels compile -m requirements-models.txt requirements.in
    """
    from pipmodels import workflow

    check = kwargs.pop("check")
    with reported_errors(), Session.open(lockfile.for_compile(make_options(kwargs))) as session:
        pins = workflow.download(session)
        if check:
            _exit_on_differences(workflow.check_compiled(session, pins))
        elif session.options.dry_run:
            click.echo(workflow.compile_(session, pins, write=False), nl=False)
        else:
            workflow.compile_(session, pins)


@main.command()
@options_for("sync")
def sync(**kwargs: Any) -> None:
    """Fill the cache, compile when the inputs changed, then pip-sync the environment.

    \b
    Example:
      pipmodels sync -m requirements-models.txt requirements.in
    """
    check = kwargs.pop("check")
    with reported_errors(), Session.open(lockfile.for_sync(make_options(kwargs))) as session:
        if not check and fastpath.is_unchanged(session):
            session.cache.sweep_if_idle()
            console.info(fastpath.unchanged_message(session))
            return
        from pipmodels import workflow  # not needed by a no-op

        if check:
            pins = workflow.download(session)
            _exit_on_differences(
                workflow.check_compiled(session, pins) or workflow.check_synced(session, pins)
            )
            return
        report = workflow.sync_and_remember(session)
        if session.options.dry_run:
            click.echo("\n".join(report.lines))


def _exit_on_differences(differences: list[str]) -> None:
    if differences:
        for line in differences:
            console.info_always(line)
        sys.exit(1)
    console.info("Up to date.")


@main.command()
@options_for("publish")
@click.option("--repository-url", metavar="URL", envvar="TWINE_REPOSITORY_URL", help="Upload URL.")
@click.option("-r", "--repository", metavar="NAME", help="A section of ~/.pypirc to upload to.")
@click.option("--config-file", type=click.Path(path_type=Path), help="The .pypirc to read.")
@click.option("--simple-url", metavar="URL", help="The index's simple URL [default: --mirror].")
@click.option("--all", "everything", is_flag=True, help="Every archive in the cache.")
@click.option("--dry-run", is_flag=True, help="Show what would be uploaded; upload nothing.")
@click.option(
    "--max-file-size",
    metavar="SIZE",
    help="The index's per-file upload limit (500MB, 1GiB) [default: PyPI's 100 MiB on "
    "upload.pypi.org and test.pypi.org, else none].",
)
def publish(**kwargs: Any) -> None:
    """Upload the cached model archives to a package index with twine.

    Files the index has with the same sha256 are skipped. Credentials come from
    TWINE_USERNAME and TWINE_PASSWORD, ~/.pypirc or keyring, as twine takes them.

    \b
    Examples:
      pipmodels publish -m requirements-models.txt --repository-url https://HOST/team/models/
      pipmodels publish --all -r team
    """
    from pipmodels import publish as uploads

    where = {k: kwargs.pop(k) for k in ("repository_url", "repository", "config_file")}
    simple_url, everything = kwargs.pop("simple_url"), kwargs.pop("everything")
    max_file_size = kwargs.pop("max_file_size")
    with reported_errors():
        uploads.require_twine()  # before any download
        limit = None if max_file_size is None else uploads.parse_size(max_file_size)
        with Session.open(make_options(kwargs)) as session:
            target = uploads.resolve_target(
                **where,
                simple_url=simple_url,
                mirror=session.options.mirror,
                environ=session.ctx.base_environ,
            )
            target = dataclasses.replace(target, max_file_size=limit)
            result = uploads.publish(session, target, everything=everything)
            for line in uploads.report(result, dry_run=session.options.dry_run):
                click.echo(line)


@main.command(name="links")
@click.argument("source")
@click.option(
    "-o",
    "--output-file",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here, atomically [default: stdout].",
)
@click.option(
    "--match",
    "patterns",
    multiple=True,
    metavar="GLOB",
    help="Keep only assets whose filename matches, e.g. 'en_core_web_*'. Repeatable; "
    "commas separate patterns too.",
)
@click.option(
    "--archives-only/--all-assets",
    default=True,
    show_default=True,
    help="Keep only .whl, .tar.gz and .zip assets.",
)
@click.option(
    "--github-cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PIPMODELS_GITHUB_CACHE_DIR",
    help="Where GitHub's answers are kept for conditional requests [env "
    "PIPMODELS_GITHUB_CACHE_DIR; default ~/.cache/pipmodels/github].",
)
@click.option("-v", "--verbose", count=True, help="Show every request.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def links_command(
    source: str,
    output: Path | None,
    patterns: tuple[str, ...],
    archives_only: bool,
    github_cache_dir: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Write a find-links page of a GitHub repository's release assets, or of a model cache.

    SOURCE is github:OWNER/REPO (GITHUB_TOKEN or GH_TOKEN, and GITHUB_API_URL, are read from
    the environment) or a cache folder, whose page links its archives relatively.

    \b
    Examples:
      pipmodels links github:explosion/spacy-models -o spacy_model_links.html
      pipmodels links .pipmodels-cache -o .pipmodels-cache/index.html
    """
    from pipmodels import links as find_links

    console.set_level(console.QUIET if quiet else console.VERBOSE if verbose else console.NORMAL)
    with reported_errors():
        options = find_links.LinksOptions(
            source=source,
            output=output,
            asset_filter=find_links.AssetFilter(find_links.parse_patterns(patterns), archives_only),
            github_cache_dir=github_cache_dir,
        )
        page = find_links.links(options, os.environ)
        if page is not None:
            click.echo(page, nl=False)


@main.command(name="add")
@click.argument("names", nargs=-1, required=True, metavar="NAME[==VERSION]...")
@click.option(
    "--spacy-version",
    help="The spaCy version to fit [default: the spacy pin in requirements.txt, else an exact "
    "spacy==VERSION in the inputs].",
)
@click.option("--no-sync", is_flag=True, help="Only add the lines; do not compile or sync.")
@click.option(
    "-s",
    "--source",
    "sources",
    multiple=True,
    type=click.Path(path_type=Path),
    help="An input; the first gets the new lines [default: requirements.in]. Repeatable.",
)
@options_for("add", sources=False)  # the sync that follows; -s names the inputs
def add_command(
    names: tuple[str, ...], spacy_version: str | None, no_sync: bool, **kwargs: Any
) -> None:
    """Add spaCy models in the version that fits the project's spaCy, then sync.

    Each model is looked up in spaCy's compatibility table and appended to the first input as
    NAME @ its release wheel URL; the lines added are printed.

    \b
    Examples:
      pipmodels add en_core_web_sm
      pipmodels add en_core_web_sm de_core_news_md==3.8.0 --spacy-version 3.8.7
    """
    from pipmodels import add, workflow

    with reported_errors():
        options = make_options(kwargs)
        settings = add.AddSettings(options.sources, options.output_path, spacy_version)
        # A failed sync (a model answered 404) leaves the files as they were, byte for byte.
        before = {path: add.contents(path) for path in (options.sources[0], options.output_path)}
        lines = add.add_models(names, settings, os.environ)
        for line in lines:
            click.echo(line)
        if lines and not no_sync:
            try:
                with Session.open(options) as session:
                    workflow.sync_and_remember(session)
            except BaseException as exc:
                for path, content in before.items():
                    add.restore(path, content)
                if isinstance(exc, PipmodelsError) and not isinstance(exc, Interrupted):
                    back = f"{options.sources[0]} is back as it was."
                    raise PipmodelsError(exc.message, f"{exc.hint} {back}".strip()) from None
                raise
