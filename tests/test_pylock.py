"""A PEP 751 lock (pylock.toml) written by ``pipmodels compile --format pylock``: read by a TOML
parser against the PEP's required keys, installed by real pip 26.3 and real uv, synced by
``pipmodels sync pylock.toml`` from the cache, and free of every credential form."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_wheel, sha256
from tests.conftest import SECRET, Project, Venv, files_containing, secret_forms
from tests.servers import Server
from tests.test_keyring import TOKEN, keyring_command, registry
from tests.test_make import copy_examples
from tests.test_security import FORMS, Hosts
from tests.test_security import hosts as hosts_fixture

hosts = hosts_fixture  # the keyed hosts of test_security, as a fixture here

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow

MACHINE_ENV = dict(os.environ)  # before the autouse fixture isolates pip: the registry
MODELS = "requirements-models.txt"
PIP_WITH_PYLOCK = "pip==26.3"
UV_COMPILE = [sys.executable, "-m", "uv", "pip", "compile", "-q"]


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
    pinned = {
        line.split("==")[0]: line.split("==")[1].split()[0]
        for line in requirements.splitlines()
        if "==" in line and not line.startswith(" ")
    }
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


@pytest.fixture(scope="session")
def pip_with_pylock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway environment holding pip 26.3, which installs from pylock.toml, installed
    from the machine's registry."""
    root = tmp_path_factory.mktemp("pip-26")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", PIP_WITH_PYLOCK],
        env={k: v for k, v in MACHINE_ENV.items() if not k.startswith("PYTEST")},
        check=True,
    )
    return python


def installer_env(project: Project, tmp_path: Path) -> dict[str, str]:
    """pip and uv as a user runs them beside the lock: the key in the user's own netrc."""
    netrc = project.write("user-netrc", f"machine 127.0.0.1\n  login {SECRET}\n")
    env = {**os.environ, **project.env, "NETRC": str(netrc)}
    del env["PRODIGY_KEY"]
    return env


def test_real_pip_and_uv_install_the_lock_from_its_urls(
    world: World,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    pip_with_pylock: Path,
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    env = installer_env(project, tmp_path)
    cache = str(project.root / ".pipmodels-cache")
    world.server.reset_counts()

    # As the README says: pip install -r pylock.toml. A locked file's URL wins over
    # --find-links, so the models come from their recorded URLs, not from the cache.
    pip = [str(pip_with_pylock), "-m", "pip", "--python", venv.python, "install"]
    subprocess.run(
        [*pip, "-r", "pylock.toml", "--find-links", cache], cwd=project.root, env=env, check=True
    )

    locked = {"en-core-web-sm": "3.8.0", "prodigy": "1.15.3", "tinyspacy": "3.8.2"}
    assert venv.freeze().items() >= {**locked, "helperlib": "1.0.0"}.items()
    assert world.server.bytes_of(world.model.name) == world.model.stat().st_size
    assert world.server.bytes_of(world.prodigy.name) == world.prodigy.stat().st_size

    other = tmp_path / "uv-venv"
    subprocess.run([sys.executable, "-m", "venv", str(other)], check=True)
    world.server.reset_counts()
    uv = [sys.executable, "-m", "uv", "pip", "sync", "--python", str(other / "bin" / "python")]
    subprocess.run(
        [*uv, "pylock.toml", "--find-links", cache], cwd=project.root, env=env, check=True
    )

    assert Venv(other).freeze().items() >= {**locked, "helperlib": "1.0.0"}.items()
    assert world.server.bytes_of(world.model.name) == world.model.stat().st_size


def test_sync_pylock_installs_models_from_the_cache_filled_from_the_lock(
    world: World, project: Project, venv: Venv, tmp_path: Path, engine: str
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    # A teammate: the lock from git, an empty cache, no key (the find-links page needs none:
    # its model's URL comes from the lock, which pipmodels fetches with the netrc's key).
    teammate = Project(tmp_path / "teammate")
    teammate.root.mkdir()
    (teammate.root / "pylock.toml").write_bytes((project.root / "pylock.toml").read_bytes())
    teammate.env.update(PIP_INDEX_URL=project.env["PIP_INDEX_URL"], PIPMODELS_ENGINE=engine)
    netrc = teammate.write("user-netrc", f"machine 127.0.0.1\n  login {SECRET}\n")
    teammate.env["NETRC"] = str(netrc)
    world.server.reset_counts()

    run = teammate.pipmodels("sync", "pylock.toml", "--python-executable", venv.python)

    packages = venv.freeze()
    assert packages["en-core-web-sm"] == "3.8.0" and packages["prodigy"] == "1.15.3"
    assert packages["tinyspacy"] == "3.8.2" and packages["helperlib"] == "1.0.0"
    cached = sorted(p.name for p in (teammate.root / ".pipmodels-cache").glob("*.whl"))
    assert cached == sorted([world.model.name, world.prodigy.name])
    assert world.server.bytes_of(world.model.name) == world.model.stat().st_size  # once
    assert (teammate.root / "pylock.toml").read_bytes() == (
        project.root / "pylock.toml"
    ).read_bytes()
    assert "pylock.toml" in run.stderr

    again = teammate.pipmodels("sync", "pylock.toml", "--python-executable", venv.python)
    assert world.server.bytes_of(world.model.name) == world.model.stat().st_size  # not again
    assert "installed:" not in again.stderr
    for output in (run.output, again.output):
        assert not any(form in output for form in secret_forms(SECRET))
    leaks = [p for p in files_containing(SECRET, tmp_path) if p.name != "user-netrc"]
    assert leaks == []


def hashes_of(requirements: str, name: str) -> list[str]:
    lines = requirements.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith(" ") or "--hash" not in line:
            break
        found.append(line.split("sha256:")[1].split()[0])
    return found


# -- no credential in any form --------------------------------------------------------------------

SLASHED = "tok/en+with=base64/chars"  # a registry token holding "/" and "+" and "="


def dotenv_form(project: Project, hosts: Hosts) -> None:
    project.write(".env", f"export PRODIGY_KEY='{SECRET}'\n")
    project.env.pop("PRODIGY_KEY")
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"-f {hosts.keyed('/prodigy/')}\nprodigy==1.15.3\n")


def slashed_token_form(project: Project, hosts: Hosts) -> None:
    hosts.server.add_find_links_page("/fury", SLASHED, [hosts.prodigy])
    project.env["PRODIGY_KEY"] = SLASHED
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"-f {hosts.keyed('/fury/')}\nprodigy==1.15.3\n")


