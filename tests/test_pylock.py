"""A PEP 751 lock (pylock.toml) written by ``pipmodels compile --format pylock``: read by a TOML
parser against the PEP's required keys, installed by real pip 26.3 and real uv, synced by
``pipmodels sync pylock.toml`` from the cache, and free of every credential form."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_wheel, sha256
from tests.conftest import SECRET, Project, Venv, files_containing, secret_forms
from tests.servers import Server

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow

MACHINE_ENV = dict(os.environ)  # before the autouse fixture isolates pip: the registry
MODELS = "requirements-models.txt"
PIP_WITH_PYLOCK = "pip==26.3"


@dataclass
class World:
    server: Server
    model: Path  # en_core_web_sm, a GitHub release asset
    model_url: str
    prodigy: Path  # behind the key, on a find-links page
    page: str


@pytest.fixture
def world(server: Server, index: str, project: Project, tmp_path: Path) -> World:
    dist = tmp_path / "dist"
    model = build_wheel(dist, "en_core_web_sm", "3.8.0", requires=["tinyspacy>=3.8,<3.9"])
    prodigy = build_wheel(dist, "prodigy", "1.15.3", requires=["helperlib"])
    model_url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", model)
    page = server.add_find_links_page("/prodigy", SECRET, [prodigy])
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    project.write("requirements.in", f"tinyspacy>=3.8,<3.9\nen_core_web_sm @ {model_url}\n")
    keyed = page.replace("http://", "http://${PRODIGY_KEY}@")
    project.write(MODELS, f"-f {keyed}\nprodigy==1.15.3\n")
    return World(server, model, model_url, prodigy, page)


def read_lock(path: Path) -> dict[str, object]:
    data: dict[str, object] = tomllib.loads(path.read_text())
    return data


def by_name(lock: dict[str, object]) -> dict[str, dict[str, object]]:
    packages = lock["packages"]
    assert isinstance(packages, list)
    return {p["name"]: p for p in packages}


def test_compile_writes_a_pep_751_lock_of_the_same_resolution(
    world: World, project: Project, engine: str
) -> None:
    project.pipmodels("compile", "-m", MODELS)  # requirements.txt, to compare with
    run = project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")

    lock = read_lock(project.root / "pylock.toml")
    assert lock["lock-version"] == "1.0"
    assert lock["created-by"] == "pipmodels"
    packages = by_name(lock)
    requirements = (project.root / "requirements.txt").read_text()
    pinned = {line.split("==")[0]: line.split("==")[1].split()[0] for line in
              requirements.splitlines() if "==" in line and not line.startswith(" ")}
    assert {name: p["version"] for name, p in packages.items()} == pinned
    assert set(pinned) == {"en-core-web-sm", "prodigy", "tinyspacy", "helperlib"}
    for name in ("en-core-web-sm", "prodigy"):  # models: an archive at the origin's public URL
        archive = packages[name]["archive"]
        assert isinstance(archive, dict)
        assert set(archive) == {"url", "size", "hashes"}
    model = packages["en-core-web-sm"]["archive"]
    assert model == {
        "url": world.model_url,
        "size": world.model.stat().st_size,
        "hashes": {"sha256": sha256(world.model)},
    }
    prodigy = packages["prodigy"]["archive"]
    assert prodigy == {
        "url": world.page + "files/" + world.prodigy.name,  # no key, no gateway
        "size": world.prodigy.stat().st_size,
        "hashes": {"sha256": sha256(world.prodigy)},
    }
    index = world.server.url + "/simple/"
    for name, version in (("tinyspacy", "3.8.2"), ("helperlib", "1.0.0")):
        package = packages[name]
        assert package["index"] == index
        wheel = f"{name}-{version}-py3-none-any.whl"
        assert package["wheels"] == [
            {
                "name": wheel,
                "url": f"{world.server.url}/packages/{wheel}",
                "hashes": {"sha256": hashes_of(requirements, name)[0]},
            }
        ]
    text = (project.root / "pylock.toml").read_text()
    assert "127.0.0.1:" not in text.replace(world.server.url, "")  # no gateway address
    assert not project.files_containing(SECRET)
    assert all(form not in run.output for form in secret_forms(SECRET))


def hashes_of(requirements: str, name: str) -> list[str]:
    lines = requirements.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith(" ") or "--hash" not in line:
            break
        found.append(line.split("sha256:")[1].split()[0])
    return found
