"""The uv engine's command lines, its options and what it prints, without running it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipmodels import config, pipoutput
from pipmodels import engines as registry
from pipmodels.compile import inputs_digest
from pipmodels.engines import uv_pip as engines
from pipmodels.errors import PipmodelsError
from pipmodels.inputs import Inputs
from pipmodels.locktext import add_digest
from pipmodels.options import CommandLine, Options, resolve


def test_uv_pip_compile_asks_for_hashes_and_the_pipmodels_header(tmp_path: Path) -> None:
    cmd = engines.uv_pip_compile(
        "/bin/uv",
        ["requirements.in", "models.txt"],
        tmp_path / "out.txt",
        find_links=tmp_path / "index.html",
        hashes=True,
        header_command="pipmodels compile -m models.txt",
        python="/py",
        index_args=["--index-url", "https://index/simple/"],
        extra_args=["--upgrade"],
    )
    assert cmd == [
        "/bin/uv",
        "pip",
        "compile",
        "--python",
        "/py",
        "--find-links",
        str(tmp_path / "index.html"),
        "--index-url",
        "https://index/simple/",
        "--custom-compile-command",
        "pipmodels compile -m models.txt",
        "--output-file",
        str(tmp_path / "out.txt"),
        "--no-progress",
        "--generate-hashes",
        "--quiet",
        "--upgrade",
        "requirements.in",
        "models.txt",
    ]
    # uv writes no index or find-links URL unless asked to
    assert not [a for a in cmd if a.startswith("--emit")]


def test_uv_pip_compile_without_hashes_and_verbose(tmp_path: Path) -> None:
    cmd = engines.uv_pip_compile(
        "uv",
        ["r.in"],
        tmp_path / "o.txt",
        find_links=tmp_path / "i.html",
        hashes=False,
        header_command="pipmodels compile",
        python="/py",
        verbose=True,
    )
    assert "--generate-hashes" not in cmd
    assert cmd[-2:] == ["--verbose", "r.in"]


def test_uv_pip_sync_gets_each_page_the_target_and_system_only_when_allowed() -> None:
    cmd = engines.uv_pip_sync(
        "uv",
        Path("r.txt"),
        find_links=["cache/index.html", "https://page"],
        python="/py",
        system=False,
        dry_run=False,
        index_args=["--extra-index-url", "https://extra/"],
    )
    assert cmd == [
        "uv",
        "pip",
        "sync",
        "--python",
        "/py",
        "--no-progress",
        "--find-links",
        "cache/index.html",
        "--find-links",
        "https://page",
        "--extra-index-url",
        "https://extra/",
        "r.txt",
    ]
    dry = engines.uv_pip_sync(
        "uv", Path("r.txt"), find_links=[], python="/py", system=True, dry_run=True
    )
    assert dry[-4:] == ["--no-progress", "--system", "--dry-run", "r.txt"]


def test_pip_settings_become_uv_arguments() -> None:
    settings = {
        "index-url": ["https://a/simple/", "https://b/simple/"],
        "extra-index-url": ["https://c/", "https://d/"],
        "find-links": ["/wheels"],
    }
    assert engines.uv_index_args(settings, inputs_declare_index=False, no_index=True) == [
        "--index-url",
        "https://b/simple/",  # pip keeps the last
        "--extra-index-url",
        "https://c/",
        "--extra-index-url",
        "https://d/",
        "--find-links",
        "/wheels",
        "--no-index",
    ]
    # uv lets --index-url beat a requirements file's -i; pip lets the file win
    declared = engines.uv_index_args(settings, inputs_declare_index=True)
    assert "--index-url" not in declared
    assert engines.uv_index_args({}, inputs_declare_index=False) == []


def test_uv_comes_from_the_package_else_path_else_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uv

    assert engines.find_uv({"PATH": ""}) == str(uv.find_uv_bin())
    monkeypatch.setitem(sys.modules, "uv", None)  # not installed
    fake = tmp_path / "uv"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert engines.find_uv({"PATH": str(tmp_path)}) == str(fake)
    with pytest.raises(PipmodelsError) as error:
        engines.find_uv({"PATH": str(tmp_path / "nowhere")})
    assert "pipmodels[uv]" in error.value.hint


def test_engine_option_config_and_uv_only_arguments() -> None:
    project: dict[str, object] = {
        "engine": "uv",
        "pip-compile-args": ["--resolver=backtracking"],
        "uv-compile-args": ["--prerelease=allow"],
        "uv-sync-args": ["--strict"],
    }
    options = resolve(CommandLine(upgrade=True), project)
    assert options.engine == "uv"
    assert options.compile_args == ("--prerelease=allow", "--upgrade")
    assert options.sync_args == ("--strict",)
    pip_tools = resolve(CommandLine(engine="pip-tools"), project)
    assert pip_tools.compile_args == ("--resolver=backtracking",)
    assert resolve(CommandLine(), {}).engine == "pip-tools"
    with pytest.raises(PipmodelsError, match="--pip-args is a pip-tools option"):
        resolve(CommandLine(pip_args="--pre"), project)
    with pytest.raises(PipmodelsError, match="no engine 'poetry'"):
        resolve(CommandLine(), {"engine": "poetry"})


def test_the_engine_is_part_of_the_compile_digest_and_the_fast_path_options() -> None:
    inputs = Inputs((), (), (), ())
    default = inputs_digest(inputs, [], Options())
    assert inputs_digest(inputs, [], Options(engine="uv")) != default
    assert repr(Options(engine="uv")) != repr(Options())  # the fast path hashes this repr


def test_the_digest_line_follows_either_header() -> None:
    command = "pipmodels compile -m m.txt"
    uv = f"# This file was autogenerated by uv via the following command:\n#    {command}\na==1\n"
    assert add_digest(uv, command, "ab") == (
        "# This file was autogenerated by uv via the following command:\n"
        f"#    {command}\n# pipmodels inputs digest: sha256:ab\n#\na==1\n"
    )
    pip_tools = f"#\n# by the following command:\n#\n#    {command}\n#\na==1\n"
    assert add_digest(pip_tools, command, "ab") == (
        f"#\n# by the following command:\n#\n#    {command}\n#\n"
        "# pipmodels inputs digest: sha256:ab\n#\na==1\n"
    )


def test_uv_sync_report_reads_plus_and_minus_lines() -> None:
    output = (
        "Using Python 3.11.7 environment at: venv\nResolved 2 packages in 1ms\n"
        "Would uninstall 1 package\nWould install 2 packages\n"
        " - stray==1.0\n"
        " + en-demo==1.0.0 (from file:///cache/en_demo-1.0.0-py3-none-any.whl#sha256=ab)\n"
        " + helperlib==1.0.0\n"
    )
    report = pipoutput.uv_sync_report(output)
    assert report.installed == ["en-demo==1.0.0", "helperlib==1.0.0"]
    assert report.removed == ["stray==1.0"]
    assert not pipoutput.uv_sync_report("Checked 2 packages in 0.1ms\n").changes


def test_the_header_reproduces_the_lock() -> None:
    given = CommandLine(engine="uv", extras=("dev",), models_files=(Path("m.txt"),))
    assert resolve(given, {}).header_command == "pipmodels compile -m m.txt --engine uv --extra dev"
    # The engine pyproject.toml sets needs no word; another one given on top of it does.
    assert resolve(CommandLine(engine="uv"), {"engine": "uv"}).header_command == (
        "pipmodels compile"
    )
    assert resolve(CommandLine(engine="pip-tools"), {"engine": "uv"}).header_command == (
        "pipmodels compile --engine pip-tools"
    )
    assert resolve(CommandLine(resolver="backtracking"), {}).header_command == (
        "pipmodels compile --resolver=backtracking"
    )


def test_the_registry_feeds_the_choice_the_config_keys_and_the_options() -> None:
    assert registry.NAMES == ("pip-tools", "uv")
    for name in registry.NAMES:
        prefix = registry.get(name).config_prefix
        assert {f"{prefix}-compile-args", f"{prefix}-sync-args"} <= set(config.KEYS)
    assert registry.get("uv").header("pipmodels compile").args == (
        "--custom-compile-command",
        "pipmodels compile",
    )
    assert registry.get("pip-tools").header("x").env == {"CUSTOM_COMPILE_COMMAND": "x"}


def test_with_extra_indexes_uv_searches_them_all_as_pip_does() -> None:
    settings = {"index-url": ["https://a/simple/"], "extra-index-url": ["https://c/"]}
    assert engines.uv_index_args(settings, inputs_declare_index=False) == [
        "--index-url",
        "https://a/simple/",
        "--extra-index-url",
        "https://c/",
        "--index-strategy",
        "unsafe-best-match",
    ]
    only_main = {"index-url": ["https://a/simple/"]}
    assert "--index-strategy" not in engines.uv_index_args(only_main, inputs_declare_index=False)
    from_inputs = engines.uv_index_args(
        only_main, inputs_declare_index=False, inputs_declare_extra_index=True
    )
    assert from_inputs[-2:] == ["--index-strategy", "unsafe-best-match"]
    chosen = engines.uv_index_args(settings, inputs_declare_index=False, strategy_chosen=True)
    assert "--index-strategy" not in chosen  # UV_INDEX_STRATEGY or uv-compile-args decide


def test_uv_pip_sync_gets_pips_configured_constraints_as_pip_sync_does(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nconstraint = /a/c.txt\n[install]\nconstraint = /b/c.txt\n")
    environ = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_DIRS": "/nowhere"}
    assert engines.constraint_args(environ) == ["--constraints", "/b/c.txt"]  # [install] wins
    assert engines.constraint_args({**environ, "PIP_CONSTRAINT": "x.txt y.txt"}) == [
        "--constraints",
        "x.txt",
        "--constraints",
        "y.txt",
    ]
    assert engines.constraint_args({"PIP_CONFIG_FILE": os.devnull}) == []


def test_a_machines_pip_conf_reaches_uv_as_pip_tools_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip-compile reads index-url, extra-index-url and find-links and ignores constraint;
    pip-sync's pip install reads all four. uv's command lines say the same."""
    from pipmodels.installed import Target
    from pipmodels.session import Session

    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://main.example/simple/\n"
        "extra-index-url = https://company.example/simple/\nfind-links = /wheels\n"
        "constraint = /etc/c.txt\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    monkeypatch.delenv("PIP_INDEX_URL")
    monkeypatch.delenv("UV_INDEX_STRATEGY", raising=False)
    source = tmp_path / "requirements.in"
    source.write_text("helperlib\n")
    options = Options(sources=(source,), engine="uv", cache_dir=tmp_path / "cache")
    engine = registry.get("uv")
    with Session.open(options) as session:
        page = tmp_path / "page.html"
        out = tmp_path / "out.txt"
        compiled = engine.compile_command(session, [str(source)], out, page=page).cmd
        target = Target(None, [], is_virtual=True, packages={})
        synced = engine.sync_command(
            session, tmp_path / "r.txt", target, dry_run=False, page=page
        ).cmd
    for cmd in (compiled, synced):
        assert cmd[cmd.index("--index-url") + 1] == "https://main.example/simple/"
        assert cmd[cmd.index("--extra-index-url") + 1] == "https://company.example/simple/"
        assert cmd[cmd.index("--index-strategy") + 1] == "unsafe-best-match"
        assert "/wheels" in cmd
    assert "--constraints" not in compiled
    assert synced[synced.index("--constraints") + 1] == "/etc/c.txt"