def keyring_form(project: Project, hosts: Hosts) -> Path:
    user = "oauth2accesstoken"
    url = registry(hosts.server, project.root.parent, user).replace("http://", f"http://{user}@")
    keyring_command(project.root.parent / "bin", project.root.parent / "keyring-calls.log")
    path = f"{project.root.parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
    project.env.update(PIP_KEYRING_PROVIDER="subprocess", PATH=path)
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"--extra-index-url {url}\nprodigy==1.15.3\n")
    return project.root.parent / "reg" / "prodigy-1.15.3-py3-none-any.whl"


LOCK_FORMS: dict[str, tuple[Callable[[Project, Hosts], Path | None], str]] = {
    **{name: (form, SECRET) for name, form in FORMS.items()},
    ".env": (dotenv_form, SECRET),
    "a token with /": (slashed_token_form, SLASHED),
    "keyring (subprocess)": (keyring_form, TOKEN),
}


@pytest.mark.parametrize("form", list(LOCK_FORMS))
def test_no_credential_reaches_the_lock_the_output_or_the_cache(
    form: str, hosts: Hosts, project: Project, tmp_path: Path
) -> None:
    project.env.setdefault("PIP_INDEX_URL", hosts.public)
    project.env["PRODIGY_KEY"] = SECRET
    setup, secret = LOCK_FORMS[form]
    served = setup(project, hosts) or hosts.prodigy
    project.spy_secret = secret
    models = ["-m", "models.txt"] if (project.root / "models.txt").exists() else []

    run = project.pipmodels("compile", *models, "-o", "pylock.toml")

    packages = by_name(read_lock(project.root / "pylock.toml"))
    prodigy = packages["prodigy"]
    files = [prodigy["archive"]] if "archive" in prodigy else prodigy["wheels"]
    assert isinstance(files, list)
    assert [f["hashes"] for f in files] == [{"sha256": sha256(served)}]
    for file in files:
        assert "@" not in file["url"] and "/0x" not in file["url"]
        assert file["url"].startswith(hosts.host + "/")  # the origin, not the gateway
    assert not any(f in run.output for f in secret_forms(secret))
    users_own = {"user-pip.conf", "user-netrc", ".env", "keyring"}
    leaks = [p for p in files_containing(secret, tmp_path) if p.name not in users_own]
    assert leaks == []


