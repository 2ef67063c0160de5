"""A first sync compiles while the models download, from their metadata fetched first.

The host answers byte ranges as GitHub's release storage does; each byte is still fetched
once, and requirements.txt holds the archive's own hash. A host without ranges, or one whose
file changes between the two requests, gets what it got before: the compile from the archive.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from pipmodels.cache import Cache
from pipmodels.headstart import HeadStart, archive_metadata, wheel_metadata, write_stub
from pipmodels.http import TAIL_BYTES, Tail, _content_range
from pipmodels.inputs import Model
from pipmodels.reqfile import Line, ReqLine
from tests.builders import build_wheel
from tests.conftest import Project, Venv
from tests.servers import Request, Response, Server, ranged

BIG = 3 * TAIL_BYTES  # a model larger than the tail asked for first


def _tail(path: Path, size: int = TAIL_BYTES) -> Tail:
    data = path.read_bytes()
    start = max(0, len(data) - size)
    return Tail(data[start:], start, len(data))


def test_a_wheels_metadata_is_read_from_its_tail(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "en_demo", "1.0.0", requires=["tinyspacy<3.9"], payload=BIG)

    found = wheel_metadata(_tail(wheel))

    assert found is not None
    assert found[0] == "en_demo-1.0.0.dist-info"
    assert found[1] == archive_metadata(wheel)
    assert b"Requires-Dist: tinyspacy<3.9" in found[1]


def test_a_tail_without_the_central_directory_or_the_metadata_gives_nothing(
    tmp_path: Path,
) -> None:
    wheel = build_wheel(tmp_path, "en_demo", "1.0.0", payload=BIG)
    data = wheel.read_bytes()
    assert wheel_metadata(_tail(wheel, 10)) is None  # the central directory is cut
    assert wheel_metadata(Tail(b"\0" * 4096, len(data) - 4096, len(data))) is None
    # the metadata member is stored before the model's payload: the tail cannot hold it
    early = tmp_path / "early.whl"
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(early, "w") as out:
        names = source.namelist()
        first = [n for n in names if n.endswith("/METADATA")]
        for name in first + [n for n in names if n not in first]:
            out.writestr(name, source.read(name))
    assert wheel_metadata(_tail(early)) is None


def test_a_stub_is_a_wheel_pip_reads(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "en_demo", "1.0.0", requires=["tinyspacy<3.9"])
    metadata = archive_metadata(wheel)
    assert metadata is not None
    stub = write_stub(tmp_path, wheel.name, "en_demo-1.0.0.dist-info", metadata)
    with zipfile.ZipFile(stub) as archive:
        assert sorted(archive.namelist()) == [
            "en_demo-1.0.0.dist-info/METADATA",
            "en_demo-1.0.0.dist-info/RECORD",
            "en_demo-1.0.0.dist-info/WHEEL",
        ]
        assert b"Tag: py3-none-any" in archive.read("en_demo-1.0.0.dist-info/WHEEL")


def test_a_tail_under_a_name_no_wheel_has_starts_nothing(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "en_demo", "1.0.0", payload=BIG)
    started: list[object] = []
    head: HeadStart[None] = HeadStart(tmp_path, lambda stubs, cached: started.append(stubs))
    line = Line(tmp_path / "requirements.in", 1, "en_demo @ https://example.invalid/x.whl")
    model = Model(ReqLine(line, line.text, "", "en-demo", "https://example.invalid/x.whl", "", ""))
    head.expect([model], {})
    for name in ("model.whl", "../en_demo-1.0.0-py3-none-any.whl", "en_demo.tar.gz"):
        head.offer(model, name, _tail(wheel))  # never raises into the download
    assert head.result({}, Cache(tmp_path / "cache")) is None
    assert started == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes 10-19/20", (10, 19, 20)),
        ("bytes 0-0/1", (0, 0, 1)),
        ("bytes 10-19/*", None),
        ("bytes 19-10/20", None),
        ("bytes 10-20/20", None),
        ("bytes=10-19/20", None),
        ("items 10-19/20", None),
        ("bytes 1" + "0" * 30 + "-2/3", None),
    ],
)
def test_content_range_is_read_strictly(header: str, expected: object) -> None:
    assert _content_range({"Content-Range": header}) == expected


def test_the_test_host_cuts_ranges_as_rfc_9110_says() -> None:
    whole = Response(200, b"0123456789", {"ETag": '"a"'})
    assert ranged(whole, {"range": "bytes=-3"}).body == b"789"
    assert ranged(whole, {"range": "bytes=2-4"}).headers["Content-Range"] == "bytes 2-4/10"
    assert ranged(whole, {"range": "bytes=2-4", "if-range": '"b"'}).status == 200
    assert ranged(whole, {"range": "bytes=-30"}).body == whole.body


# -- the whole flow, with real pip-compile and pip-sync ------------------------------------


def _release(server: Server, project: Project, index: str, tmp_path: Path) -> Path:
    model = build_wheel(tmp_path / "d", "en_demo", "1.0.0", requires=["tinyspacy<3.9"], payload=BIG)
    url = server.add_release_asset("acme/models", "v1", model)
    project.write("requirements.in", f"en_demo @ {url}\n")
    project.env["PIP_INDEX_URL"] = index
    return model


def _pinned_hash(project: Project) -> str:
    text = project.root.joinpath("requirements.txt").read_text()
    line = text.split("en-demo==1.0.0", 1)[1].splitlines()[1]
    return line.strip().split("sha256:")[1].split()[0]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["pip-tools", "uv"])
def test_the_first_compile_starts_before_the_model_has_arrived(
    engine: str, server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    model = _release(server, project, index, tmp_path)
    server.throttle = 0.05  # 64 KiB per 50 ms: the download takes half a second

    run = project.pipmodels("sync", "--engine", engine, "--python-executable", venv.python)

    lines = run.stderr.splitlines()
    compiling = next(i for i, line in enumerate(lines) if line.startswith("Compiling"))
    cached = next(i for i, line in enumerate(lines) if "cached en_demo-1.0.0" in line)
    assert compiling < cached, run.stderr
    assert server.bytes_of(model.name) == model.stat().st_size  # each byte once
    assert _pinned_hash(project) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert venv.freeze()["en-demo"] == "1.0.0"
    assert venv.freeze()["tinyspacy"] == "3.8.2"


@pytest.mark.slow
def test_a_host_without_ranges_gets_one_request_and_the_same_lock(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    model = _release(server, project, index, tmp_path)
    server.ranges = False

    run = project.pipmodels("sync", "--python-executable", venv.python)

    blob = next(path for path, name in server.archives.items() if name == model.name)
    assert server.requests[blob] == 1
    assert server.bytes_of(model.name) == model.stat().st_size
    assert _pinned_hash(project) == hashlib.sha256(model.read_bytes()).hexdigest()
    lines = run.stderr.splitlines()
    compiling = next(i for i, line in enumerate(lines) if line.startswith("Compiling"))
    assert "cached en_demo-1.0.0" in "\n".join(lines[:compiling])


@pytest.mark.slow
def test_a_file_that_changes_between_the_two_requests_is_compiled_from_what_arrived(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The tail is of one build, the rest (If-Range: another ETag) is the whole next build: the
    early compile read the first build's dependencies, the lock must have the second's."""
    first = build_wheel(tmp_path / "a", "en_demo", "1.0.0", requires=["tinyspacy<3.9"], payload=BIG)
    second = build_wheel(tmp_path / "b", "en_demo", "1.0.0", requires=["helperlib"], payload=BIG)
    builds = iter([first, second])
    served = {"build": next(builds)}

    def blob(request: Request) -> Response:
        response = Response(
            200, served["build"].read_bytes(), {"ETag": f'"{served["build"].parent.name}"'}
        )
        if "range" in request.headers and request.headers["range"].startswith("bytes=-"):
            response = ranged(response, request.headers)
            served["build"] = next(builds, served["build"])  # published again meanwhile
        return response

    server.ranges = False  # the route answers ranges itself
    server.routes[f"/files/{first.name}"] = blob
    server.archives[f"/files/{first.name}"] = first.name
    project.write("requirements.in", f"en_demo @ {server.url}/files/{first.name}\n")
    project.env["PIP_INDEX_URL"] = index

    project.pipmodels("sync", "--python-executable", venv.python)

    text = project.root.joinpath("requirements.txt").read_text()
    assert "helperlib==1.0.0" in text
    assert "tinyspacy" not in text
    assert _pinned_hash(project) == hashlib.sha256(second.read_bytes()).hexdigest()
    assert "helperlib" in venv.freeze()