def test_a_header_naming_the_engine_is_read_for_its_inputs_alone() -> None:
    """``pipmodels compile --engine uv --extra dev requirements.in``: the inputs are
    requirements.in, not uv or dev (the header is read with the command-line grammar)."""
    from pipmodels.lockfile import _sources_of

    command = "pipmodels compile -m models.txt --engine uv --extra dev requirements.in"
    assert _sources_of(command) == ["requirements.in"]
    assert _sources_of("pipmodels compile --engine uv") == ["requirements.in"]


def test_a_package_installed_from_a_file_is_kept_by_its_recorded_reference(
    tmp_path: Path,
) -> None:
    """pip writes direct_url.json for `pip install ./pipmodels-0.1.0-py3-none-any.whl`;
    pip-sync keys such a package by that reference, so the line that keeps it must too."""
    import json
    import subprocess

    from pipmodels import installed, pipcommands, sync

    site = tmp_path / "site"
    wheel_url = "file:///work/tools/pipmodels-0.1.0-py3-none-any.whl"
    for name, version, direct in (
        ("pipmodels", "0.1.0", {"url": wheel_url, "archive_info": {"hashes": {"sha256": "ab"}}}),
        ("pip", "26.3", {"url": "file:///w/pip-26.3.whl", "archive_info": {"hash": "sha256=cd"}}),
        ("setuptools", "65.5.0", None),
        ("wheel", "0.45", {"url": "file:///src/wheel", "dir_info": {}}),
    ):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        if direct:
            (info / "direct_url.json").write_text(json.dumps(direct))
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = [{str(site)!r}]\n" + pipcommands.LIST_DISTRIBUTIONS,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {
        k: v
        for k, v in json.loads(out)["distributions"].items()
        if k in ("pipmodels", "pip", "setuptools", "wheel")
    }
    assert {k: v[2] for k, v in found.items()} == {
        "pipmodels": f"{wheel_url}#sha256=ab",
        "pip": "file:///w/pip-26.3.whl#sha256=cd",
        "setuptools": None,
        "wheel": None,  # a folder, not an archive: pip-sync keys it by name
    }
    packages = {k: installed.Installed(v[0], (), v[2]) for k, v in found.items()}
    target = installed.Target("python", [], True, packages)
    assert sync._self_preservation("setuptools==65.5.0\n", target) == [
        "pip @ file:///w/pip-26.3.whl#sha256=cd",
        f"pipmodels @ {wheel_url}#sha256=ab",
    ]