# -- a lock that does not match what its URLs serve --------------------------------------------


def teammate_with(project: Project, tmp_path: Path, lock: str) -> Project:
    teammate = Project(tmp_path / "teammate")
    teammate.root.mkdir()
    teammate.write("pylock.toml", lock)
    teammate.env.update(PIP_INDEX_URL=project.env["PIP_INDEX_URL"])
    netrc = teammate.write("user-netrc", f"machine 127.0.0.1\n  login {SECRET}\n")
    teammate.env["NETRC"] = str(netrc)
    return teammate


def test_a_model_whose_url_serves_other_bytes_is_refused_and_nothing_changes(
    world: World, project: Project, venv: Venv, tmp_path: Path
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    lock = (project.root / "pylock.toml").read_text()
    forged = lock.replace(sha256(world.model), "0" * 64)
    teammate = teammate_with(project, tmp_path, forged)

    run = teammate.pipmodels("sync", "pylock.toml", "--python-executable", venv.python, check=False)

    assert run.returncode == 1
    error = next(line for line in run.stderr.splitlines() if line.startswith("error:"))
    assert "pylock.toml, line " in error and f"has sha256 {sha256(world.model)}" in error
    assert "Nothing was added to the cache" in error
    assert (teammate.root / "pylock.toml").read_text() == forged
    assert not list((teammate.root / ".pipmodels-cache").glob("en_core_web_sm*"))
    assert "en-core-web-sm" not in venv.freeze()


def test_a_lock_whose_size_is_wrong_installs_nothing(
    world: World, project: Project, venv: Venv, tmp_path: Path
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    lock = (project.root / "pylock.toml").read_text()
    size = world.model.stat().st_size
    edited = lock.replace(f"size = {size}\n", f"size = {size + 1}\n")
    assert edited != lock
    teammate = teammate_with(project, tmp_path, edited)

    run = teammate.pipmodels("sync", "pylock.toml", "--python-executable", venv.python, check=False)

    assert run.returncode == 1
    assert (
        f"error: pylock.toml records {world.model.name} (sha256 {sha256(world.model)}) as "
        f"{size + 1:,} bytes; the file with that sha256 has {size:,}. Nothing was installed"
    ) in run.stderr
    assert (teammate.root / "pylock.toml").read_text() == edited
    assert "en-core-web-sm" not in venv.freeze()


def test_a_hostile_lock_is_refused_before_anything_is_fetched(
    world: World, project: Project, venv: Venv, tmp_path: Path
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    lock = (project.root / "pylock.toml").read_text()
    keyed = lock.replace(world.model_url, world.model_url.replace("http://", "http://stolen@"))
    teammate = teammate_with(project, tmp_path, keyed)
    world.server.reset_counts()

    run = teammate.pipmodels("sync", "pylock.toml", "--python-executable", venv.python, check=False)

    assert run.returncode == 1
    assert "has a URL with user-info (http://****@127.0.0.1:" in run.stderr
    assert "stolen" not in run.output
    assert world.server.log == []


def test_sync_pylock_fills_the_cache_through_the_team_mirror(
    world: World, project: Project, venv: Venv, tmp_path: Path
) -> None:
    project.pipmodels("compile", "-m", MODELS, "-o", "pylock.toml")
    mirror = Server()
    try:
        simple = mirror.add_index([world.model, world.prodigy], prefix="/team")
        teammate = teammate_with(project, tmp_path, (project.root / "pylock.toml").read_text())
        del teammate.env["NETRC"]  # no key at all: the mirror has the models
        world.server.reset_counts()

        teammate.pipmodels(
            "sync", "pylock.toml", "--mirror", simple, "--python-executable", venv.python
        )

        assert venv.freeze()["prodigy"] == "1.15.3"
        assert world.server.bytes_of(world.model.name) == 0
        assert world.server.bytes_of(world.prodigy.name) == 0
        assert mirror.bytes_of(world.model.name) == world.model.stat().st_size
    finally:
        mirror.close()


# -- README: the bundled example as a lock ------------------------------------------------------


def test_readme_the_bundled_example_as_a_lock_installs_with_pip_and_uv(
    server: Server, tmp_path: Path, pip_with_pylock: Path
) -> None:
    example = Project(tmp_path / "example")
    copy_examples(example.root)
    # What `make -C examples install` builds first: the demo model, as `spacy package` would.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            "dist",
            "packages/en_demo_pipeline-1.0.0",
        ],
        cwd=example.root,
        env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
        check=True,
    )
    six = build_wheel(tmp_path / "index", "six", "1.17.0")
    example.env["PIP_INDEX_URL"] = server.add_index([six])  # the package index's stand-in

    # README, "A PEP 751 lock", as written (pipmodels from the venv that make install made)
    example.pipmodels("compile", "-m", "requirements-models.txt", "-o", "pylock.toml")

    packages = by_name(read_lock(example.root / "pylock.toml"))
    demo = packages["en-demo-pipeline"]["archive"]
    assert isinstance(demo, dict)
    assert demo["path"] == "dist/en_demo_pipeline-1.0.0-py3-none-any.whl"
    assert packages["six"]["index"] == f"{server.url}/simple/"
    env = {**os.environ, **example.env}
    for installer in ("pip", "uv"):
        venv = Venv(tmp_path / f"venv-{installer}")
        subprocess.run([sys.executable, "-m", "venv", str(venv.root)], check=True)
        if installer == "pip":  # python -m pip install -r pylock.toml (pip 26.1 or later)
            cmd = [str(pip_with_pylock), "-m", "pip", "--python", venv.python, "install"]
        else:  # uv pip install -r pylock.toml
            cmd = [sys.executable, "-m", "uv", "pip", "install", "--python", venv.python]
        subprocess.run([*cmd, "-r", "pylock.toml"], cwd=example.root, env=env, check=True)
        assert venv.run("import en_demo_pipeline as m; print(m.__version__)") == "1.0.0"
        assert venv.freeze()["six"] == "1.17.0"
    # and pipmodels itself, the local archive by its path, into the cache and installed from it
    synced = Venv(tmp_path / "venv-pipmodels")
    subprocess.run([sys.executable, "-m", "venv", str(synced.root)], check=True)
    example.pipmodels("sync", "pylock.toml", "--python-executable", synced.python)
    assert synced.freeze()["en-demo-pipeline"] == "1.0.0"


def test_sync_with_the_format_in_pyproject_locks_installs_and_then_does_nothing(
    world: World, project: Project, venv: Venv
) -> None:
    project.write("pyproject.toml", '[tool.pipmodels]\nformat = "pylock"\n')
    sync = ["sync", "-m", MODELS, "--python-executable", venv.python]

    project.pipmodels(*sync)

    assert not (project.root / "requirements.txt").exists()
    assert by_name(read_lock(project.root / "pylock.toml"))["prodigy"]["version"] == "1.15.3"
    assert venv.freeze()["en-core-web-sm"] == "3.8.0"
    assert project.pipmodels(*sync).stderr.startswith("Up to date")
    assert project.pipmodels("compile", "-m", MODELS, "--check").returncode == 0
    project.write("requirements.in", "tinyspacy>=3.8,<3.9\nhelperlib\n")
    stale = project.pipmodels("compile", "-m", MODELS, "--check", check=False)
    assert stale.returncode == 1
    assert "pylock.toml is out of date with its inputs" in stale.stderr


def test_a_lock_uv_wrote_is_synced_with_its_model_from_the_cache(
    world: World, project: Project, venv: Venv
) -> None:
    """Another tool's lock: uv pip compile -o pylock.toml, the model a direct reference."""
    project.write("app.in", f"tinyspacy>=3.8,<3.9\nen_core_web_sm @ {world.model_url}\n")
    subprocess.run(
        [*UV_COMPILE, "app.in", "-o", "pylock.toml", "--index-url", project.env["PIP_INDEX_URL"]],
        cwd=project.root,
        env={**os.environ, **project.env},
        check=True,
    )
    assert read_lock(project.root / "pylock.toml")["created-by"] == "uv"
    world.server.reset_counts()

    project.pipmodels("sync", "pylock.toml", "--python-executable", venv.python)

    assert venv.freeze().items() >= {"en-core-web-sm": "3.8.0", "tinyspacy": "3.8.2"}.items()
    assert [p.name for p in (project.root / ".pipmodels-cache").glob("*.whl")] == [world.model.name]
