"""The option grammar is written once: the fast entry reads a sync command line exactly as the
full click command line does, environment variables included."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from pipmodels import cli, entry, grammar
from pipmodels.options import CommandLine

SYNC_LINES = [
    [],
    ["-m", "models.txt", "--models=more.txt", "a.in", "b.in"],
    ["--cache-dir", "c", "--env-file", "e.env", "--mirror", "https://m/simple/"],
    ["--python-executable", "/py", "--allow-system", "-q"],
    ["--engine", "uv", "-j", "8", "--no-generate-hashes", "--no-spacy-check"],
    ["--generate-hashes", "--spacy-check", "-o", "out.txt", "--extra", "dev", "--extra=ml"],
    ["-P", "a", "--upgrade-package", "b", "-U", "--dry-run", "--resolver", "legacy"],
    ["--pip-args", "--pre", "-v", "-v", "--verbose"],
]
ENVIRONMENTS = [
    {},
    {
        "PIPMODELS_CACHE_DIR": "/env/cache",
        "PIPMODELS_MIRROR": "http://m/",
        "PIPMODELS_ENGINE": "uv",
    },
    {"PIPMODELS_CACHE_DIR": "", "PIPMODELS_MIRROR": "", "PIPMODELS_ENGINE": ""},
]


def _click_reads(
    args: list[str], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> CommandLine:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    command = cli.main.commands["sync"]
    params = dict(command.make_context("sync", list(args)).params)
    params.pop("check")
    params.pop("verbose")
    return CommandLine(**params)


@pytest.mark.parametrize("environ", ENVIRONMENTS, ids=["no-env", "env", "empty-env"])
@pytest.mark.parametrize("args", SYNC_LINES, ids=[" ".join(a) or "plain" for a in SYNC_LINES])
def test_the_fast_entry_reads_what_click_reads(
    args: list[str], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert entry.parse(args, environ) == _click_reads(args, environ, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ["--check"],  # asks for work
        ["-qv"],  # combined short flags: click's to read
        ["-mmodels.txt"],
        ["-m"],  # a value missing: click's message
        ["--jobs", "many"],
        ["--engine", "poetry"],
        ["--quiet=yes"],
        ["--", "a.in"],
        ["--help"],
        ["--no-such-option"],
    ],
)
def test_what_the_fast_entry_leaves_to_click(args: list[str]) -> None:
    assert entry.parse(args, {}) is None


def test_every_option_of_the_table_is_on_its_commands() -> None:
    for name in (grammar.DOWNLOAD, grammar.COMPILE, grammar.SYNC, grammar.PUBLISH, grammar.ADD):
        command = cli.main.commands[name if name != grammar.ADD else "add"]
        declared = {p.name for p in command.params if isinstance(p, click.Option)}
        assert {o.field for o in grammar.options_of(name)} <= declared
    sync = cli.main.commands["sync"]
    envvars = {p.name: p.envvar for p in sync.params if isinstance(p, click.Option) and p.envvar}
    assert envvars == {
        "cache_dir": "PIPMODELS_CACHE_DIR",
        "mirror": "PIPMODELS_MIRROR",
        "engine": "PIPMODELS_ENGINE",
    }


def test_the_table_names_each_flag_once() -> None:
    flags = [f for o in grammar.OPTIONS for f in (*o.flags, *o.off_flags)]
    assert len(flags) == len(set(flags))
    assert {o.field for o in grammar.OPTIONS if o.envvar} == {"cache_dir", "mirror", "engine"}
    assert grammar.parse("sync", ["x.in"], {})["sources"] == (Path("x.in"),)
