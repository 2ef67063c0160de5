"""Trust only what was verified: files pipmodels derived, archives, values and reads from the
network, and the cache folder as something a third party may have written.

Each test attacks a class, with its variants. Tests that run pip, pip-compile or uv are slow.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.builders import build_wheel
from tests.conftest import Project, Venv
from tests.servers import Server

CACHE = ".pipmodels-cache"


def _model_world(server: Server, project: Project, tmp_path: Path, index: str) -> Path:
    """requirements.in with a dependency from the index and a model by URL; one download."""
    model = build_wheel(tmp_path / "dist", "en_trust", "1.0.0", marker="real")
    server.add_file(f"/{model.name}", model.read_bytes())
    project.env["PIP_INDEX_URL"] = index
    project.write("requirements.in", f"tinyspacy\nen_trust @ {server.url}/{model.name}\n")
    project.pipmodels("download")
    return model


def _plant_newer_tinyspacy(cache: Path, tmp_path: Path, how: str) -> None:
    """A third party's tinyspacy 9.9 in or beside the cache, linked the way ``how`` says."""
    evil = build_wheel(tmp_path / "evil", "tinyspacy", "9.9", marker="evil")
    page = cache / "index.html"
    if how == "dropped-file":  # the file alone, the page left as pipmodels wrote it
        shutil.copy(evil, cache / evil.name)
    elif how == "edited-page":  # the file, and a line on the cache's page
        shutil.copy(evil, cache / evil.name)
        text = page.read_text().replace(
            "</body>", f'<a href="{evil.name}">{evil.name}</a>\n</body>'
        )
        page.write_text(text)
    elif how == "page-links-outside":  # a page restored from elsewhere, pointing outside
        text = page.read_text().replace(
            "</body>", f'<a href="{evil.as_uri()}">{evil.name}</a>\n</body>'
        )
        page.write_text(text)
    elif how == "page-is-a-symlink":  # index.html replaced by a link to the attacker's page
        outside = tmp_path / "evil" / "index.html"
        outside.write_text(f'<a href="{evil.as_uri()}">{evil.name}</a>\n')
        page.unlink()
        page.symlink_to(outside)
    else:
        raise AssertionError(how)


PLANTS = ["dropped-file", "edited-page", "page-links-outside", "page-is-a-symlink"]


@pytest.mark.slow
@pytest.mark.parametrize("how", PLANTS)
def test_nothing_a_third_party_put_in_the_cache_is_pinned(
    how: str, engine: str, server: Server, project: Project, tmp_path: Path, index: str
) -> None:
    _model_world(server, project, tmp_path, index)
    _plant_newer_tinyspacy(project.root / CACHE, tmp_path, how)
    project.pipmodels("compile")
    pins = (project.root / "requirements.txt").read_text()
    assert "tinyspacy==3.9.0" in pins, pins
    assert "9.9" not in pins


@pytest.mark.slow
def test_a_restored_cache_with_a_tampered_archive_is_healed_never_installed(
    engine: str, server: Server, project: Project, tmp_path: Path, index: str, venv: Venv
) -> None:
    model = _model_world(server, project, tmp_path, index)
    cached = project.root / CACHE / model.name
    # Same name, same size (the markers are as long), the mtime put back: only the bytes differ.
    evil = build_wheel(tmp_path / "evil", "en_trust", "1.0.0", marker="evil")
    assert evil.stat().st_size == cached.stat().st_size
    before = cached.stat()
    shutil.copy(evil, cached)
    os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
    _plant_newer_tinyspacy(project.root / CACHE, tmp_path, "edited-page")
    server.reset_counts()
    run = project.pipmodels("sync", "--python-executable", venv.python)
    assert server.requests[f"/{model.name}"] == 1, run.output  # fetched again: healed
    assert venv.run("import en_trust; print(en_trust.MARKER)") == "real"
    assert venv.freeze()["tinyspacy"] == "3.9.0"
    assert cached.read_bytes() == model.read_bytes()
