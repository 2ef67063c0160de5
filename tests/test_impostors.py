"""Model names on the public index: impostors with the real version, and 999.9.9 placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import build_sdist, build_wheel, sha256
from tests.conftest import SECRET, Project, Venv
from tests.servers import Server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("hashes", [True, False], ids=["hashes", "no-hashes"])
@pytest.mark.parametrize("index_hashes", [True, False], ids=["index-hashes", "no-index-hashes"])
def test_the_cached_file_wins_over_the_index(
    server: Server,
    project: Project,
    venv: Venv,
    tmp_path: Path,
    index_hashes: bool,
    hashes: bool,
    engine: str,
) -> None:
    canary = tmp_path / "placeholder-setup-py-ran"
    real = tmp_path / "real"
    impostor_dir = tmp_path / "impostor"
    prodigy = build_wheel(real, "prodigy", "1.15.3", marker="real")
    trf = build_wheel(real, "en_core_web_trf", "3.8.0", marker="real")
    sm = build_wheel(real, "en_core_web_sm", "3.8.0", marker="real")
    index = server.add_index(
        [
            build_wheel(impostor_dir, "prodigy", "1.15.3", marker="impostor"),
            build_wheel(impostor_dir, "en_core_web_sm", "3.8.0", marker="impostor"),
            build_sdist(
                impostor_dir,
                "en_core_web_trf",
                "999.9.9",
                setup_py=f"open({str(canary)!r}, 'w').write('ran')\nraise SystemExit(1)\n",
            ),
        ],
        hashes=index_hashes,
    )
    page = server.add_find_links_page("/prodigy", SECRET, [prodigy, trf])
    sm_url = server.add_release_asset("explosion/spacy-models", "en_core_web_sm-3.8.0", sm)
    project.write("requirements.in", f"en_core_web_sm @ {sm_url}\n")
    project.write(
        "models.txt",
        f"-f {page.replace('http://', 'http://${PRODIGY_KEY}@')}\n"
        "prodigy==1.15.3\nen_core_web_trf>=3.8\n",
    )
    project.env.update(PIP_INDEX_URL=index, PRODIGY_KEY=SECRET)
    project.spy_secret = SECRET

    args = ["sync", "-m", "models.txt", "--python-executable", venv.python]
    run = project.pipmodels(*args, *([] if hashes else ["--no-generate-hashes"]))

    assert not canary.exists(), "the placeholder's setup.py ran"
    for module in ("prodigy", "en_core_web_sm", "en_core_web_trf"):
        assert venv.run(f"import {module}; print({module}.MARKER)") == "real"
    requirements = (project.root / "requirements.txt").read_text()
    for wheel in (prodigy, trf, sm):
        assert requirements.count(f"--hash=sha256:{sha256(wheel)}") == (1 if hashes else 0)
    assert requirements.count("--hash=") == (3 if hashes else 0), "a model pin has another hash"
    assert "en-core-web-trf==3.8.0" in requirements
    warnings = [
        line for line in run.stderr.splitlines() if "also exists on your package index" in line
    ]
    # prodigy comes from its find-links page only: its name is not told to the index.
    assert [w.split()[1] for w in warnings] == ["en-core-web-sm", "en-core-web-trf"]
    assert SECRET not in run.output

    # A second sync, the no-op record aside, reinstalls nothing.
    installed_at = venv.installed_times()
    (tmp_path / "pipmodels-state" / "synced").rename(tmp_path / "old")
    again = project.pipmodels(*args, *([] if hashes else ["--no-generate-hashes"]))
    assert "Everything up-to-date" in again.stderr
    assert venv.installed_times() == installed_at
