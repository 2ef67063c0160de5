"""Pure functions: file names from servers, requirement files, command lines, pip's output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.version import Version

from pipmodels import pipcommands, pipoutput
from pipmodels.engines import pip_tools
from pipmodels.errors import PipmodelsError
from pipmodels.filenames import canonical_filename, safe_filename
from pipmodels.http import archive_filename
from pipmodels.options import CommandLine, Options, resolve
from pipmodels.reqfile import logical_lines, parse_requirement, read_one_tree, split_option

# -- file names from the network ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc/passwd",
        "/tmp/evil.whl",
        "..",
        "",
        "a\x00b.whl",
        "x" * 300 + ".whl",
        "C:\\Windows\\evil.whl",
        "con.whl",
        ".bashrc",
        "model.whl ",
    ],
)
def test_safe_filename_refuses_hostile_names(hostile: str) -> None:
    with pytest.raises(PipmodelsError) as caught:
        safe_filename(hostile, what="the URL")
    assert "pipmodels will not write" in caught.value.message
    assert "\x00" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "disposition"),
    [
        ("https://h/%2F..%2F..%2Ftmp%2Fx-any-py3-none-any.whl", ""),
        ("https://h/%2Ftmp%2Fpwned-any-py3-none-any.whl", ""),
        ("https://h/download?id=1", 'attachment; filename="../../x.whl"'),
        ("https://h/download?id=1", "attachment; filename*=UTF-8''..%2F..%2Fx.whl"),
    ],
)
def test_archive_names_from_urls_and_headers_never_leave_the_folder(
    url: str, disposition: str
) -> None:
    with pytest.raises(PipmodelsError):
        archive_filename(url, {"Content-Disposition": disposition}, where="line 1")


def test_archive_names_that_are_fine_pass() -> None:
    assert archive_filename("https://h/a/en_x-any-py3-none-any.whl?x=1", {}, where="") == (
        "en_x-any-py3-none-any.whl"
    )
    headers = {"Content-Disposition": "attachment; filename=en_x-1.0-py3-none-any.whl"}
    assert archive_filename("https://h/blob/123", headers, where="") == (
        "en_x-1.0-py3-none-any.whl"
    )


def test_canonical_filename_names_hugging_face_wheels_by_their_metadata() -> None:
    name = canonical_filename(
        "en_core_web_sm-any-py3-none-any.whl", "en-core-web-sm", Version("3.8.0")
    )
    assert name == "en_core_web_sm-3.8.0-py3-none-any.whl"
    assert canonical_filename("x.zip", "My.Pkg", Version("1")) == "my_pkg-1.zip"


# -- requirement files ---------------------------------------------------------------------------


def test_logical_lines_as_pip_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(
        "\ufeff# comment\r\nspacy>=3.8  # trailing\r\n-f https://h \\\r\n  \r\n"
        "en @ x.whl\r\n".encode()
    )
    assert [(line.number, line.text) for line in logical_lines(path)] == [
        (2, "spacy>=3.8"),
        (3, "-f https://h"),
        (5, "en @ x.whl"),
    ]


def test_a_cycle_of_nested_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(PipmodelsError, match="include each other in a cycle"):
        read_one_tree(tmp_path / "a.txt")


def test_one_tree_holds_the_options_of_nested_files(tmp_path: Path) -> None:
    (tmp_path / "models.txt").write_text("-f https://page\n-r nested/more.txt\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "more.txt").write_text("prodigy==1.15.3\n--no-index\n")
    tree = read_one_tree(tmp_path / "models.txt")
    assert [o.text for f in tree for o in f.options] == ["--find-links https://page", "--no-index"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-f URL", ("-f", "URL")),
        ("--find-links=URL", ("--find-links", "URL")),
        ("--index-url  URL", ("--index-url", "URL")),
        ("--no-index", ("--no-index", "")),
    ],
)
def test_split_option(text: str, expected: tuple[str, str]) -> None:
    assert split_option(text) == expected


def test_parse_requirement_reads_the_documented_forms(tmp_path: Path) -> None:
    from pipmodels.reqfile import Line

    spacy = parse_requirement(
        Line(tmp_path, 1, "en_core_web_sm @ https://h/en_core_web_sm-3.8.0-py3-none-any.whl")
    )
    assert (spacy.name, spacy.url) == (
        "en-core-web-sm",
        "https://h/en_core_web_sm-3.8.0-py3-none-any.whl",
    )
    egg = parse_requirement(
        Line(tmp_path, 1, "https://h/en_core_web_sm-3.7.1.tar.gz#egg=en_core_web_sm")
    )
    assert egg.name == "en-core-web-sm"
    hashed = parse_requirement(Line(tmp_path, 1, "prodigy==1.15.3 --hash=sha256:abc"))
    assert (hashed.name, hashed.hashes) == ("prodigy", ["sha256:abc"])
    with pytest.raises(PipmodelsError, match="cannot parse"):
        parse_requirement(Line(tmp_path, 1, "not a requirement !!"))


# -- command lines ---------------------------------------------------------------------------------


def test_pip_download_takes_wheels_only_and_skips_pips_cache(tmp_path: Path) -> None:
    cmd = pipcommands.pip_download(
        tmp_path / "r.txt", tmp_path / "d", resume_retries=0, verbose=False
    )
    assert cmd[:3] == [sys.executable, "-m", "pip"]
    assert cmd[cmd.index("--only-binary") + 1] == ":all:"
    assert "--no-cache-dir" in cmd
    assert "--requirement" in cmd and "--resume-retries" not in cmd
    cmd = pipcommands.pip_download(
        tmp_path / "r.txt", tmp_path / "d", resume_retries=5, verbose=True
    )
    assert cmd[-3:] == ["--resume-retries", "5", "--verbose"]


def test_pip_compile_leaves_indexes_and_links_out_of_its_output(tmp_path: Path) -> None:
    cmd = pip_tools.pip_compile(
        ["requirements.in"], tmp_path / "out.txt", find_links=tmp_path / "index.html", hashes=True
    )
    for flag in ("--no-emit-find-links", "--no-emit-index-url", "--generate-hashes", "--quiet"):
        assert flag in cmd
    assert cmd[-1] == "requirements.in"


def test_pip_sync_gets_each_page_and_the_target() -> None:
    cmd = pip_tools.pip_sync(
        Path("r.txt"), find_links=["cache/index.html", "https://page"], python_executable="/py"
    )
    assert cmd[3:] == [
        "sync",
        "--find-links",
        "cache/index.html",
        "--find-links",
        "https://page",
        "--python-executable",
        "/py",
        "r.txt",
    ]


def test_options_resolve_command_line_over_project_over_defaults() -> None:
    project = {"models": ["m.txt"], "pip-compile-args": ["--strip-extras"], "jobs": 2}
    options = resolve(CommandLine(upgrade=True, pip_args="--pre", extras=("dev",)), project)
    assert options.models_files == (Path("m.txt"),)
    assert options.jobs == 2
    assert options.compile_args == (
        "--strip-extras",
        "--upgrade",
        "--extra",
        "dev",
        "--pip-args",
        "--pre",
    )
    assert options.sync_args == ("--pip-args", "--pre")
    assert resolve(CommandLine(jobs=8), project).jobs == 8


def test_header_command_names_what_the_user_ran() -> None:
    options = Options(models_files=(Path("models.txt"),), hashes=False, sources=(Path("a b.in"),))
    assert options.header_command == "pipmodels compile -m models.txt --no-generate-hashes 'a b.in'"
    assert Options().output_path == Path("requirements.txt")


# -- pip's output ----------------------------------------------------------------------------------


def test_download_failures_are_told_apart() -> None:
    assert pipoutput.download_failure("THESE PACKAGES DO NOT MATCH THE HASHES").kind == "hash"
    mislabelled = pipoutput.download_failure(
        "has inconsistent name: expected 'a', but metadata has 'b'"
    )
    assert (mislabelled.kind, mislabelled.detail) == ("mislabelled", ("name", "a", "b"))
    assert pipoutput.download_failure("No matching distribution found for x").kind == "no-match"
    assert pipoutput.download_failure("boom").kind == "other"


def test_sync_reports_read_what_changed() -> None:
    dry = pipoutput.sync_report(
        "Would uninstall:\n  handmade\nWould install:\n  en-core-web-sm==3.8.0\n", dry_run=True
    )
    assert (dry.removed, dry.installed, dry.changes) == (
        ["handmade"],
        ["en-core-web-sm==3.8.0"],
        True,
    )
    real = pipoutput.sync_report(
        "Found existing installation: handmade 1.0\n  Successfully uninstalled handmade-1.0\n"
        "Successfully installed en-core-web-sm-3.8.0 helperlib-1.0.0\n",
        dry_run=False,
    )
    assert real.removed == ["handmade-1.0"]
    assert real.installed == ["en-core-web-sm-3.8.0", "helperlib-1.0.0"]
    assert not pipoutput.sync_report("Everything up-to-date\n", dry_run=False).changes


def test_useful_tail_stops_before_the_traceback() -> None:
    lines = ["ERROR: pip said no", "Traceback (most recent call last):", "  File x"]
    assert pipoutput.useful_tail(lines, 5) == ["ERROR: pip said no"]
