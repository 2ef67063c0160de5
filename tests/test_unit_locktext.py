"""The edits made to what pip-compile and uv write, and the pins read from it, on text."""

from __future__ import annotations

from pipmodels import locktext

CACHE = "file:///home/me/project/.pipmodels-cache"


def test_scratch_paths_and_projects_read_as_the_user_wrote_them() -> None:
    text = (
        "a==1\n    # via -r /tmp/run/compile-x/home/me/models.txt\n"
        "    # via app (/home/me/pyproject.toml)\n"
    )
    text = locktext.without_prefix(text, "/tmp/run/compile-x")
    assert locktext.with_paths_as_given(text, {"/home/me/pyproject.toml": "pyproject.toml"}) == (
        "a==1\n    # via -r /home/me/models.txt\n    # via app (pyproject.toml)\n"
    )


def test_cached_files_become_pins_and_a_stray_cache_path_is_caught() -> None:
    url = f"{CACHE}/en_core_web_sm-3.8.0-py3-none-any.whl"
    text = f"en-core-web-sm @ {url} \\\n    --hash=sha256:ab\n"
    assert locktext.pin_references(text, {url: "3.8.0"}, forbidden=CACHE) == (
        "en-core-web-sm==3.8.0 \\\n    --hash=sha256:ab\n"
    )
    assert locktext.pin_references(text, {}, forbidden=CACHE) is None


def test_the_digest_and_where_it_goes() -> None:
    digest = "a" * 64
    text = locktext.add_digest("a==1\n", "pipmodels compile", digest)  # no header at all
    assert text == f"# pipmodels inputs digest: sha256:{digest}\n#\na==1\n"
    assert locktext.recorded_digest(text) == digest
    assert locktext.recorded_digest("a==1\n") is None


def test_pins_read_by_name_and_rewritten_as_references() -> None:
    text = "En_Core-Web.SM[x]==3.8.0 ; python_version >= '3'\nspacy==3.8.2\nb @ file:///b.whl\n"
    assert locktext.pinned_names(text) == ["En_Core-Web.SM", "spacy", "b"]
    assert locktext.pinned_version(text, "spacy") == "3.8.2"
    assert locktext.pinned_version(text, "torch") is None
    url = "file:///c/en_core_web_sm-3.8.0-py3-none-any.whl#sha256=ab"
    rewritten = locktext.pins_as_references(text, [("en-core-web-sm", "3.8.0", url)])
    assert rewritten.splitlines()[0] == f"en-core-web-sm[x] @ {url} ; python_version >= '3'"
    assert locktext.pins_as_references(text, [("en-core-web-sm", "3.7.0", url)]) == text
