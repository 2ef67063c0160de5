"""The security promise in every form users write: keys work and never leak, impostors and
placeholders never install, and no name from a server writes outside the cache.

Every run samples /proc/*/cmdline for the key (as is, percent-encoded and in basic-auth base64),
and every file under the test's folder is scanned for it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import build_sdist, build_wheel, sha256
from tests.conftest import SECRET, Pips, Project, Venv, files_containing
from tests.servers import Server

pytestmark = pytest.mark.slow


@dataclass
class Hosts:
    server: Server
    prodigy: Path
    public: str  # an index without auth: the public index's stand-in
    host: str  # http://127.0.0.1:PORT

    def keyed(self, path: str, userinfo: str = "${PRODIGY_KEY}") -> str:
        return self.host.replace("http://", f"http://{userinfo}@") + path


@pytest.fixture
def hosts(server: Server, tmp_path: Path) -> Hosts:
    prodigy = build_wheel(
        tmp_path / "real", "prodigy", "1.15.3", requires=["helperlib"], marker="real"
    )
    helper = build_wheel(tmp_path / "pub", "helperlib", "1.0.0")
    public = server.add_index([helper, build_wheel(tmp_path / "pub", "tinyspacy", "3.8.2")])
    server.add_find_links_page("/prodigy", SECRET, [prodigy])
    return Hosts(server, prodigy, public, server.url)


def private_index(hosts: Hosts, userinfo: str) -> str:
    helper = build_wheel(hosts.prodigy.parent / "priv", "helperlib", "1.0.0")
    return hosts.server.add_index([hosts.prodigy, helper], prefix="/private", auth=userinfo)


def artifactory_conf(project: Project, hosts: Hosts) -> None:
    index = private_index(hosts, f"user:{SECRET}")
    conf = project.write(
        "user-pip.conf",
        f"[global]\nextra-index-url = {index.replace('http://', f'http://user:{SECRET}@')}\n",
    )
    project.env["PIP_CONFIG_FILE"] = str(conf)
    project.write("requirements.in", "prodigy==1.15.3\n")


def index_in_requirements(project: Project, hosts: Hosts) -> None:
    index = private_index(hosts, f"{SECRET}:")
    project.write(
        "requirements.in",
        f"-i {index.replace('http://', 'http://${PRODIGY_KEY}@')}\nprodigy==1.15.3\n",
    )


def index_in_environment(project: Project, hosts: Hosts) -> None:
    index = private_index(hosts, f"{SECRET}:")
    project.env["PIP_INDEX_URL"] = index.replace("http://", f"http://{SECRET}@")
    project.write("requirements.in", "prodigy==1.15.3\n")


def find_links_in_environment(project: Project, hosts: Hosts) -> None:
    """The blog's form: export PIP_FIND_LINKS=https://${PRODIGY_KEY}@download.prodi.gy"""
    project.env["PIP_FIND_LINKS"] = hosts.keyed("/prodigy/", SECRET)
    project.write("requirements.in", "prodigy==1.15.3\n")


def find_links_in_requirements(project: Project, hosts: Hosts) -> None:
    project.write("requirements.in", f"-f {hosts.keyed('/prodigy/')}\nprodigy==1.15.3\n")


def netrc_file(project: Project, hosts: Hosts) -> None:
    netrc = project.write("user-netrc", f"machine 127.0.0.1\n  login {SECRET}\n")
    project.env["NETRC"] = str(netrc)
    project.write("requirements.in", f"-f {hosts.host}/prodigy/\nprodigy==1.15.3\n")


def models_file_nested(project: Project, hosts: Hosts) -> None:
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"-f {hosts.keyed('/prodigy/')}\n-r nested/more.txt\n")
    project.write("nested/more.txt", "prodigy==1.15.3\n")


def models_file_options_nested(project: Project, hosts: Hosts) -> None:
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", "-r nested/options.txt\nprodigy==1.15.3\n")
    project.write("nested/options.txt", f"--find-links {hosts.keyed('/prodigy/')}\n")


FORMS: dict[str, Callable[[Project, Hosts], None]] = {
    "index-in-requirements.in": index_in_requirements,
    "PIP_INDEX_URL": index_in_environment,
    "PIP_FIND_LINKS (the blog)": find_links_in_environment,
    "find-links-in-requirements.in": find_links_in_requirements,
    "pip.conf extra-index-url (Artifactory)": artifactory_conf,
    "netrc": netrc_file,
    "models file, -f above a nested -r": models_file_nested,
    "models file, -f in a nested -r": models_file_options_nested,
}


# The forms in which the installer itself (not pipmodels' download) needs the key.
UV_FORMS = [
    "index-in-requirements.in",
    "PIP_INDEX_URL",
    "PIP_FIND_LINKS (the blog)",
    "find-links-in-requirements.in",
    "pip.conf extra-index-url (Artifactory)",
    "netrc",
]
CASES = [
    *((form, "pip-tools") for form in FORMS),
    *((form, "uv") for form in UV_FORMS),
]