def _hostile_host(server: Server, tmp_path: Path) -> Path:
    """A host that sends the tail of a wheel requiring helperlib, and the rest of the real
    wheel (which requires tinyspacy); returns the real wheel."""
    real = build_wheel(tmp_path / "a", "en_demo", "1.0.0", requires=["tinyspacy<3.9"], payload=BIG)
    evil = build_wheel(tmp_path / "b", "en_demo", "1.0.0", requires=["helperlib"], payload=BIG + 7)
    real_bytes, evil_bytes = real.read_bytes(), evil.read_bytes()

    def blob(request: Request) -> Response:
        asked = request.headers.get("range", "")
        if asked.startswith("bytes=-"):
            tail = evil_bytes[-TAIL_BYTES:]
            start = len(real_bytes) - len(tail)
            headers = {"Content-Range": f"bytes {start}-{len(real_bytes) - 1}/{len(real_bytes)}"}
            return Response(206, tail, headers)
        return ranged(Response(200, real_bytes), request.headers)

    server.ranges = False
    server.routes[f"/files/{real.name}"] = blob
    return real


@pytest.mark.slow
def test_a_line_that_pins_a_hash_compiles_nothing_before_the_file_has_it(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """The tail is not covered by the line's hash until the whole file is: an early compile
    would resolve (and could build) what a hostile tail names."""
    real = _hostile_host(server, tmp_path)
    sha256 = hashlib.sha256(real.read_bytes()).hexdigest()
    url = f"{server.url}/files/{real.name}"
    project.write("requirements.in", f"en_demo @ {url} --hash=sha256:{sha256}\n")
    project.env["PIP_INDEX_URL"] = index

    run = project.pipmodels("sync", "--python-executable", venv.python, check=False)

    assert run.returncode == 1
    assert "Compiling" not in run.stderr
    assert not [path for path in server.requests if "helperlib" in path]
    assert not project.root.joinpath("requirements.txt").exists()


@pytest.mark.slow
def test_a_tail_from_another_file_is_refused_and_nothing_is_written(
    server: Server, index: str, project: Project, venv: Venv, tmp_path: Path
) -> None:
    """A hostile host sends the tail of a wheel that requires what it wants installed, and the
    head of the real one: the bytes make no archive, and the early compile is never used."""
    real = _hostile_host(server, tmp_path)
    project.write("requirements.in", f"en_demo @ {server.url}/files/{real.name}\n")
    project.env["PIP_INDEX_URL"] = index

    run = project.pipmodels("sync", "--python-executable", venv.python, check=False)

    assert run.returncode == 1
    assert "Nothing was added to the cache" in run.stderr
    assert not project.root.joinpath("requirements.txt").exists()
    assert not list(project.root.joinpath(".pipmodels-cache").glob("*.whl"))
    assert "helperlib" not in venv.freeze() and "en-demo" not in venv.freeze()
