"""The cache heals itself, and pipmodels starts on every platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipmodels import statedir
from pipmodels.archives import inspect
from pipmodels.cache import MANIFEST, Cache, Entry
from pipmodels.errors import PipmodelsError
from tests.builders import build_wheel

ROOT = Path(__file__).resolve().parent.parent


def cached(tmp_path: Path) -> tuple[Cache, Entry]:
    cache = Cache(tmp_path / "cache")
    cache.ensure()
    wheel = build_wheel(tmp_path / "dist", "en_demo", "1.0.0")
    staged = cache.state / wheel.name
    staged.write_bytes(wheel.read_bytes())
    archive = inspect(staged)
    entry = Entry(wheel.name, archive.name, archive.version, archive.sha256, staged.stat().st_size)
    return cache, cache.add(staged, entry, "en_demo @ https://h/x.whl")


@pytest.mark.parametrize(
    "manifest",
    ["[]", "null", '{"files": []}', '{"files": {"x.whl": {"name": "x"}}}', "{not json"],
)
def test_a_manifest_of_the_wrong_shape_costs_a_download_not_a_crash(
    tmp_path: Path, manifest: str
) -> None:
    cache, _ = cached(tmp_path)
    (cache.state / MANIFEST).write_text(manifest)
    assert cache.entries() == []
    assert cache.lookup("en_demo @ https://h/x.whl") is None
    cache.write_page()  # and the page is rebuilt from what is left


def test_an_archive_edited_with_its_mtime_put_back_is_no_longer_trusted(tmp_path: Path) -> None:
    cache, entry = cached(tmp_path)
    path = cache.root / entry.filename
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    time.sleep(0.01)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert Cache(cache.root).entries() == []


def test_an_archive_copied_whole_is_still_trusted(tmp_path: Path) -> None:
    cache, entry = cached(tmp_path)
    path = cache.root / entry.filename
    os.utime(path, ns=(0, 0))  # as a CI cache restore might leave it
    assert [e.filename for e in Cache(cache.root).entries()] == [entry.filename]


def test_a_deleted_links_page_is_rebuilt(tmp_path: Path) -> None:
    cache, entry = cached(tmp_path)
    cache.page.unlink()
    with cache.locked():
        pass
    assert f"{entry.filename}#sha256={entry.sha256}" in cache.page.read_text()


def test_the_cache_holds_no_local_path_and_nothing_keyed_by_a_secret(tmp_path: Path) -> None:
    cache, _ = cached(tmp_path)
    manifest = (cache.state / MANIFEST).read_text()
    assert str(tmp_path) not in manifest
    assert "salt" not in json.loads(manifest)


def test_a_folder_with_other_files_is_not_taken_as_a_cache(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "setup.py").write_text("")
    with pytest.raises(PipmodelsError, match="holds other files"):
        Cache(tmp_path / "project").ensure()
    assert sorted(os.listdir(tmp_path / "project")) == ["setup.py"]


def test_leftover_staging_folders_are_swept_when_no_run_holds_the_lock(tmp_path: Path) -> None:
    cache, _ = cached(tmp_path)
    (cache.state / "download-abc").mkdir()
    cache.sweep_if_idle()
    assert not (cache.state / "download-abc").exists()


def test_run_folders_of_dead_runs_are_swept(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (runs / f"{dead.stdout.strip()}-x").mkdir(parents=True)
    mine = statedir.new_run_dir(tmp_path)
    assert [p.name for p in runs.iterdir()] == [mine.name]


def test_every_module_imports_without_fcntl() -> None:
    """Windows has no fcntl: nothing may need it to start."""
    code = (
        "import sys, pkgutil, importlib; sys.modules['fcntl'] = None\n"
        "import pipmodels\n"
        "for m in pkgutil.iter_modules(pipmodels.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('pipmodels.' + m.name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_a_copied_archive_is_hashed_once_then_trusted_by_its_new_times(tmp_path: Path) -> None:
    cache, entry = cached(tmp_path)
    os.utime(cache.root / entry.filename, ns=(0, 0))
    with Cache(cache.root).locked():
        pass
    fresh = Cache(cache.root)
    assert [e.filename for e in fresh.entries()] == [entry.filename]
    assert fresh._verified == {}, "a file whose times were recorded was hashed again"