@pytest.mark.parametrize(("form", "engine"), CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_every_credential_form_installs_and_nothing_leaks(
    form: str, engine: str, hosts: Hosts, project: Project, venv: Venv, tmp_path: Path
) -> None:
    installs_and_nothing_leaks(form, engine, hosts, project, venv, tmp_path)


def test_a_keyed_index_installs_and_nothing_leaks_with_each_pip(
    hosts: Hosts, project: Project, pips: Pips, tmp_path: Path
) -> None:
    """The tool's pip downloads through the gateway and the target's pip installs through it."""
    installs_and_nothing_leaks("PIP_INDEX_URL", "pip-tools", hosts, project, pips.venv, tmp_path)


def installs_and_nothing_leaks(
    form: str, engine: str, hosts: Hosts, project: Project, venv: Venv, tmp_path: Path
) -> None:
    project.env["PIPMODELS_ENGINE"] = engine
    project.env.setdefault("PIP_INDEX_URL", hosts.public)
    project.env["PRODIGY_KEY"] = SECRET
    FORMS[form](project, hosts)
    project.spy_secret = SECRET
    models = ["-m", "models.txt"] if (project.root / "models.txt").exists() else []
    args = ["sync", *models, "--python-executable", venv.python]

    cold = project.pipmodels(*args)

    assert venv.run("import prodigy; print(prodigy.MARKER)") == "real"
    requirements = (project.root / "requirements.txt").read_text()
    assert f"--hash=sha256:{sha256(hosts.prodigy)}" in requirements
    warm = project.pipmodels(*args)
    assert warm.stderr.startswith("Up to date")
    check = project.pipmodels("compile", *models, "--check", "-v")
    assert ("uv pip compile" in check.stderr) == (engine == "uv")
    for run in (cold, warm, check):
        assert SECRET not in run.output
    users_own = {"user-pip.conf", "user-netrc"}
    leaks = [p for p in files_containing(SECRET, tmp_path) if p.name not in users_own]
    assert leaks == []


def test_a_key_in_a_urls_path_is_refused_and_never_shown(
    hosts: Hosts, project: Project, tmp_path: Path
) -> None:
    project.env["PRODIGY_KEY"] = SECRET
    project.write("requirements.in", "tinyspacy\n")
    project.write("models.txt", f"-f {hosts.host}/tok/${{PRODIGY_KEY}}/\nprodigy==1.15.3\n")
    project.spy_secret = None
    run = project.pipmodels("compile", "-m", "models.txt", check=False)
    assert run.returncode == 1
    assert "models.txt, line 1: ${PRODIGY_KEY} is in the URL's host, path or query" in run.stderr
    assert "https://${KEY}@host/path" in run.stderr
    assert SECRET not in run.output
    assert not (project.root / "requirements.txt").exists()
    assert list((project.root / ".pipmodels-cache").glob("*.whl")) == []


def test_an_unset_variable_is_named_not_blamed_on_the_key(hosts: Hosts, project: Project) -> None:
    project.write(".env", f"PRODIGY_KEY={SECRET}  # from the licence email\n")
    project.write("requirements.in", "tinyspacy\n")
    project.write(
        "models.txt", f"-f {hosts.keyed('/prodigy/', '${PRODIGY_KEYX}')}\nprodigy==1.15.3\n"
    )
    run = project.pipmodels("download", "-m", "models.txt", check=False)
    assert run.returncode == 1
    assert "models.txt, line 1: PRODIGY_KEYX is not set" in run.stderr
    assert ".env" in run.stderr
    assert "refused" not in run.stderr
    assert SECRET not in run.output


def test_prodigys_form_with_a_good_key_and_a_missing_version_is_not_called_a_bad_key(
    hosts: Hosts, project: Project
) -> None:
    project.env["PRODIGY_KEY"] = SECRET
    project.write("models.txt", f"-f {hosts.keyed('/prodigy/')}\nprodigy==9.9\n")
    run = project.pipmodels("download", "-m", "models.txt", check=False)
    assert run.returncode == 1
    assert "no wheel matching prodigy==9.9" in run.stderr
    assert "credentials" not in run.stderr
    assert SECRET not in run.output


def test_a_rotated_key_leaves_the_cache_as_it_was(
    hosts: Hosts, project: Project, tmp_path: Path
) -> None:
    project.env["PRODIGY_KEY"] = SECRET
    project.write("models.txt", f"-f {hosts.keyed('/prodigy/')}\nprodigy==1.15.3\n")
    project.pipmodels("download", "-m", "models.txt")
    cache = project.root / ".pipmodels-cache"
    before = {p: p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}
    hosts.server.reset_counts()

    project.env["PRODIGY_KEY"] = "a-new-key-after-rotation"
    run = project.pipmodels("download", "-m", "models.txt")

    assert run.stdout == "prodigy==1.15.3\n"
    assert sum(hosts.server.requests.values()) == 0
    after = {p: p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}
    assert after == before
    assert files_containing(SECRET, cache) == []


# -- placeholders and impostors ----------------------------------------------------------------

PLACEHOLDER_SETUP = (
    "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"
    "raise SystemExit('this is a placeholder')\n"
)


@pytest.fixture
def placeholder_index(server: Server, tmp_path: Path) -> tuple[str, Path]:
    marker = tmp_path / "setup-py-ran"
    stub = build_sdist(
        tmp_path / "stub",
        "de_core_news_md",
        "999.9.9",
        setup_py=PLACEHOLDER_SETUP.format(marker=str(marker)),
    )
    other = build_sdist(
        tmp_path / "stub",
        "acme_model",
        "999.9.9",
        setup_py=PLACEHOLDER_SETUP.format(marker=str(marker)),
    )
    return server.add_index(
        [stub, other, build_wheel(tmp_path / "w", "tinyspacy", "3.8.2")]
    ), marker


@pytest.mark.parametrize(
    ("models", "requirements"),
    [
        ("de_core_news_md\n", "tinyspacy\n"),
        (None, "tinyspacy\nde_core_news_md\n"),
        ("acme_model==999.9.9\n", "tinyspacy\n"),
    ],
    ids=["spacy-name-in-models-file", "spacy-name-in-requirements.in", "sdist-only-name"],
)
def test_a_placeholder_is_named_and_its_setup_py_never_runs(
    models: str | None,
    requirements: str,
    placeholder_index: tuple[str, Path],
    project: Project,
) -> None:
    index, marker = placeholder_index
    project.env["PIP_INDEX_URL"] = index
    project.write("requirements.in", requirements)
    args = ["compile"]
    if models is not None:
        project.write("models.txt", models)
        args += ["-m", "models.txt"]
    run = project.pipmodels(*args, check=False)
    assert run.returncode == 1
    assert "on the package index is a placeholder, not the model" in run.stderr
    assert "Traceback" not in run.output
    assert not marker.exists(), "a placeholder's setup.py ran"
    assert not (project.root / "requirements.txt").exists()


def test_a_file_name_from_the_network_never_leaves_the_cache(
    server: Server, project: Project, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path / "hf", "en_core_web_sm", "3.8.0")
    outside = tmp_path / "pwned-any-py3-none-any.whl"
    # The server sees the percent-decoded path; the name pipmodels would take decodes the same.
    server.add_file("//../../../pwned-any-py3-none-any.whl", wheel.read_bytes())
    url = f"{server.url}/%2F..%2F..%2F..%2Fpwned-any-py3-none-any.whl"
    project.write("requirements.in", f"en_core_web_sm @ {url}\n")
    run = project.pipmodels("download", check=False)
    assert run.returncode == 1
    assert "pipmodels will not write" in run.stderr
    assert not outside.exists()
    assert list(tmp_path.rglob("pwned*")) == []


def test_a_url_whose_file_is_another_package_says_which(
    server: Server, project: Project, tmp_path: Path
) -> None:
    md = build_wheel(tmp_path / "md", "en_core_web_md", "3.8.0")
    url = server.add_release_asset("explosion/spacy-models", "en_core_web_md-3.8.0", md)
    project.write("requirements.in", f"en_core_web_sm @ {url}\n")
    run = project.pipmodels("download", check=False)
    assert run.returncode == 1
    assert "the line names en-core-web-sm, but the file it points at holds en-core-web-md" in (
        run.stderr
    )
    assert "Traceback" not in run.output


def test_an_sdist_model_behind_a_keyed_index_never_builds_and_never_leaks(
    hosts: Hosts, project: Project, tmp_path: Path
) -> None:
    """Before: pip built the sdist in a subprocess whose argv carried `-i https://KEY@host`."""
    marker = tmp_path / "setup-py-ran"
    sdist = build_sdist(
        tmp_path / "s", "acme_model", "1.0", setup_py=PLACEHOLDER_SETUP.format(marker=str(marker))
    )
    index = hosts.server.add_index([sdist], prefix="/private", auth=f"{SECRET}:")
    project.env["PRODIGY_KEY"] = SECRET
    project.write(
        "models.txt", f"-i {index.replace('http://', 'http://${PRODIGY_KEY}@')}\nacme_model==1.0\n"
    )
    project.spy_secret = SECRET
    run = project.pipmodels("download", "-m", "models.txt", check=False)
    assert run.returncode == 1
    assert "no wheel matching acme_model==1.0" in run.stderr
    assert "name @ https://host/name-1.0.tar.gz" in run.stderr
    assert not marker.exists()
    assert SECRET not in run.output
